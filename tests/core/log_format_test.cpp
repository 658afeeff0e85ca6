// Log lines in the plain, journal and JSON formats (core/log_format.h).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/core/log_format.h"

namespace agegate {
namespace {
using json = nlohmann::json;

// Lines the logger wrote to stderr while `f` ran, in `format`.
std::vector<std::string> logged(LogFormat format, bool journal, const std::function<void()>& f) {
  set_log_format(format, journal);
  ::testing::internal::CaptureStderr();
  f();
  log().flush();
  const std::string text = ::testing::internal::GetCapturedStderr();
  set_log_format(LogFormat::kPlain, false);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(LogFormat, JsonIsOneObjectPerLineWithTimeLevelEventAndFields) {
  const auto lines = logged(LogFormat::kJson, false, [] {
    log_event(spdlog::level::info, "estimate", {{"width", 200}, {"faces", 1}, {"level", "not this"}},
              "estimate: 200x200, 1 face(s)");
    log().warn("plain text with \"quotes\" and a\nnewline");
    log().error("bytes that are not UTF-8: \xff\xfe");
  });
  ASSERT_EQ(lines.size(), 3u);
  const json a = json::parse(lines[0]);
  EXPECT_TRUE(std::regex_match(a["time"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
      << a["time"];
  EXPECT_EQ(a["level"], "info");  // a field cannot overwrite the line's own keys
  EXPECT_EQ(a["event"], "estimate");
  EXPECT_EQ(a["message"], "estimate: 200x200, 1 face(s)");
  EXPECT_EQ(a["width"], 200);
  EXPECT_EQ(a["faces"], 1);
  const json b = json::parse(lines[1]);
  EXPECT_EQ(b["level"], "warning");
  EXPECT_EQ(b["event"], "message");
  EXPECT_EQ(b["message"], "plain text with \"quotes\" and a\nnewline");
  const json c = json::parse(lines[2]);  // replaced, not thrown, not raw
  EXPECT_EQ(c["level"], "error");
  EXPECT_NE(c["message"].get<std::string>().find("\xEF\xBF\xBD"), std::string::npos);
}

TEST(LogFormat, PlainLinesCarryTimeAndLevelAndTheJournalGetsPriorities) {
  const auto plain = logged(LogFormat::kPlain, false, [] {
    log_event(spdlog::level::info, "estimate", {{"width", 200}}, "estimate: 200x200");
  });
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_TRUE(std::regex_match(plain[0], std::regex(R"(\[\d\d:\d\d:\d\d\.\d{3} info\] estimate: 200x200)"))) << plain[0];
  const auto journal = logged(LogFormat::kPlain, true, [] {
    log().info("serving");
    log().warn("slow");
    log().error("broken");
  });
  ASSERT_EQ(journal.size(), 3u);
  EXPECT_EQ(journal[0], "<6>serving");  // journald stamps the time itself
  EXPECT_EQ(journal[1], "<4>slow");
  EXPECT_EQ(journal[2], "<3>broken");
}

TEST(LogFormat, TheJournalIsRecognisedOnlyWhenJournalStreamNamesStderr) {
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(stderr_is_journal());
  // Inherited by a child whose stderr went elsewhere: not the journal.
  ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), 1);
  EXPECT_FALSE(stderr_is_journal());
  ::setenv("JOURNAL_STREAM", "garbage", 1);
  EXPECT_FALSE(stderr_is_journal());
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(stderr_is_journal());
}

TEST(LogFormat, NamesParseAndUnknownOnesAreRefused) {
  EXPECT_EQ(parse_log_format("json"), LogFormat::kJson);
  EXPECT_EQ(parse_log_format("plain"), LogFormat::kPlain);
  EXPECT_STREQ(to_string(LogFormat::kJson), "json");
  EXPECT_THROW(parse_log_format("xml"), InvalidInput);
}

}  // namespace
}  // namespace agegate
