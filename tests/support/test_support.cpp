// Shared test helpers (see test_support.h).
#include "test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <grp.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

extern char** environ;

#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"

namespace agegate::testing {
namespace fs = std::filesystem;

fs::path faces_dir() { return agegate::default_data_dir(); }
fs::path weights_dir() { return agegate::default_weights_dir(); }

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::pair<std::string, int>> all_labels() {
  static std::vector<std::pair<std::string, int>> rows = [] {
    std::vector<std::pair<std::string, int>> out;
    // Without ../shared every test that needs photos would fail later and
    // confusingly (an empty labels.csv, no photos): stop here, once, saying why.
    if (!fs::is_regular_file(faces_dir() / "labels.csv")) {
      std::fprintf(stderr, "agegate tests: %s not found: put ../shared beside the checkout or set AGEGATE_SHARED_DIR\n",
                   (faces_dir() / "labels.csv").c_str());
      std::abort();
    }
    std::ifstream in(faces_dir() / "labels.csv");
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      auto comma = line.find(',');
      if (comma == std::string::npos) continue;
      out.emplace_back(line.substr(0, comma), std::stoi(line.substr(comma + 1)));
    }
    return out;
  }();
  return rows;
}
}  // namespace

std::pair<fs::path, int> real_photo(int index) {
  auto rows = all_labels();
  if (rows.empty()) throw std::runtime_error("no labels at " + faces_dir().string());
  auto& r = rows.at(static_cast<size_t>(index) % rows.size());
  return {faces_dir() / "final_files" / r.first, r.second};
}

bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1");
}

void note_skip(const std::string& reason) {
  const char* log = std::getenv("AGEGATE_SKIP_LOG");
  if (log == nullptr || *log == '\0') return;
  // One line per skip; O_APPEND keeps lines from parallel test processes whole.
  const std::string line = reason + "\n";
  const int fd = ::open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (::write(fd, line.data(), line.size()) < 0) {
  }
  ::close(fd);
}

fs::path scratch_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "notest";
  fs::path dir = fs::path(AGEGATE_TEST_BINARY_DIR) / "test-scratch" / (test + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

fs::path make_mini_dataset(const std::string& name, int count, bool spread_ages) {
  fs::path dir = scratch_dir(name);
  fs::create_directories(dir / "final_files");
  auto rows = all_labels();
  std::vector<std::pair<std::string, int>> chosen;
  if (spread_ages) {
    // Round-robin over 10-year buckets so tiny sets still span the ages.
    std::map<int, std::vector<std::pair<std::string, int>>> buckets;
    for (auto& r : rows) buckets[std::min(r.second / 10, 8)].push_back(r);
    size_t i = 0;
    while (static_cast<int>(chosen.size()) < count) {
      bool any = false;
      for (auto& [b, v] : buckets) {
        if (i < v.size() && static_cast<int>(chosen.size()) < count) {
          chosen.push_back(v[i]);
          any = true;
        }
      }
      if (!any) break;
      ++i;
    }
  } else {
    chosen.assign(rows.begin(), rows.begin() + std::min<size_t>(count, rows.size()));
  }
  std::ofstream csv(dir / "labels.csv");
  csv << "file_name,real_age\n";
  for (auto& [file, age] : chosen) {
    fs::copy_file(faces_dir() / "final_files" / file, dir / "final_files" / file);
    csv << file << "," << age << "\n";
  }
  // The chosen photos' rows of demographics.csv, as in the real layout.
  std::ifstream demographics(faces_dir() / "demographics.csv");
  if (demographics) {
    std::set<std::string> names;
    for (auto& [file, age] : chosen) names.insert(file);
    std::ofstream out(dir / "demographics.csv");
    std::string line;
    std::getline(demographics, line);
    out << line << "\n";
    while (std::getline(demographics, line)) {
      if (names.count(line.substr(0, line.find(',')))) out << line << "\n";
    }
  }
  return dir;
}

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error(std::string("no free port on 127.0.0.1: ") + std::strerror(errno));
  return ntohs(a.sin_port);
}

