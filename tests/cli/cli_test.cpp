// The agegate command as a user runs it: every flag the README, the pages of
// docs/ and the model card name exists (read from --help), --policy FILE against flags, and a
// missing ../shared gives one clear message.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "agegate/core/fs.h"
#include "agegate/data/image.h"
#include "camera_images.h"
#include "test_support.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;
using testing::run_agegate;

const std::set<std::string> kCommands = {"train", "evaluate", "predict", "eda", "report", "serve"};

// command -> flags written after "agegate <command>" in a document.
std::map<std::string, std::set<std::string>> flags_named_in(const fs::path& doc) {
  std::map<std::string, std::set<std::string>> out;
  std::istringstream in(read_file(doc));
  std::string line;
  const std::regex command(
      R"(agegate (train|evaluate|predict|eda|report|serve|calibrate|export|audit|import-sales|import-retail|insights|recommend|replay-day|db prune|db migrate|db info)\b([^`|]*))");
  const std::regex flag(R"((--[a-z][a-z0-9-]*))");
  while (std::getline(in, line)) {
    for (std::sregex_iterator c(line.begin(), line.end(), command), end; c != end; ++c) {
      const std::string rest = (*c)[2];
      for (std::sregex_iterator f(rest.begin(), rest.end(), flag); f != end; ++f) out[(*c)[1]].insert((*f)[1]);
    }
  }
  return out;
}

TEST(Cli, EveryFlagTheReadmeDocsAndModelCardNameExists) {
  const fs::path root = fs::path(AGEGATE_TEST_SOURCE_DIR);
  int checked = 0;
  std::vector<fs::path> docs = {root / "README.md", root / "models" / "MODEL_CARD.md"};
  for (const auto& e : fs::directory_iterator(root / "docs")) {
    if (e.path().extension() == ".md") docs.push_back(e.path());
  }
  ASSERT_GE(docs.size(), 9u) << "README, the model card and the docs/ pages";
  for (const fs::path& doc : docs) {
    for (const auto& [cmd, flags] : flags_named_in(doc)) {
      auto help = run_agegate(cmd + " --help");
      ASSERT_EQ(help.exit_code, 0) << cmd << ": " << help.err;
      for (const auto& f : flags) {
        EXPECT_NE(help.out.find(f), std::string::npos) << doc.filename() << " names `agegate " << cmd << " " << f
                                                       << "`, which --help does not list";
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 60);  // the documents do name flags; an empty scan would prove nothing
  // The policy flags docs/commands.md lists for evaluate, predict and serve.
  for (const std::string cmd : {"evaluate", "predict", "serve"}) {
    auto help = run_agegate(cmd + " --help");
    for (const char* f : {"--policy", "--legal-age", "--challenge-age", "--max-risk", "--level"}) {
      EXPECT_NE(help.out.find(f), std::string::npos) << cmd << " " << f;
    }
  }
}

// The model card's table by group is what `evaluate --split model --part test`
// prints for the shipped model today (its held-out part: a cross-fitted model
// has no validation part, its choices were made out of fold): every table
// line of the output is in the card, so a retrained model with a stale card
// fails here.
TEST(Cli, ModelCardCarriesTheShippedModelsHeldOutFiguresByGroup) {
  const fs::path root = fs::path(AGEGATE_TEST_SOURCE_DIR);
  auto e = run_agegate("-q evaluate --split model --part test --model " + (root / "models" / "agegate.agm").string());
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const std::string card = read_file(root / "models" / "MODEL_CARD.md");
  const size_t from = e.out.find("By ethnicity");
  ASSERT_NE(from, std::string::npos) << e.out;
  std::istringstream in(e.out.substr(from));
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    if (line.rfind("| ", 0) != 0 && line.rfind("By ", 0) != 0) continue;
    EXPECT_NE(card.find(line), std::string::npos) << "MODEL_CARD.md lacks: " << line;
    ++lines;
  }
  EXPECT_GE(lines, 20);  // two columns: title, header, 2-5 groups and a gap row, band table each
}

// Tiny, long thin and EXIF-turned photos: one line each, never a library's
// assertion text, exit 0 (no face is an answer, not a failure).
TEST(Cli, PredictAnswersTinyAndTurnedPhotosInOneLineEach) {
  auto dir = testing::scratch_dir("predict-odd");
  const std::vector<std::pair<std::string, std::pair<int, int>>> tiny = {
      {"one.png", {1, 1}}, {"thumb16.png", {16, 16}}, {"wire.png", {1000, 1}}, {"pole.png", {1, 1000}}};
  std::string args;
  for (const auto& [name, wh] : tiny) {
    write_image(dir / name, testing::test_pattern(wh.first, wh.second));
    args += " " + (dir / name).string();
  }
  const Image face = read_image(testing::real_photo(3).first);
  auto turned = testing::jpeg_with_orientation(testing::stored_for_orientation(face, 6), 6);
  write_file_atomic(dir / "turned.jpg", std::string(turned.begin(), turned.end()));
  auto r = run_agegate("-q predict" + args + " " + (dir / "turned.jpg").string());
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find("OpenCV"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("ERROR"), std::string::npos) << r.err;
  for (const auto& [name, wh] : tiny) {
    const size_t at = r.out.find(name);
    ASSERT_NE(at, std::string::npos) << r.out;
    const std::string line = r.out.substr(at, r.out.find('\n', at) - at);
    EXPECT_NE(line.find("too small to hold a face"), std::string::npos) << line;
  }
  const size_t at = r.out.find("turned.jpg");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(r.out.substr(at, r.out.find('\n', at) - at).find("no face"), std::string::npos) << r.out;
}

TEST(Cli, FlagsWinOverThePolicyFile) {
  fs::path dir = testing::scratch_dir("policy");
  write_file_atomic(dir / "p.json", R"({"legal_age": 20, "challenge_age": 30, "max_risk": 0.05})");
  const std::string photo = testing::real_photo(0).first.string();
  auto r = run_agegate("-q predict --detect off --json --policy " + (dir / "p.json").string() +
                       " --challenge-age 21 " + photo);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto policy = nlohmann::json::parse(r.out)["policy"];
  EXPECT_EQ(policy["challenge_age"].get<int>(), 21);  // the flag
  EXPECT_EQ(policy["legal_age"].get<int>(), 20);      // the file
  EXPECT_DOUBLE_EQ(policy["max_risk"].get<double>(), 0.05);
  auto file_only = run_agegate("-q predict --detect off --json --policy " + (dir / "p.json").string() + " " + photo);
  ASSERT_EQ(file_only.exit_code, 0) << file_only.err;
  EXPECT_EQ(nlohmann::json::parse(file_only.out)["policy"]["challenge_age"].get<int>(), 30);
}

TEST(Cli, AMissingSharedFolderGivesOneClearMessage) {
  const char* old = std::getenv("AGEGATE_SHARED_DIR");
  const std::string saved = old ? old : "";
  setenv("AGEGATE_SHARED_DIR", "/nonexistent-agegate-shared", 1);
  auto r = run_agegate("eda --out " + testing::scratch_dir("eda").string());
  old ? setenv("AGEGATE_SHARED_DIR", saved.c_str(), 1) : unsetenv("AGEGATE_SHARED_DIR");
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("/nonexistent-agegate-shared/data/faces: data folder not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("AGEGATE_SHARED_DIR"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;  // one line, not a cascade
}

}  // namespace
}  // namespace agegate
