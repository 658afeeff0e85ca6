// gnuplot as a subprocess: script + data files in, PNG and SVG out (see chart.h).
#include "agegate/report/chart.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"

extern char** environ;

namespace agegate {
namespace fs = std::filesystem;

namespace {
// Enough of gnuplot's complaint to tell what went wrong.
constexpr size_t kMaxQuotedStderr = 2000;

std::string terminal_setup(const std::string& terminal, const std::string& output,
                           const ChartOptions& o) {
  return "set terminal " + terminal + " size " + std::to_string(o.width) + "," +
         std::to_string(o.height) + " font " + gnuplot_quote(o.font) + "\nset output " +
         gnuplot_quote(output) + "\n";
}

// Runs `program script` in `dir` with stdout/stderr into `log`; returns the
// wait status, or throws IoError when the program cannot be started.
int run_in_dir(const std::string& program, const std::string& script, const fs::path& rel_dir,
               const fs::path& rel_log) {
  // The child changes folder before it opens the log, so relative paths
  // (a run folder given as runs/x) must be made absolute first.
  const fs::path dir = fs::absolute(rel_dir);
  const fs::path log = fs::absolute(rel_log);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir.c_str());
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> argv{const_cast<char*>(program.c_str()), const_cast<char*>(script.c_str()),
                          nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw IoError("cannot run gnuplot ('" + program + "'): " + std::strerror(rc) +
                  "; install gnuplot (Debian package gnuplot-nox) to draw the report's charts");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw IoError(std::string("waiting for gnuplot: ") + std::strerror(errno));
  }
  return status;
}
}  // namespace

std::string gnuplot_quote(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += "''";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out + "'";
}

std::string gnuplot_data_label(std::string_view text) {
  std::string out = "\"";
  for (char c : text) out += (c == '"' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  return out + "\"";
}

std::string gnuplot_value(double v) { return std::isfinite(v) ? format_number("%.6g", v) : "?"; }

void draw_chart(const fs::path& dir, const std::string& name, const std::string& script_body,
                const ChartOptions& options) {
  const std::string png = name + ".png";
  const std::string svg = name + ".svg";
  std::string script = "# " + name + ": drawn by agegate; run `gnuplot " + name +
                       ".gp` in this folder to redraw.\n";
  script += terminal_setup("pngcairo enhanced", png, options) + script_body + "\nunset output\n";
  if (options.svg) {
    script += "reset\n" + terminal_setup("svg enhanced", svg, options) + script_body +
              "\nunset output\n";
  }
  const fs::path script_path = dir / (name + ".gp");
  write_file_atomic(script_path, script);
  const fs::path log = dir / (name + ".gnuplot.log");
  std::error_code ec;
  fs::remove(dir / png, ec);
  int status = run_in_dir(options.gnuplot, name + ".gp", dir, log);
  std::string complaint;
  try {
    complaint = read_file(log, kMaxQuotedStderr * 4);
  } catch (const IoError&) {
  }
  fs::remove(log, ec);
  if (complaint.size() > kMaxQuotedStderr) complaint.resize(kMaxQuotedStderr);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
      throw IoError("cannot run gnuplot ('" + options.gnuplot +
                    "'): not found; install gnuplot (Debian package gnuplot-nox)");
    }
    throw IoError("gnuplot failed on " + script_path.string() + ": " + complaint);
  }
  if (!fs::exists(dir / png) || fs::file_size(dir / png, ec) == 0) {
    throw IoError("gnuplot wrote no " + (dir / png).string() + ": " + complaint);
  }
}

}  // namespace agegate