bool enter_private_network() {
  if (::unshare(CLONE_NEWNET) != 0) return false;
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  bool up = ::ioctl(fd, SIOCGIFFLAGS, &req) == 0;
  req.ifr_flags = static_cast<short>(req.ifr_flags | IFF_UP);
  up = up && ::ioctl(fd, SIOCSIFFLAGS, &req) == 0;
  ::close(fd);
  return up;
}

CommandResult run_agegate(const std::string& args, const std::string& shell_prefix) {
  fs::path tmp = scratch_dir("cmd");
  std::string cmd = shell_prefix + "'" + AGEGATE_TEST_AGEGATE_EXE + "' " + args + " >'" +
                    (tmp / "out").string() + "' 2>'" + (tmp / "err").string() + "'";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

AgegateProcess::AgegateProcess(const std::vector<std::string>& args, const fs::path& cwd,
                               const std::vector<std::string>& env, int run_as_uid, const fs::path& program) {
  fs::path logs = scratch_dir("process");
  out_ = logs / "stdout";
  err_ = logs / "stderr";
  // Everything the child needs is built before fork(): after it, only exec.
  std::vector<std::string> argv_s = {program.empty() ? std::string(AGEGATE_TEST_AGEGATE_EXE) : program.string()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('='));
    bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& x) { return x.rfind(name + "=", 0) == 0; });
    if (!replaced) env_s.push_back(kv);
  }
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int out_fd = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err_fd = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0 || err_fd < 0) throw std::runtime_error("cannot create " + logs.string());
  const std::string dir = cwd.string();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    if (run_as_uid >= 0) {
      const auto id = static_cast<uid_t>(run_as_uid);
      if (setgroups(0, nullptr) != 0 || setgid(id) != 0 || setuid(id) != 0) _exit(125);
    }
    if (chdir(dir.c_str()) != 0) _exit(126);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(out_fd);
  ::close(err_fd);
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
}

AgegateProcess::~AgegateProcess() {
  if (status_ == -2 && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

std::string AgegateProcess::wait_for_stderr(const std::string& needle, double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::string text;
  while (std::chrono::steady_clock::now() < end) {
    text = slurp(err_);
    if (text.find(needle) != std::string::npos) return text;
    if (wait(0) != -2) return slurp(err_);  // exited
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return text;
}

void AgegateProcess::signal(int sig) {
  if (status_ == -2) kill(pid_, sig);
}

int AgegateProcess::wait(double timeout_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int raw = 0;
  while (status_ == -2) {
    if (waitpid(pid_, &raw, WNOHANG) == pid_) {
      status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
      signal_ = WIFSIGNALED(raw) ? WTERMSIG(raw) : 0;
      break;
    }
    if (std::chrono::steady_clock::now() >= end) return -2;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

std::string AgegateProcess::out() const { return slurp(out_); }
std::string AgegateProcess::err() const { return slurp(err_); }

AgeDistribution point_mass(int age, int num_ages) {
  AgeDistribution d;
  d.probs.assign(static_cast<size_t>(num_ages), 0.0);
  d.probs.at(static_cast<size_t>(age)) = 1.0;
  return d;
}

int serve_port_from_log(const std::string& log) {
  for (const std::string marker : {"serving on http://127.0.0.1:", "serving on https://127.0.0.1:"}) {
    const auto at = log.find(marker);
    if (at != std::string::npos) return std::atoi(log.c_str() + at + marker.size());
  }
  return -1;
}

std::string chromium_program() {
  for (auto p : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (fs::exists(p)) return p;
  }
  return "";
}

std::string run_chromium(const fs::path& page, const std::string& action, const fs::path& scratch, int width) {
  fs::path profile = scratch / "profile";
  fs::remove_all(profile);
  fs::create_directories(profile);
  std::string cmd = chromium_program() +
                    " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                    " --disable-background-networking --disable-component-update --disable-sync"
                    " --virtual-time-budget=5000 --user-data-dir='" + profile.string() + "' " + action +
                    " --window-size=" + std::to_string(width) + ",4000 'file://" + fs::absolute(page).string() +
                    "' >'" + (scratch / "chromium.out").string() + "' 2>'" + (scratch / "chromium.err").string() + "'";
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << read_file(scratch / "chromium.err");
  return read_file(scratch / "chromium.out");
}

}  // namespace agegate::testing
