// Evaluation of a model on a labelled folder in the study's layout: the
// library half of `agegate evaluate` (the command prints, the report draws,
// the JSON serialises what this returns).
//
//   EvaluateOptions o;  o.data_dir = "faces";  o.split = "runs/a/split.csv";  // its test part
//   EvaluationResult r = evaluate(o);          // loads the model, runs every photo
//   std::puts(r.format_tables().c_str());       // MAE, bands, coverage, decision rates, curves
//   r.to_json();                                // the keys of `agegate evaluate --json`
//
// measure() is the shared part: figures and curves from predictions, used
// by evaluate() and by the trainer for its validation figures.
// Throws InvalidInput (bad labels, no readable photo, bad policy), IoError
// (missing labels, split or photo folder), ModelError (bad model file).
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agegate/data/split.h"
#include "agegate/eval/calibration.h"
#include "agegate/eval/groups.h"
#include "agegate/eval/metrics.h"
#include "agegate/model/model_file.h"
#include "agegate/policy/policy.h"

namespace agegate {

// Summary and both decision curves of one set of predictions.
struct Figures {
  EvalSummary summary;
  std::vector<PolicyRates> policy_curve;  // rates by challenge age
  std::vector<PolicyRates> risk_curve;    // rates by maximum risk at the challenge age
  // The policy retuned on these predictions (13-17 passing <= 1%, fewest 25+
  // asked) and its frontier by challenge age: the trade-off curve.
  PolicyTuning tuning;
  nlohmann::json to_json() const;         // summary keys + "policy_curve" + "risk_curve" + "policy_tuning"
};
Figures measure(const std::vector<Prediction>& predictions, const Policy& policy);

// The split a model was trained with, drawn again from `rows` (labels.csv's
// usable rows) with the seed, fractions and photo limit its metadata records.
// `same_data` tells whether the rows are the data it was trained on (the
// recorded fingerprint matches); when not, the parts are not its own.
struct ModelSplit {
  Split split;
  bool same_data = false;
};
ModelSplit model_split(const ModelInfo& info, std::vector<LabelRow> rows);

// `--split model`: the model's own split (model_split) instead of a file.
inline constexpr const char* kModelSplit = "model";

struct EvaluateOptions {
  std::filesystem::path model;     // empty: default_model_path()
  std::filesystem::path data_dir;  // empty: default_data_dir()
  std::filesystem::path split;     // a run's split.csv, or "model": evaluate only one part of it
  std::string part = "test";       // which part of `split`: test (held out), val or train
  bool strict = false;             // stop at the first bad labels.csv row
  bool calibrated = true;          // false: temperature 1 (the raw distribution)
  int batch_size = 64;
  int workers = 2;                 // decoding threads
  int threads = 0;                 // tensor threads; 0 = default_thread_count()
  Policy policy;
  // Figures by group: this file, else default_groups_path(data_dir) when it
  // exists (IoError when a named file is missing); none with no_groups.
  std::filesystem::path groups;
  bool no_groups = false;
  GroupOptions group_options;
  // An ensemble, measured: these models' calibrated distributions are
  // averaged with the main model's (an equal-weight mixture), photo by photo.
  // Each model runs with its own preprocessing spec.
  std::vector<std::filesystem::path> ensemble;
  // Inference with or without test-time flip averaging, each with its own
  // calibration from the model file; unset: the file's default.
  std::optional<bool> flip_average;
  nlohmann::json to_json() const;
};

struct EvaluationResult {
  std::filesystem::path model;
  std::filesystem::path data_dir;
  double temperature = 1.0;              // the global one applied
  AgeCalibration calibration;            // all of it (per-band temperatures when the model has them)
  std::vector<Prediction> predictions;   // one per readable photo
  Figures figures;
  CoverageReport coverage_uncalibrated;  // at temperature 1, for comparison
  size_t skipped_rows = 0;               // bad labels.csv rows
  size_t unreadable_photos = 0;
  std::optional<GroupFigures> groups;    // when a demographics file was read

  // Figures::to_json() plus model, data_dir, temperature, skipped_rows,
  // unreadable_photos, coverage_uncalibrated, groups (GroupFigures::to_json(), or null).
  nlohmann::json to_json() const;
  // The summary table (policy in force first), both curves, and the group
  // tables with their conclusions.
  std::string format_tables() const;
};

EvaluationResult evaluate(const EvaluateOptions& options);

}  // namespace agegate
