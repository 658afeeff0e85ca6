// Training: fine-tunes an AgeNet on a folder in the study's layout and writes
// a run folder (the HTML report is the caller's: report/model_report.h):
//   RUN_DIR/options.json        options, seed, git revision (written first)
//   RUN_DIR/split.csv           the seeded age-stratified train/val/test split
//   RUN_DIR/metrics.csv         one row per finished epoch
//   RUN_DIR/checkpoint.pt       weights + optimiser + trainer state, every epoch
//   RUN_DIR/model.agm           the best epoch's weights, calibrated (model file)
//   RUN_DIR/predictions_val.csv validation predictions of the final model
//   RUN_DIR/predictions_test.csv held-out test predictions of the final model
//   RUN_DIR/run.json            best epoch, validation and test metrics, calibration,
//                               val_groups/test_groups (eval/groups.h; null without demographics)
//
// Validation photos choose the best epoch and fit the temperature; the
// held-out test photos are read once, by the final model, and give the
// figures a model card should quote.
//
//   TrainOptions opt;  opt.data_dir = "faces";  opt.out_dir = "runs/a";
//   TrainResult r = train(opt);   // throws InvalidInput/IoError/ModelError
//
// The parts: the loss (train/loss.h), the learning-rate schedule
// (train/schedule.h), one step and one validation pass (train/step.h), the
// per-epoch record, metrics.csv and the checkpoint (train/checkpoint.h);
// train() runs them in order and calibrates the best epoch (eval/calibration.h).
//
// Ctrl-C (SIGINT) or SIGTERM stops after the current batch, saves a
// checkpoint, and `resume = true` continues from it. Under data parallelism
// (options.distributed) every rank stops at the same batch when any is told
// to, and every rank resumes from rank 0's checkpoint.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "agegate/data/augment.h"
#include "agegate/data/labels.h"
#include "agegate/data/preprocess.h"
#include "agegate/data/split.h"
#include "agegate/eval/validation_fit.h"
#include "agegate/model/age_net.h"
#include "agegate/model/backbone.h"
#include "agegate/policy/policy.h"
#include "agegate/train/distributed.h"
#include "agegate/train/loss.h"

namespace agegate {

struct TrainOptions {
  std::filesystem::path data_dir;     // default: default_data_dir()
  std::filesystem::path out_dir;      // required
  std::filesystem::path weights_dir;  // default: default_weights_dir()
  Backbone backbone = Backbone::kMobileNetV2;
  float dropout = ModelConfig{}.dropout;  // before the head, in training only
  bool pretrained = true;             // ImageNet import (mobilenet_v2 only)
  int input_size = PreprocessSpec::kDefaultInputSize;
  int epochs = 20;
  int batch_size = 64;
  double lr = 1e-3;                   // head learning rate (peak of the schedule)
  double backbone_lr_scale = 0.5;     // backbone lr = lr * scale
  double weight_decay = 1e-4;
  double warmup_epochs = 1.0;
  int patience = 6;                   // early stopping on validation MAE
  double val_fraction = kDefaultValFraction;    // chooses the epoch, fits the temperature
  double test_fraction = kDefaultTestFraction;  // held out: measured once, at the end
  uint64_t seed = kDefaultSplitSeed;
  int workers = 2;
  int64_t cache_mb = 2048;            // in-memory cache of prepared photos
  int threads = 0;                    // intra-op threads; 0 = default
  std::string device = "auto";        // auto|cpu|cuda
  bool mixed_precision = true;        // bf16 autocast on CUDA only
  bool channels_last = true;          // filters and batches channels-last (same values, faster convolutions)
  AgeLossOptions loss;                // label distribution width and L1 weight
  double max_minutes = 0;             // stop starting epochs after this long (0 = no limit)
  int max_photos = 0;                 // use only the first N usable rows (tests, quick runs)
  bool strict = false;                // stop on the first bad CSV row
  // Demographics CSV for the figures by group in run.json and the report;
  // default demographics.csv beside labels.csv when present. Never an input
  // of the model: it is joined to the predictions by file name afterwards.
  std::filesystem::path groups;
  bool no_groups = false;
  // A split.csv (data/split.h) to train on instead of drawing one: another
  // run's, so two trainers see the same photos. Its photos are read from data_dir.
  std::filesystem::path split_file;
  // >= 2: cross-fit K models instead of one (train/cross_fit.h); 0: one run.
  int folds = 0;
  // Cross-fitting spread over jobs (machines): 1..folds trains only that fold
  // in out_dir/fold-k and stops; gather fits and distils once every fold's
  // model is in out_dir (copied there from the jobs), refusing while one is missing.
  int fold = 0;
  bool gather = false;
  // Distillation: these models' calibrated age distributions, averaged, are
  // part of every training photo's target (AgeLossOptions::distill_weight).
  std::vector<std::filesystem::path> teachers;
  bool distill = true;  // with folds: distil the fold models into one student (train/cross_fit.h)
  // Columns of the demographics file (e.g. "sex"): weight the loss so each
  // group counts equally within each age band (train/balance.h). Empty: equal weights.
  std::vector<std::string> balance_groups;
  std::string progress_label;  // put before "epoch e/E" in progress lines ("fold 2/5 ")
  // Data parallelism (train/distributed.h): this process's place among the
  // ranks; a world of one trains alone. batch_size is the global batch, cut
  // into equal shares (it must be a multiple of the world size). Rank 0 alone
  // writes the run folder; a restarted job (restart_count > 0) resumes.
  DistributedEnv distributed;
  double dist_timeout_s = 300;  // the store, the peers and every collective give up after this
  bool resume = false;
  AugmentOptions augment;
  Policy policy;
  // Both inference settings (with and without test-time flip averaging) are
  // calibrated and stored in the model file; this is its default: off (one
  // pass, the till's speed), on, or auto (the lower validation MAE).
  FlipChoice flip_average = FlipChoice::kOff;
  bool per_band_calibration = true;  // a temperature per band of the estimate (eval/calibration.h)

  nlohmann::json to_json() const;  // keys as the flags, e.g. "label_sigma", "input_size"
  void validate() const;  // throws InvalidInput naming the option
};

struct TrainResult {
  std::filesystem::path model_path;
  int best_epoch = 0;
  int epochs_run = 0;
  bool interrupted = false;
  double best_val_mae = 0;
  double images_per_second = 0;  // training throughput, mean over epochs
  double wall_seconds = 0;
  nlohmann::json val_metrics;    // eval summary of the final (calibrated) model
  nlohmann::json test_metrics;   // the same on the held-out test part (null without one)
  bool writer = true;            // false on ranks other than 0: they wrote nothing, and have no metrics
  double gradient_sync_seconds_per_step = 0;  // data parallelism: mean time summing gradients over ranks
};

TrainResult train(const TrainOptions& options);

// The usable rows of options.data_dir's labels.csv (strict as asked, the
// first max_photos when set), as a run draws its split from them.
std::vector<LabelRow> training_rows(const TrainOptions& options);

}  // namespace agegate
