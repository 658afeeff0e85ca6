// The training record: what a model file and its run folder's run.json say
// about how the model was made (data, split, options, seed, revision), what
// it measured (figures by part, figures by group), and what was fitted
// (calibration, recommended policy). One typed struct, written by the
// trainer, the cross-fit and `calibrate`, read by evaluate, audit, serve,
// predict, the ONNX export and the reports.
//
// JSON: the model file's header key "metadata" holds to_json(); run.json
// holds it too, beside the run's own facts (speed, device). from_json checks
// every key it knows for its type and throws InvalidInput naming the key
// ("data.fingerprint: expected a string, got number"); keys it does not know
// (a newer agegate's) are kept and written back unchanged. Files written
// before this struct hold a subset of these keys and read as such: what is
// absent stays empty (see each field).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agegate/data/split.h"

namespace agegate {

// The data a model was trained on.
struct DataRecord {
  std::string dir;          // the data folder as given to train
  std::string fingerprint;  // data_fingerprint of train, val and test in that order; empty if unknown
  std::optional<int64_t> train_count, val_count, test_count;
  // Photo names by part ("train", "val", "test"), in the order the trainer
  // used them; empty in files written before splits were recorded.
  SplitNames split;
};

// How the split was drawn when no names were recorded: the trainer's
// options, with the trainer's defaults (data/split.h) where absent.
struct SplitParams {
  double val_fraction = kDefaultValFraction;
  double test_fraction = kDefaultTestFraction;
  uint64_t seed = kDefaultSplitSeed;
  int max_photos = 0;  // 0: every photo
};

struct TrainingFacts {
  // The trainer's options as it wrote them (TrainOptions::to_json, which the
  // train component owns); read here only for the split parameters.
  nlohmann::json options = nlohmann::json::object();
  uint64_t seed = kDefaultSplitSeed;
  std::string git;  // the source revision that trained it
  std::optional<int> best_epoch, epochs_run;
  SplitParams split_params() const;  // InvalidInput naming the option when one has the wrong type
};

// Figures by part: each the evaluation's figures object (eval/evaluate.h
// Figures::to_json), absent when that part was not measured.
enum class RecordPart { kValidation, kTest, kOutOfFold };
struct PartFigures {
  std::optional<nlohmann::json> validation, test, out_of_fold;
  std::optional<nlohmann::json>& operator[](RecordPart part);
  const std::optional<nlohmann::json>& operator[](RecordPart part) const;
};
const char* to_string(RecordPart part);  // "validation", "test", "out_of_fold"

struct TrainingRecord {
  std::string created;  // UTC time the file was written; empty if unknown
  std::string version;  // agegate's version that wrote it; empty if unknown
  DataRecord data;
  std::optional<TrainingFacts> training;  // absent in files no trainer wrote
  PartFigures metrics;
  PartFigures groups;  // figures by sex and ethnicity (eval/groups.h GroupFigures::to_json) by part
  // The calibration report (eval/calibration.h) and the policy retuned for
  // the inference variant in force; null when none. select_flip_average
  // (model_file.h) swaps them with the variant.
  nlohmann::json calibration;
  nlohmann::json recommended_policy;
  // Facts a step adds when it ran, null when it did not: the pretrained
  // weights' import, the flip-averaging choice, the cross-fit (folds,
  // members), a recalibration.
  nlohmann::json pretrained_import, flip_average_choice, cross_fit, recalibrated;
  nlohmann::json unknown = nlohmann::json::object();  // keys of a newer agegate, kept as read

  nlohmann::json to_json() const;
  // InvalidInput naming `where` and the key for a key of the wrong type.
  static TrainingRecord from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace agegate
