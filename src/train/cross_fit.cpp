// Cross-fitting: K fold runs, then calibration and policy tuning on every
// pool photo's out-of-fold estimate (see cross_fit.h).
#include "agegate/train/cross_fit.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <map>
#include <optional>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/core/run_info.h"
#include "agegate/data/labels.h"
#include "agegate/data/loader.h"
#include "agegate/eval/evaluate.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/model_file.h"
#include "agegate/train/step.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr const char* kFoldsFile = "folds.csv";
constexpr const char* kTestFold = "test";
const std::vector<std::string> kFoldColumns = {"file_name", "real_age", "fold"};

fs::path fold_dir(const fs::path& run, int k) { return run / ("fold-" + std::to_string(k + 1)); }
fs::path fold_split(const fs::path& run, int k) { return run / ("fold-" + std::to_string(k + 1) + ".split.csv"); }

// The recipe's split: train on the pool, measure on the held-out part; no validation part of its own.
Split whole_run(const Folds& folds) {
  Split s;
  s.train = folds.pool();
  s.test = folds.test;
  return s;
}

// The assignment: drawn on a new run, read back (and checked against the data) on --resume.
Folds assign_folds(const TrainOptions& o, const fs::path& run) {
  const std::vector<LabelRow> rows = training_rows(o);
  Folds drawn = stratified_folds(rows, o.folds, o.test_fraction, o.seed);
  const fs::path file = run / kFoldsFile;
  if ((o.resume || o.fold > 0 || o.gather) && fs::exists(file)) {
    Folds kept = read_folds_csv(file, o.data_dir, o.folds);
    if (data_fingerprint(kept.all()) != data_fingerprint(drawn.all())) {
      throw InvalidInput(std::string(o.resume ? "--resume: " : "") + file.string() + " does not match the photos in " + o.data_dir.string() +
                         " (the data changed since the run began); start a new run");
    }
    return kept;
  }
  write_folds_csv(file, drawn);
  write_split_csv(run / "split.csv", whole_run(drawn));
  return drawn;
}

struct OutOfFold {
  at::Tensor logits[2];  // [N,K] without / with flip averaging
  at::Tensor ages;       // [N] int64
  std::vector<std::string> names;
};

// Each fold's model on the photos of its own validation fold, both inference settings.
OutOfFold out_of_fold(const Folds& folds, const std::vector<fs::path>& models, const TrainOptions& o) {
  std::vector<at::Tensor> plain, flipped, ages;
  OutOfFold oof;
  for (size_t k = 0; k < models.size(); ++k) {
    LoadedModel m = load_model_file(models[k]);
    LoaderOptions lo;
    lo.batch_size = o.batch_size;
    lo.workers = o.workers;
    const PreparedSet set = load_prepared_set(folds.folds[k], m.info.preprocess, lo);
    for (bool flip : {false, true}) {
      PreprocessSpec spec = m.info.preprocess;
      spec.flip_average = flip;
      (flip ? flipped : plain).push_back(set_logits(m.net, set, spec, c10::kCPU, o.batch_size));
    }
    ages.push_back(set.ages.round().to(at::kLong));
    oof.names.insert(oof.names.end(), set.file_names.begin(), set.file_names.end());
  }
  oof.logits[0] = at::cat(plain);
  oof.logits[1] = at::cat(flipped);
  oof.ages = at::cat(ages);
  return oof;
}

nlohmann::json rates_json(const PolicyRates& r) {
  auto one = [](const Rate& x) {
    return nlohmann::json{{"rate", x.count ? nlohmann::json(x.rate()) : nlohmann::json(nullptr)},
                          {"hits", x.hits}, {"count", x.count}, {"interval95", x.interval_json()}};
  };
  return {{"challenge_age", r.challenge_age}, {"max_risk", r.max_risk},
          {"minors_13_17_pass", one(r.minors_13_17_pass)}, {"under_legal_pass", one(r.under_legal_pass)},
          {"adults_25plus_check", one(r.adults_25plus_check)}};
}

nlohmann::json fit_json(const ValidationFit& fit) {
  nlohmann::json variants = nlohmann::json::array();
  for (const auto& v : fit.variants) {
    variants.push_back({{"flip_average", v.flip_average},
                        {"mae", v.mae},
                        {"calibration", v.calibration.to_json()},
                        {"policy_found", v.tuning.found},
                        {"policy", v.policy.to_json()},
                        {"rates", rates_json(v.tuning.rates)},
                        {"summary", v.figures.summary.to_json()}});
  }
  return {{"default_flip_average", fit.flip_average}, {"variants", variants}};
}

constexpr const char* kStudentDir = "student";

