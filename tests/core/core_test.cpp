// core: atomic writes, interrupt handling, number formatting, age bands.
#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

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
