// core: atomic writes, interrupt handling, number formatting, age bands.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agegate/core/age_band.h"
#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/text.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

size_t files_in(const fs::path& dir) {
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(AtomicWrite, ReplacesWholeFilesAndLeavesNoTemporary) {
  fs::path dir = testing::scratch_dir("atomic");
  write_file_atomic(dir / "sub" / "a.txt", "first");
  EXPECT_EQ(read_file(dir / "sub" / "a.txt"), "first");
  write_file_atomic(dir / "sub" / "a.txt", "second, longer");
  EXPECT_EQ(read_file(dir / "sub" / "a.txt"), "second, longer");
  EXPECT_EQ(files_in(dir / "sub"), 1u);  // no .tmp left behind
}

TEST(AtomicWrite, AFailedWriteNamesThePathAndKeepsWhatWasThere) {
  fs::path dir = testing::scratch_dir("atomic-fail");
  write_file_atomic(dir / "keep.txt", "kept");
  std::ofstream(dir / "blocker") << "a file where a folder should be";
  try {
    write_file_atomic(dir / "blocker" / "x.txt", "data");
    FAIL() << "write under a file succeeded";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("blocker"), std::string::npos) << e.what();
  }
  // A target that is a folder: the rename fails, the folder and other files stay.
  fs::create_directories(dir / "target");
  EXPECT_THROW(write_file_atomic(dir / "target", "data"), IoError);
  EXPECT_TRUE(fs::is_directory(dir / "target"));
  EXPECT_EQ(read_file(dir / "keep.txt"), "kept");
  EXPECT_EQ(files_in(dir), 3u);  // keep.txt, blocker, target: no temporary left
  EXPECT_THROW(read_file(dir / "missing.txt"), IoError);
}

// A writer SIGKILLed at random moments while it replaces a 4 MB file over
// and over: the file is always one whole version, never a mixture or a
// prefix; the temporaries it leaves are removed by remove_stale_temporaries,
// which touches nothing else.
TEST(AtomicWrite, AWriterKilledAtAnyMomentLeavesAWholeFile) {
  fs::path dir = testing::scratch_dir("atomic-kill");
  const fs::path target = dir / "checkpoint.pt";
  constexpr size_t kBytes = size_t(4) << 20;
  write_file_atomic(target, std::string(kBytes, 'a'));
  std::mt19937 rng(11);
  for (int round = 0; round < 12; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int i = 0;; ++i) write_file_atomic(target, std::string(kBytes, i % 2 ? 'a' : 'b'));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 40000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const std::string got = read_file(target);
    ASSERT_EQ(got.size(), kBytes) << "round " << round;
    EXPECT_TRUE(got.find_first_not_of(got[0]) == std::string::npos && (got[0] == 'a' || got[0] == 'b'))
        << "round " << round << ": a mixed file";
  }
  write_file_atomic(dir / "notes.tmp", "not ours");
  write_file_atomic(dir / "x.tmp12-ab", "not ours either");
  const int removed = remove_stale_temporaries(dir);
  std::printf("%d temporaries left by the killed writers were removed\n", removed);
  EXPECT_TRUE(fs::exists(target));
  EXPECT_TRUE(fs::exists(dir / "notes.tmp"));
  EXPECT_TRUE(fs::exists(dir / "x.tmp12-ab"));
  EXPECT_EQ(files_in(dir), 3u);
}

// A file size limit (a full disk as the process sees it): the error names
// the destination and the reason, and the old file is intact.
TEST(AtomicWrite, AFullDiskNamesThePathAndKeepsTheOldFile) {
  fs::path dir = testing::scratch_dir("atomic-full");
  write_file_atomic(dir / "model.agm", "old model");
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{64 * 1024, 64 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      write_file_atomic(dir / "model.agm", std::string(1 << 20, 'x'));
      std::_Exit(10);
    } catch (const IoError& e) {
      const std::string msg = e.what();
      const bool names = msg.find((dir / "model.agm").string() + ": File too large") != std::string::npos;
      std::_Exit(names ? 0 : 11);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: the write succeeded, 11: the message did not name path and reason";
  EXPECT_EQ(read_file(dir / "model.agm"), "old model");
  EXPECT_EQ(files_in(dir), 1u);
}

TEST(Interrupt, SigintAndSigtermRaiseTheFlagUntilCleared) {
  install_interrupt_handler();
  clear_interrupt();
  EXPECT_FALSE(interrupted());
  std::raise(SIGTERM);
  EXPECT_TRUE(interrupted());
  clear_interrupt();
  EXPECT_FALSE(interrupted());
  std::raise(SIGINT);  // first Ctrl-C: flag only, the process lives on
  EXPECT_TRUE(interrupted());
  clear_interrupt();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

TEST(Interrupt, ASecondCtrlCKills) {
  EXPECT_EXIT(
      {
        install_interrupt_handler();
        std::raise(SIGINT);
        std::raise(SIGINT);
        std::exit(0);
      },
      ::testing::KilledBySignal(SIGINT), "");
}

TEST(Format, NumbersPercentagesAndMissingValues) {
  EXPECT_EQ(format_number("%.2f", 4.871), "4.87");
  EXPECT_EQ(format_number("%.2f", std::nan("")), "-");
  EXPECT_EQ(format_percent(0.0099), "1.0%");
  EXPECT_EQ(format_percent(0.0099, 2), "0.99%");
  EXPECT_EQ(format_percent(std::nan("")), "-");
  EXPECT_EQ(format_percent_of(1, 101, 2), "0.99%");
  EXPECT_EQ(format_percent_of(3, 0), "-");
  EXPECT_EQ(to_lower("PHOTO.JPG\xC3\x89"), "photo.jpg\xC3\x89");  // UTF-8 bytes untouched
  EXPECT_EQ(trim(" \t a b \r\n"), "a b");  // a server's message ends with a newline
  EXPECT_EQ(trim("\n\n"), "");
}

TEST(AgeBands, ReportBandsCoverEveryAgeOnce) {
  const auto& bands = report_age_bands();
  for (int age = kMinAge; age <= kMaxAge; ++age) {
    int hits = 0;
    for (const auto& b : bands) hits += b.contains(age);
    EXPECT_EQ(hits, 1) << age;
  }
  EXPECT_EQ(bands[find_band(bands, 17)].name, "13-17");
  EXPECT_EQ(find_band(bands, -1), -1);
}

}  // namespace
}  // namespace agegate