// The student: one network trained on every pool photo with the fold models'
// mean calibrated distribution in its target (distillation). Its epochs are
// chosen on fold 1's photos, which it also trains on (an in-sample check
// that only guards against a diverging run: every photo it could be
// measured on without bias is in the held-out part, which stays unread). Its
// calibration and policy are then the out-of-fold ones (apply_to), and it is
// written as RUN/model.agm. False when interrupted.
bool train_student(const TrainOptions& o, const fs::path& run, const Folds& folds, CrossFitResult& result) {
  const fs::path dir = run / kStudentDir;
  if (!fs::exists(dir / "model.agm")) {
    const fs::path split_file = run / "student.split.csv";
    if (!fs::exists(split_file)) {
      Split s;
      s.train = folds.pool();
      s.val = folds.folds[0];
      write_split_csv(split_file, s);
    }
    TrainOptions so = o;
    so.folds = 0;
    so.fold = 0;
    so.gather = false;
    so.out_dir = dir;
    so.split_file = split_file;
    so.teachers = result.fold_models;
    so.patience = so.epochs + 1;  // its check set is in-sample: no early stopping on it
    so.resume = fs::exists(dir / "options.json");
    so.progress_label = "student ";
    log().info("student: distilling the {} fold models into one network trained on all {} pool photos",
               result.fold_models.size(), folds.pool().size());
    if (train(so).interrupted) {
      log().warn("student interrupted: resume the cross-fit with --resume");
      return false;
    }
  }
  LoadedModel student = load_model_file(dir / "model.agm");
  ModelInfo info = student.info;
  result.oof.apply_to(info);
  TrainingRecord& rec = info.record;
  rec.metrics = {};
  rec.metrics.out_of_fold = result.oof.chosen().figures.to_json();
  rec.groups = {};
  // Its split as the recipe sees it (not the student run's in-sample check set).
  const Split whole = whole_run(folds);
  rec.data.split = split_names(whole);
  rec.data.fingerprint = data_fingerprint(whole.all());
  rec.data.train_count = static_cast<int64_t>(whole.train.size());
  rec.data.val_count = 0;
  rec.data.test_count = static_cast<int64_t>(whole.test.size());
  rec.cross_fit = {{"folds", o.folds},
                                {"fold_models", [&] {
                                   nlohmann::json m = nlohmann::json::array();
                                   for (const auto& p : result.fold_models) m.push_back(p.string());
                                   return m;
                                 }()},
                                {"calibration_and_policy", "fitted on the out-of-fold estimates of the fold models"},
                                {"student", "trained on every pool photo; distilled from the fold models"}};
  save_model_file(run / "model.agm", student.net, info);
  result.model = run / "model.agm";
  return true;
}

// The student and the fold models' ensemble, each measured once on the held-out part.
// The student's and the fold ensemble's figures on the held-out part (read
// here for the first time); the student's also go into RUN/model.agm's record
// (metrics.test, groups.test), where evaluate, the audit and the card find them.
nlohmann::json measure_held_out(const TrainOptions& o, const fs::path& run, const CrossFitResult& result) {
  nlohmann::json out = nlohmann::json::object();
  std::optional<EvaluationResult> student;
  auto measure = [&](const fs::path& model, const std::vector<fs::path>& ensemble, const char* name) {
    EvaluateOptions eo;
    eo.model = model;
    eo.ensemble = ensemble;
    eo.data_dir = o.data_dir;
    eo.split = run / "split.csv";
    eo.part = "test";
    eo.batch_size = o.batch_size;
    eo.workers = o.workers;
    eo.policy = result.oof.chosen().policy;
    eo.no_groups = o.no_groups;
    if (!o.groups.empty()) eo.groups = o.groups;
    const EvaluationResult r = evaluate(eo);
    log().info("held-out part, {}: MAE {:.3f} on {} photos", name, r.figures.summary.mae, r.figures.summary.count);
    out[name] = r.to_json();
    if (ensemble.empty()) student = r;
  };
  measure(result.model, {}, "student");
  measure(result.fold_models.front(), {result.fold_models.begin() + 1, result.fold_models.end()}, "ensemble");
  LoadedModel m = load_model_file(result.model);
  m.info.record.metrics.test = student->figures.to_json();
  if (student->groups) m.info.record.groups.test = student->groups->to_json();
  save_model_file(result.model, m.net, m.info);
  return out;
}

}  // namespace

void write_folds_csv(const fs::path& path, const Folds& folds) {
  CsvWriter csv(kFoldColumns, CsvWriter::Separators::kQuote, path.string());
  for (size_t k = 0; k < folds.folds.size(); ++k) {
    for (const auto& r : folds.folds[k]) csv.row({r.file_name, std::to_string(r.age), std::to_string(k + 1)});
  }
  for (const auto& r : folds.test) csv.row({r.file_name, std::to_string(r.age), kTestFold});
  csv.write(path);
}

