// Shared test helpers: where the real photos are, scratch folders, and tiny
// datasets in the study's layout made from a few real photos.
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "agegate/policy/age_distribution.h"

namespace agegate::testing {

// True under CI (the environment variable CI is "true" or "1"; .ci/run sets it).
bool in_ci();
// Appends `reason` to $AGEGATE_SKIP_LOG when set (scripts/test.sh counts the
// skips by reason from it).
void note_skip(const std::string& reason);

// A test that cannot run here (no PostgreSQL cluster, no Chromium, not
// root): skipped in the local loop, where scripts/test.sh counts it by
// reason; a failure under CI, where everything must run.
#define AGEGATE_REQUIRE(condition, reason)                                             \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      const std::string agegate_require_reason_ = (reason);                            \
      if (::agegate::testing::in_ci()) FAIL() << "CI must run this test: " << agegate_require_reason_; \
      ::agegate::testing::note_skip(agegate_require_reason_);                          \
      GTEST_SKIP() << agegate_require_reason_;                                         \
    }                                                                                  \
  } while (0)

// All probability on one age, over ages 0..num_ages-1 (the network's 101 by default).
AgeDistribution point_mass(int age, int num_ages = 101);

// ../shared/data/faces (or $AGEGATE_SHARED_DIR/data/faces).
std::filesystem::path faces_dir();
std::filesystem::path weights_dir();
// A real photo from faces/ by index in labels.csv order, with its age.
std::pair<std::filesystem::path, int> real_photo(int index);

// A fresh empty folder under the build tree, unique per test.
std::filesystem::path scratch_dir(const std::string& name);

// Makes DIR/labels.csv + DIR/final_files/ with the first `count` photos of
// faces/ whose labels satisfy nothing special (copied, not linked), and
// DIR/demographics.csv with their rows when faces/ has one.
// Returns DIR. Photos are taken spread over the age range when `spread_ages`.
std::filesystem::path make_mini_dataset(const std::string& name, int count, bool spread_ages = true);

// The built `agegate` program and a helper to run it: returns exit code,
// captures stdout and stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// `shell_prefix` goes before the program in the sh command line, e.g.
// "ulimit -f 256; exec " or "exec setpriv --reuid=65534 ... ".
CommandResult run_agegate(const std::string& args, const std::string& shell_prefix = "");

// Headless Chromium for the report tests: its program ("" when not
// installed), and one run on `page` with `action` (--screenshot=..., or
// --dump-dom for the page after its scripts ran) in a window `width` px
// wide; returns stdout.
std::string chromium_program();
std::string run_chromium(const std::filesystem::path& page, const std::string& action,
                         const std::filesystem::path& scratch, int width = 1280);

// A TCP port on 127.0.0.1 that nobody listens on at the moment (the
// kernel's pick for port 0; another process may take it before the caller does).
int free_loopback_port();

// Moves this test process, and the children it starts afterwards, into a
// network namespace of its own whose one interface is the loopback (up):
// what it listens on, even on every address (c10d's TCPStore does), can be
// reached from nowhere else. Needs root (CAP_SYS_ADMIN); false otherwise.
bool enter_private_network();

// The port `agegate serve --port 0` logged ("serving on http[s]://127.0.0.1:PORT"), or -1.
int serve_port_from_log(const std::string& log);

// The built `agegate` started as a child process, for tests that signal it
// or talk to it while it runs. stdout and stderr go to files; `env` entries
// ("NAME=value") are added to (or replace those in) the test's environment.
// The destructor kills a child still running.
class AgegateProcess {
 public:
  // `run_as_uid` >= 0 (needs root): the child drops to that user and group
  // id, with no supplementary groups, before it runs agegate.
  // `program`: another copy of agegate to run (default: the built one).
  AgegateProcess(const std::vector<std::string>& args, const std::filesystem::path& cwd,
                 const std::vector<std::string>& env = {}, int run_as_uid = -1,
                 const std::filesystem::path& program = {});
  ~AgegateProcess();
  AgegateProcess(const AgegateProcess&) = delete;
  AgegateProcess& operator=(const AgegateProcess&) = delete;

  // Waits until stderr contains `needle` (or the child exits or `timeout_s`
  // passes); returns stderr so far.
  std::string wait_for_stderr(const std::string& needle, double timeout_s = 60);
  void signal(int sig);
  // Exit status, or -1 (killed by a signal) / -2 (still running after timeout_s).
  int wait(double timeout_s = 60);
  // The signal that ended the child (SIGKILL, SIGSEGV, SIGABRT...), 0 when it exited or still runs.
  int killed_by() const { return signal_; }
  std::string out() const;
  std::string err() const;
  std::filesystem::path stderr_file() const { return err_; }

 private:
  int pid_ = -1;
  int status_ = -2;
  int signal_ = 0;
  std::filesystem::path out_, err_;
};

}  // namespace agegate::testing