Folds read_folds_csv(const fs::path& path, const fs::path& data_dir, int k) {
  CsvReader csv = CsvReader::open(path, kFoldColumns);
  Folds f;
  f.folds.resize(static_cast<size_t>(k));
  while (auto row = csv.next()) {
    LabelRow r = split_file_row(*row, data_dir);
    const std::string& which = row->text("fold");
    if (which == kTestFold) {
      f.test.push_back(std::move(r));
    } else {
      const int fold = static_cast<int>(row->integer("fold", 1, k));
      f.folds[static_cast<size_t>(fold - 1)].push_back(std::move(r));
    }
  }
  for (int i = 0; i < k; ++i) {
    if (f.folds[static_cast<size_t>(i)].empty()) {
      throw InvalidInput(path.string() + ": fold " + std::to_string(i + 1) + " of " + std::to_string(k) +
                         " has no photo");
    }
  }
  return f;
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The options with their defaults, checked; the run folder made (or found,
// with --resume) and the options written into it.
TrainOptions prepare_cross_fit(const TrainOptions& options) {
  TrainOptions o = options;
  if (o.data_dir.empty()) o.data_dir = default_data_dir();
  if (o.weights_dir.empty()) o.weights_dir = default_weights_dir();
  o.validate();
  if (o.folds < 2) throw InvalidInput("option --folds: cross-fitting needs at least 2");
  if (!o.split_file.empty()) throw InvalidInput("option --split: not with --folds (the folds are the split)");
  const fs::path run = o.out_dir;
  const bool joining = o.fold > 0 || o.gather;  // a job of a cross-fit spread over machines
  if (!o.resume && !joining && fs::exists(run / kFoldsFile)) {
    throw InvalidInput("run folder " + run.string() + " already holds a cross-fit; use --resume or pick another --out");
  }
  if (o.resume && !fs::exists(run / kFoldsFile)) {
    if (!fs::exists(run / "options.json")) {
      throw InvalidInput("--resume: no cross-fit in " + run.string() + " (no folds.csv, no options.json)");
    }
    log().warn("--resume: {} has no folds.csv yet: starting the cross-fit from its first fold", run.string());
  }
  create_folder(run);
  if (o.resume) remove_stale_temporaries(run);
  const std::string name = o.fold > 0       ? "options-fold-" + std::to_string(o.fold) + ".json"
                           : o.gather         ? std::string("options-gather.json")
                           : o.resume         ? std::string("options-resume.json")
                                              : std::string("options.json");
  write_file_atomic(run / name, run_metadata("train", o.to_json(), o.seed).dump(2) + "\n");
  return o;
}

// What one finished fold says about itself, for crossfit.json.
nlohmann::json fold_summary(int k, const fs::path& model, const Folds& folds) {
  const ModelInfo info = read_model_info(model);
  const TrainingRecord& rec = info.record;
  const std::optional<nlohmann::json>& val = rec.metrics.validation;
  nlohmann::json summary = {{"fold", k + 1},
                            {"model", model.string()},
                            {"val_count", folds.folds[k].size()},
                            {"best_epoch", rec.training ? rec.training->best_epoch.value_or(0) : 0},
                            {"val_mae_calibrated", val ? val->value("mae", nlohmann::json(nullptr)) : nlohmann::json(nullptr)}};
  return summary;
}

// Trains every fold not trained yet (each resumes like a single run) and
// sums up each; false when one was interrupted (result says how far it got).
bool train_folds(const TrainOptions& o, const Folds& folds, Clock::time_point start, CrossFitResult* result,
                 nlohmann::json* per_fold) {
  const fs::path run = o.out_dir;
  auto seconds = [&] { return seconds_since(start); };
  double trained_seconds = 0;
  int trained = 0;
  if (o.gather) {
    std::string missing;
    for (int k = 0; k < o.folds; ++k) {
      if (!fs::exists(fold_dir(run, k) / "model.agm")) missing += (missing.empty() ? "" : ", ") + fold_dir(run, k).string();
    }
    if (!missing.empty()) {
      throw InvalidInput("--gather: no model.agm yet in " + missing + ": train each with `agegate train --out " +
                         run.string() + " --folds " + std::to_string(o.folds) +
                         " --fold k` (on any machine) and copy its fold-k folder here");
    }
  }
  for (int k = 0; k < o.folds; ++k) {
    if (o.fold > 0 && k + 1 != o.fold) continue;
    const fs::path dir = fold_dir(run, k);
    const fs::path model = dir / "model.agm";
    result->fold_models.push_back(model);
    const std::string label = "fold " + std::to_string(k + 1) + "/" + std::to_string(o.folds);
    if (!fs::exists(model)) {
      if (!fs::exists(fold_split(run, k))) write_split_csv(fold_split(run, k), folds.split_for(k));
      TrainOptions fo = o;
      fo.folds = 0;
      fo.fold = 0;
      fo.gather = false;
      fo.out_dir = dir;
      fo.split_file = fold_split(run, k);
      fo.resume = fs::exists(dir / "options.json");
      fo.progress_label = label + " ";
      log().info("{}: training on {} photos, validating on {}", label, folds.pool().size() - folds.folds[k].size(),
                 folds.folds[k].size());
      const double fold_start = seconds();
      TrainResult r = train(fo);
      if (r.interrupted) {
        log().warn("{} interrupted: resume the cross-fit with --resume", label);
        result->interrupted = true;
        result->folds_done = k;
        result->wall_seconds = seconds();
        return false;
      }
      trained_seconds += seconds() - fold_start;
      ++trained;
      const int left = o.folds - k - 1;
      log().info("{} done in {}; about {} left for the remaining {} fold(s)", label,
                 format_duration(seconds() - fold_start), format_duration(trained_seconds / trained * left), left);
    } else {
      log().info("{}: done earlier ({}), skipped", label, model.string());
    }
    per_fold->push_back(fold_summary(k, model, folds));
  }
  return true;
}

}  // namespace

CrossFitResult cross_fit(const TrainOptions& options) {
  const TrainOptions o = prepare_cross_fit(options);
  const auto start = Clock::now();
  auto seconds = [&] { return seconds_since(start); };
  const fs::path run = o.out_dir;
  const Folds folds = assign_folds(o, run);
  log().info("cross-fit: {} folds of {} pool photos ({}), {} held out from every fold (seed {})", o.folds,
             folds.pool().size(),
             [&] {
               std::string sizes;
               for (const auto& f : folds.folds) sizes += (sizes.empty() ? "" : " / ") + std::to_string(f.size());
               return sizes;
             }(),
             folds.test.size(), o.seed);

  CrossFitResult result;
  nlohmann::json per_fold = nlohmann::json::array();
  if (!train_folds(o, folds, start, &result, &per_fold)) return result;
  if (o.fold > 0) {  // one job of several: the gathering comes once every fold is in
    result.folds_done = 1;
    result.wall_seconds = seconds();
    log().info("fold {}/{} is in {}; when every fold's folder is in {}, run: agegate train --out {} --folds {} --gather",
               o.fold, o.folds, fold_dir(run, o.fold - 1).string(), run.string(), run.string(), o.folds);
    return result;
  }
  result.folds_done = o.folds;
  clear_interrupt();

  log().info("cross-fit: out-of-fold estimates of {} pool photos", folds.pool().size());
  const OutOfFold oof = out_of_fold(folds, result.fold_models, o);
  ValidationFitOptions fo;
  fo.flip_average = o.flip_average;
  fo.per_band_calibration = o.per_band_calibration;
  fo.policy = o.policy;
  result.oof = fit_on_validation([&](bool flip) { return oof.logits[flip ? 1 : 0]; }, oof.ages, oof.names, fo);
  write_predictions_csv(run / "predictions_oof.csv", result.oof.chosen().predictions, result.oof.chosen().policy);

  nlohmann::json held_out = nullptr;
  if (o.distill) {
    if (!train_student(o, run, folds, result)) {
      result.interrupted = true;
      result.wall_seconds = seconds();
      return result;
    }
    held_out = measure_held_out(o, run, result);
  }
  result.wall_seconds = seconds();
  const nlohmann::json doc = {{"folds", per_fold},
                              {"held_out", held_out},
                              {"pool_count", folds.pool().size()},
                              {"test_count", folds.test.size()},
                              {"out_of_fold", fit_json(result.oof)},
                              {"wall_seconds_this_invocation", result.wall_seconds},
                              {"seed", o.seed},
                              {"git", git_revision()}};
  write_file_atomic(run / "crossfit.json", doc.dump(2) + "\n");
  for (const auto& v : result.oof.variants) log().info("out of fold, {}", describe_out_of_fold(v));
  return result;
}

std::string describe_out_of_fold(const VariantFit& v) {
  const PolicyRates& r = v.tuning.rates;
  char line[512];
  std::snprintf(line, sizeof line,
                "%s: MAE %.3f; %s: 13-17 passing %lld/%lld (95%% upper %.1f%%), 25+ asked %.1f%% (95%% upper %.1f%%)",
                v.flip_average ? "flip averaging" : "one pass", v.mae, v.policy.describe().c_str(),
                static_cast<long long>(r.minors_13_17_pass.hits), static_cast<long long>(r.minors_13_17_pass.count),
                100 * r.minors_13_17_pass.interval95().second, 100 * r.adults_25plus_check.rate(),
                100 * r.adults_25plus_check.interval95().second);
  return line;
}

}  // namespace agegate
