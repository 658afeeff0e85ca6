// The training run (see trainer.h): opens the run folder, splits the data,
// builds the network and optimiser, loops train_step() / validation_pass()
// with the schedule, keeps the best epoch, checkpoints every epoch, then
// calibrates the best weights, measures them once on the held-out test part
// and writes the model file and run.json.
#include "agegate/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <tuple>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/core/run_info.h"
#include "agegate/data/loader.h"
#include "agegate/data/split.h"
#include "agegate/eval/calibration.h"
#include "agegate/eval/evaluate.h"
#include "agegate/eval/run_model.h"
#include "agegate/eval/groups.h"
#include "agegate/eval/validation_fit.h"
#include "agegate/model/imagenet_import.h"
#include "agegate/model/model_file.h"
#include "agegate/model/tfjs_import.h"
#include "agegate/train/balance.h"
#include "agegate/train/checkpoint.h"
#include "agegate/train/schedule.h"
#include "agegate/train/step.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr const char* kModelFile = "model.agm";
constexpr const char* kSplitFile = "split.csv";

class Trainer {
 public:
  explicit Trainer(const TrainOptions& options);
  TrainResult run();

 private:
  void open_run_folder();
  void load_split();
  void load_groups();
  c10::Device choose_device() const;
  void build_model();
  void resume_from_checkpoint();
  // Data parallelism: runs f on rank 0 alone; its failure stops every rank.
  template <class F>
  void on_writer(F&& f);
  void share_plan();      // rank 0's split and resume decision to every rank
  void share_weights();   // rank 0's starting weights to every rank
  bool any_rank(bool flag);
  ValidationResult validate();  // the validation pass, each rank on its share when distributed
  bool distributed() const { return opt_.distributed.active(); }
  void prepare();
  bool train_epochs();        // false when interrupted
  bool run_epoch(int epoch);  // false when interrupted
  void record_epoch(int epoch, const StepResult& totals, double train_seconds,
                    std::chrono::steady_clock::time_point start, double lr);
  TrainResult finish();
  void load_teachers();
  void load_balance_weights();
  nlohmann::json measure_test(const AgeCalibration& calibration);
  // Figures by group of one part's predictions (null without a groups file).
  nlohmann::json measure_groups(const std::vector<Prediction>& predictions) const;
  double minutes_since_start() const;

  TrainOptions opt_;
  fs::path run_;
  bool resuming_ = false;  // --resume and a checkpoint to resume from
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  Split split_;
  std::optional<GroupTable> groups_;  // demographics: read, never a model input
  nlohmann::json test_groups_;
  c10::Device device_ = c10::kCPU;
  ModelConfig config_;
  AgeNet net_{nullptr};
  std::optional<torch::optim::AdamW> optimizer_;
  std::vector<double> group_scale_;  // lr multiplier per parameter group
  StepOptions step_;
  LrSchedule schedule_;
  TrainerState state_;
  std::optional<Loader> train_loader_;
  at::Tensor teacher_;  // [N_train,K] the teachers' mean distribution per training photo (distillation), or undefined
  at::Tensor weights_;  // [N_train] group-balancing loss weights, or undefined
  PreparedSet val_;
  double throughput_sum_ = 0;
  int throughput_n_ = 0;
  double last_epoch_minutes_ = 0;
  Policy model_policy_;  // retuned on validation at the end
  std::unique_ptr<Distributed> dist_;      // the process group (a world of one when alone)
  std::optional<GradientReducer> reducer_;  // sums gradients over ranks (does nothing alone)
  bool writer_ = true;                      // rank 0: the only rank that writes
};

Trainer::Trainer(const TrainOptions& options) : opt_(options) {
  if (opt_.data_dir.empty()) opt_.data_dir = default_data_dir();
  if (opt_.weights_dir.empty()) opt_.weights_dir = default_weights_dir();
  opt_.validate();
  run_ = opt_.out_dir;
  if (opt_.distributed.restart_count > 0 && !opt_.resume) {
    log().warn("distributed: restart {} of this job: resuming from the run's checkpoint", opt_.distributed.restart_count);
    opt_.resume = true;
  }
}

template <class F>
void Trainer::on_writer(F&& f) {
  std::string failure;
  std::exception_ptr error;
  if (writer_) {
    try {
      f();
    } catch (const std::exception& e) {
      failure = e.what();
      if (failure.empty()) failure = "failed";
      error = std::current_exception();
    }
  }
  if (distributed()) dist_->broadcast_bytes(failure);
  if (error) std::rethrow_exception(error);
  if (!failure.empty()) throw InvalidInput("rank 0 stopped: " + failure);
}

// Rank 0's split (split.csv's text) and its resume decision.
void Trainer::share_plan() {
  if (!distributed()) return;
  std::string text = writer_ ? split_csv_text(split_) : std::string();
  dist_->broadcast_bytes(text);
  if (!writer_) split_ = parse_split_csv(std::move(text), "rank 0's split", opt_.data_dir);
  resuming_ = any_rank(writer_ && resuming_);
}

void Trainer::share_weights() {
  if (!distributed()) return;
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> tensors;
  for (const auto& p : net_->parameters()) tensors.push_back(p.data());
  for (const auto& b : net_->buffers()) tensors.push_back(b);
  dist_->broadcast(tensors);
}

bool Trainer::any_rank(bool flag) {
  if (!distributed()) return flag;
  return dist_->all_reduce_sum({flag ? 1.0 : 0.0})[0] > 0;
}

double Trainer::minutes_since_start() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() / 60;
}

void Trainer::open_run_folder() {
  resuming_ = opt_.resume && fs::exists(run_ / kCheckpointFile);
  if (opt_.resume && !resuming_) {
    // Killed before its first checkpoint: nothing to lose, so it starts over.
    if (!fs::exists(run_ / "options.json")) {
      throw InvalidInput("--resume: no run in " + run_.string() + " (no checkpoint.pt, no options.json)");
    }
    log().warn("--resume: {} has no complete checkpoint yet (stopped in its first epoch): starting from epoch 1",
               run_.string());
  }
  if (!opt_.resume && fs::exists(run_ / kMetricsFile)) {
    throw InvalidInput("run folder " + run_.string() +
                       " already holds a run; use --resume to continue it or pick another --out");
  }
  create_folder(run_);
  // A run killed while writing leaves its temporary file behind; never read, removed here.
  if (opt_.resume) remove_stale_temporaries(run_);
  write_file_atomic(run_ / (opt_.resume ? "options-resume.json" : "options.json"),
                    run_metadata("train", opt_.to_json(), opt_.seed).dump(2) + "\n");
}

// Validated rows and the seeded split; on resume the split is re-read so it cannot drift.
void Trainer::load_split() {
  if (opt_.resume && fs::exists(run_ / kSplitFile)) {
    split_ = read_split_csv(run_ / kSplitFile, opt_.data_dir);
  } else if (!opt_.split_file.empty()) {
    split_ = read_split_csv(opt_.split_file, opt_.data_dir);
    log().info("split: read from {}", opt_.split_file.string());
    write_split_csv(run_ / kSplitFile, split_);
  } else {
    const std::vector<LabelRow> rows = training_rows(opt_);
    split_ = stratified_split(rows, opt_.val_fraction, opt_.test_fraction, opt_.seed);
    write_split_csv(run_ / kSplitFile, split_);
  }
  if (split_.train.empty() || split_.val.empty()) {
    throw InvalidInput("too few usable photos in " + opt_.data_dir.string() + " to split into train and val");
  }
}

// Read now, so a bad file fails before the first epoch, not after the last.
void Trainer::load_groups() {
  if (!opt_.no_groups) {
    if (!opt_.groups.empty()) groups_ = read_groups_csv(opt_.groups);
    else if (fs::exists(default_groups_path(opt_.data_dir))) groups_ = read_groups_csv(default_groups_path(opt_.data_dir));
  }
  log().info("split: {} train, {} validation, {} held-out test photos (seed {})", split_.train.size(),
             split_.val.size(), split_.test.size(), opt_.seed);
}

// CUDA when asked or available (under data parallelism, LOCAL_RANK's GPU).
c10::Device Trainer::choose_device() const {
  const bool cuda = opt_.device == "cuda" || (opt_.device == "auto" && torch::cuda::is_available());
  if (cuda && !torch::cuda::is_available()) throw InvalidInput("--device cuda: no CUDA device in this build/machine");
  if (!cuda) return c10::Device(c10::kCPU);
  if (!distributed()) return c10::Device(c10::kCUDA);
  const int64_t gpus = static_cast<int64_t>(torch::cuda::device_count());
  if (opt_.distributed.local_rank >= gpus) {
    throw InvalidInput("distributed: LOCAL_RANK " + std::to_string(opt_.distributed.local_rank) + " but this machine has " +
                       std::to_string(gpus) + " GPU(s): start at most that many ranks per machine");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(opt_.distributed.local_rank));
}

// Network (with the ImageNet import), optimiser groups and the step options, on device_.
void Trainer::build_model() {
  const bool cuda = device_.is_cuda();
  config_.backbone = opt_.backbone;
  config_.dropout = opt_.dropout;
  net_ = AgeNet(config_);
  if (opt_.pretrained && !resuming_) {
    if (opt_.backbone == Backbone::kMobileNetV2) {
      state_.import_info = import_mobilenet_v2_imagenet(net_->backbone(), opt_.weights_dir / kMobileNetFile).to_json();
    } else if (opt_.backbone == Backbone::kFaceResNet) {
      state_.import_info = import_face_resnet(net_->backbone(), opt_.weights_dir / kFaceResNetManifest).to_json();
    } else {
      log().warn("no pretrained weights exist here for {}; it starts from random initialisation", to_string(opt_.backbone));
    }
  }
  net_->to(device_);
  if (opt_.channels_last) to_channels_last(net_);  // before the optimiser: its state copies the layout
  using torch::optim::AdamWOptions;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(net_->backbone_parameters(), std::make_unique<AdamWOptions>(
                          AdamWOptions(opt_.lr * opt_.backbone_lr_scale).weight_decay(opt_.weight_decay)));
  groups.emplace_back(net_->head_parameters(),
                      std::make_unique<AdamWOptions>(AdamWOptions(opt_.lr).weight_decay(opt_.weight_decay)));
  optimizer_.emplace(std::move(groups), AdamWOptions(opt_.lr));
  group_scale_ = {opt_.backbone_lr_scale, 1.0};
  step_.spec.input_size = opt_.input_size;
  if (opt_.backbone == Backbone::kFaceResNet) {  // its pretraining's normalisation: (x - mean) / 256
    for (int c = 0; c < 3; ++c) {
      step_.spec.mean[c] = kFaceResNetMeanRgb[c] / 255.0f;
      step_.spec.std[c] = kFaceResNetDivisor / 255.0f;
    }
  }
  step_.spec.validate();
  step_.augment = opt_.augment;
  step_.loss = opt_.loss;
  step_.device = device_;
  step_.mixed_precision = cuda && opt_.mixed_precision;
  step_.channels_last = opt_.channels_last;
  schedule_ = LrSchedule{opt_.warmup_epochs, opt_.epochs};
}

constexpr uint64_t kEpochSeedStride = 1000003;
constexpr uint64_t kRankSeedStride = 7919;  // each rank draws its own augmentation and dropout

// One epoch of training steps, then validation and the checkpoint.
bool Trainer::run_epoch(int epoch) {
  const auto epoch_start = std::chrono::steady_clock::now();
  const int64_t steps = std::max<int64_t>(1, train_loader_->batches_per_epoch());
  train_loader_->start_epoch(epoch);
  // Augmentation and dropout draw from torch's generator: seeded per epoch, so
  // an epoch resumed after a kill draws what it would have drawn unbroken.
  torch::manual_seed(opt_.seed * kEpochSeedStride + static_cast<uint64_t>(epoch) +
                     kRankSeedStride * static_cast<uint64_t>(opt_.distributed.rank));
  Progress progress(opt_.progress_label + "epoch " + std::to_string(epoch) + "/" + std::to_string(opt_.epochs),
                    steps * opt_.batch_size, "img");
  StepResult totals;
  double loss_sum = 0, lr = 0;
  int64_t step = 0;
  while (auto batch = train_loader_->next()) {
    if (weights_.defined() || teacher_.defined()) {
      const at::Tensor rows =
          at::tensor(std::vector<int64_t>(batch->indices.begin(), batch->indices.end()), at::kLong);
      if (weights_.defined()) batch->weights = weights_.index_select(0, rows);
      if (teacher_.defined()) batch->targets = teacher_.index_select(0, rows);
    }
    // Ranks agree on stopping and on the global batch's loss denominator in one exchange.
    StepSync sync;
    bool stop = interrupted();
    double batch_photos = double(batch->images.size(0));  // the global batch's, when distributed
    if (distributed()) {
      const double share = weights_.defined() ? batch->weights.sum().item<double>() : batch_photos;
      const std::vector<double> sums = dist_->all_reduce_sum({stop ? 1.0 : 0.0, share, batch_photos});
      stop = sums[0] > 0;
      sync.loss_scale = sums[1] > 0 ? share / sums[1] : 0.0;
      sync.reducer = &*reducer_;
      batch_photos = sums[2];
    }
    if (stop) {
      progress.finish();
      log().warn("interrupted in epoch {}: saving checkpoint; --resume restarts this epoch", epoch);
      state_.next_epoch = epoch;
      if (writer_) save_checkpoint(run_ / kCheckpointFile, *net_, *optimizer_, state_);
      return false;
    }
    lr = opt_.lr * schedule_.scale((epoch - 1) + double(step) / double(steps));
    for (size_t g = 0; g < optimizer_->param_groups().size(); ++g) {
      static_cast<torch::optim::AdamWOptions&>(optimizer_->param_groups()[g].options()).lr(lr * group_scale_[g]);
    }
    StepResult r = train_step(net_, *optimizer_, *batch, step_, sync);
    // This rank's part of the global batch's mean loss, times the batch's photos:
    // summed over ranks at the epoch's end, the same sum as one process's.
    loss_sum += r.loss * sync.loss_scale * batch_photos;
    totals.abs_error_sum += r.abs_error_sum;
    totals.count += r.count;
    ++step;
    char extra[128];
    std::snprintf(extra, sizeof extra, "batch %lld/%lld loss %.3f mae %.2f lr %.2e", static_cast<long long>(step),
                  static_cast<long long>(steps), loss_sum / double(totals.count),
                  totals.abs_error_sum / double(totals.count), lr);
    progress.update(totals.count * opt_.distributed.world_size, extra);
  }
  if (distributed()) {  // the epoch's figures over the global batches
    const std::vector<double> sums = dist_->all_reduce_sum({loss_sum, totals.abs_error_sum, double(totals.count)});
    loss_sum = sums[0];
    totals.abs_error_sum = sums[1];
    totals.count = static_cast<int64_t>(sums[2]);
  }
  totals.loss = loss_sum / double(std::max<int64_t>(1, totals.count));
  const double train_seconds = progress.elapsed_seconds();
  progress.finish();
  record_epoch(epoch, totals, train_seconds, epoch_start, lr);
  return true;
}

// Validation (uncalibrated: calibration is fitted once, at the end), best-epoch
// bookkeeping, metrics.csv and the checkpoint.
void Trainer::record_epoch(int epoch, const StepResult& totals, double train_seconds,
                           std::chrono::steady_clock::time_point start, double lr) {
  ValidationResult v = validate();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  last_epoch_minutes_ = secs / 60;
  const double ips = double(totals.count) / std::max(1e-9, train_seconds);
  throughput_sum_ += ips;
  ++throughput_n_;
  const double train_mae = totals.abs_error_sum / double(std::max<int64_t>(1, totals.count));
  state_.history.push_back({epoch, totals.loss, train_mae, v.loss, v.mae, lr, secs, ips});
  const bool gain = v.mae < state_.best_mae;
  if (gain) {
    state_.best_mae = v.mae;
    state_.best_epoch = epoch;
    if (writer_) state_.best_weights = snapshot(*net_);
  }
  log().info("epoch {}: train loss {:.3f} mae {:.2f} | val loss {:.3f} mae {:.3f}{} | {:.0f} img/s, {}", epoch,
             totals.loss, train_mae, v.loss, v.mae, gain ? " (best)" : "", ips, format_duration(secs));
  // The checkpoint first: metrics.csv is what it says, so a kill between the
  // two leaves a run that resumes (and rewrites metrics.csv), never one that
  // claims an epoch its checkpoint lacks.
  state_.next_epoch = epoch + 1;
  if (!writer_) return;
  save_checkpoint(run_ / kCheckpointFile, *net_, *optimizer_, state_);
  write_metrics_csv(run_ / kMetricsFile, state_.history);
}

// Alone: the whole validation set. Distributed: each rank its contiguous
// share, the sums of loss, absolute error and count reduced over ranks, so
// every rank sees the same figures and agrees on the best epoch.
ValidationResult Trainer::validate() {
  if (!distributed()) return validation_pass(net_, val_, step_, opt_.batch_size);
  const int64_t n = val_.ages.numel();
  const int64_t world = opt_.distributed.world_size, rank = opt_.distributed.rank;
  const PreparedSet share = slice_of(val_, n * rank / world, n * (rank + 1) / world);
  std::vector<double> sums = {0, 0, 0};
  if (share.ages.numel() > 0) {
    const ValidationResult v = validation_pass(net_, share, step_, opt_.batch_size);
    const double count = static_cast<double>(share.ages.numel());
    sums = {v.loss * count, v.mae * count, count};
  }
  sums = dist_->all_reduce_sum(sums);
  ValidationResult v;
  v.loss = sums[0] / std::max(1.0, sums[2]);
  v.mae = sums[1] / std::max(1.0, sums[2]);
  return v;
}

// Best-epoch restore, calibration, the model file and run.json.
TrainResult Trainer::finish() {
  restore(*net_, state_.best_weights);
  clear_interrupt();
  const at::Tensor ages = val_.ages.round().to(at::kLong);
  ValidationFitOptions fo;
  fo.flip_average = opt_.flip_average;
  fo.per_band_calibration = opt_.per_band_calibration;
  fo.policy = opt_.policy;
  const ValidationFit fit = fit_on_validation(
      [&](bool flip) {
        step_.spec.flip_average = flip;
        return set_logits(net_, val_, step_.spec, device_, opt_.batch_size);
      },
      ages, val_.file_names, fo);
  step_.spec.flip_average = fit.flip_average;
  // The policy retuned on validation becomes the model's default; the
  // figures below (validation and held-out test) are under it.
  model_policy_ = fit.chosen().policy;
  const std::vector<Prediction>& preds = fit.chosen().predictions;
  const CalibrationReport& cal = fit.chosen().calibration;
  const nlohmann::json metrics = fit.chosen().figures.to_json();
  write_predictions_csv(run_ / "predictions_val.csv", preds, opt_.policy);
  const nlohmann::json val_groups = measure_groups(preds);
  const nlohmann::json test_metrics = measure_test(cal.calibration());

  net_->to(c10::kCPU);
  ModelInfo info;
  info.config = config_;
  info.preprocess = step_.spec;
  TrainingRecord& rec = info.record;
  rec.created = utc_timestamp();
  rec.version = agegate_version();
  rec.data = {opt_.data_dir.string(), data_fingerprint(split_.all()), static_cast<int64_t>(split_.train.size()),
              static_cast<int64_t>(split_.val.size()), static_cast<int64_t>(split_.test.size()),
              split_names(split_)};  // so `--split model` finds a split read from a file
  rec.training = TrainingFacts{opt_.to_json(), opt_.seed, git_revision(), state_.best_epoch,
                               static_cast<int>(state_.history.size())};
  rec.pretrained_import = state_.import_info;
  rec.metrics.validation = metrics;
  if (test_metrics.is_object()) rec.metrics.test = test_metrics;
  if (val_groups.is_object()) rec.groups.validation = val_groups;
  if (test_groups_.is_object()) rec.groups.test = test_groups_;
  fit.apply_to(info);
  TrainResult result;
  result.model_path = run_ / kModelFile;
  save_model_file(result.model_path, net_, info);
  result.epochs_run = static_cast<int>(state_.history.size());
  result.best_epoch = state_.best_epoch;
  result.best_val_mae = state_.best_mae;
  result.images_per_second = throughput_n_ ? throughput_sum_ / throughput_n_ : 0;
  result.wall_seconds = minutes_since_start() * 60;
  result.val_metrics = metrics;
  result.test_metrics = test_metrics;
  // run.json: the model's record (without the split's file lists: split.csv
  // holds them) and the run's own facts.
  TrainingRecord run_record = info.record;
  run_record.data.split.clear();
  nlohmann::json run_json = run_record.to_json();
  run_json["run"] = {{"best_val_mae_uncalibrated", state_.best_mae}, {"images_per_second", result.images_per_second},
                     {"wall_seconds", result.wall_seconds}, {"device", device_.str()},
                     {"model", result.model_path.string()}, {"world_size", opt_.distributed.world_size}};
  if (distributed()) {
    result.gradient_sync_seconds_per_step = reducer_->seconds_per_call();
    run_json["run"]["backend"] = dist_->backend();
    run_json["run"]["gradient_buckets"] = reducer_->buckets();
    run_json["run"]["gradient_sync_seconds_per_step"] = result.gradient_sync_seconds_per_step;
  }
  write_file_atomic(run_ / "run.json", run_json.dump(2) + "\n");
  return result;
}

// The teachers' calibrated distributions of every training photo, averaged
// (each teacher runs with its own preprocessing and calibration; the photos
// are decoded once for all teachers that prepare them alike, as the fold
// models of a cross-fit do). Rows of photos a teacher cannot read stay zero
// (never drawn: the loader skips them too).
void Trainer::load_teachers() {
  if (opt_.teachers.empty()) return;
  const int64_t k = config_.num_ages;
  std::map<std::string, int64_t> row_of;
  for (size_t i = 0; i < split_.train.size(); ++i) row_of[split_.train[i].file_name] = static_cast<int64_t>(i);
  at::Tensor sum = at::zeros({static_cast<int64_t>(split_.train.size()), k}, at::kFloat);
  auto acc = sum.accessor<float, 2>();
  LoaderOptions lo;
  lo.batch_size = opt_.batch_size;
  lo.workers = opt_.workers;
  std::string prepared_for;  // the preparation `set` holds (the spec without the flip setting)
  PreparedSet set;
  for (const auto& path : opt_.teachers) {
    LoadedModel teacher = load_model_file(path);
    if (teacher.info.config.num_ages != k) {
      throw InvalidInput("teacher " + path.string() + " has " + std::to_string(teacher.info.config.num_ages) +
                         " age bins, the student " + std::to_string(k));
    }
    log().info("distillation: teacher {} on {} training photos", path.string(), split_.train.size());
    PreprocessSpec preparation = teacher.info.preprocess;
    preparation.flip_average = false;
    if (preparation.to_json().dump() != prepared_for) {
      set = load_prepared_set(split_.train, preparation, lo);
      prepared_for = preparation.to_json().dump();
    }
    const at::Tensor logits = set_logits(teacher.net, set, teacher.info.preprocess, c10::kCPU, opt_.batch_size);
    const auto dists = to_distributions(logits, teacher.info.calibration());
    for (size_t i = 0; i < dists.size(); ++i) {
      const int64_t row = row_of.at(set.file_names[i]);
      for (int64_t a = 0; a < k; ++a) acc[row][a] += static_cast<float>(dists[i].probs[static_cast<size_t>(a)]);
    }
  }
  teacher_ = sum / static_cast<double>(opt_.teachers.size());
}

// Loss weights that balance the named demographic groups within each age band.
void Trainer::load_balance_weights() {
  if (opt_.balance_groups.empty()) return;
  if (!groups_) {
    throw InvalidInput("option --balance-groups: needs the demographics file (--groups, or demographics.csv beside "
                       "labels.csv; not with --no-groups)");
  }
  const std::vector<double> w = group_balance_weights(split_.train, *groups_, opt_.balance_groups);
  weights_ = at::tensor(std::vector<float>(w.begin(), w.end()), at::kFloat);
  log().info("group balancing by {}: loss weights {:.2f} to {:.2f} (mean 1)", nlohmann::json(opt_.balance_groups).dump(),
             weights_.min().item<double>(), weights_.max().item<double>());
}

// The final, calibrated model on the held-out test photos: the first and only
// time they are read. null when the split has no test part.
nlohmann::json Trainer::measure_test(const AgeCalibration& calibration) {
  if (split_.test.empty()) return nullptr;
  LoaderOptions lo;
  lo.batch_size = opt_.batch_size;
  lo.workers = opt_.workers;
  const PreparedSet test = load_prepared_set(split_.test, step_.spec, lo);
  if (test.ages.numel() == 0) return nullptr;
  const at::Tensor logits = set_logits(net_, test, step_.spec, device_, opt_.batch_size);
  ModelRun run{logits, test.ages.round().to(at::kLong), test.file_names, test.skipped};
  auto preds = to_predictions(run, calibration);
  write_predictions_csv(run_ / "predictions_test.csv", preds, opt_.policy);
  nlohmann::json m = measure(preds, model_policy_).to_json();
  log().info("held-out test: {} photos, MAE {:.3f}", preds.size(), m.value("mae", 0.0));
  test_groups_ = measure_groups(preds);
  return m;
}

nlohmann::json Trainer::measure_groups(const std::vector<Prediction>& predictions) const {
  if (!groups_) return nullptr;
  return group_figures(score(predictions, model_policy_), *groups_, model_policy_).to_json();
}

// Every rank continues from rank 0's checkpoint (its bytes, when distributed:
// the other ranks need not see rank 0's disk).
void Trainer::resume_from_checkpoint() {
  const fs::path file = run_ / kCheckpointFile;
  if (!distributed()) {
    state_ = load_checkpoint(file, *net_, *optimizer_, device_);
  } else {
    std::string bytes;
    on_writer([&] { bytes = read_file(file); });
    dist_->broadcast_bytes(bytes);
    state_ = load_checkpoint_bytes(bytes, "rank 0's " + file.string(), *net_, *optimizer_, device_);
  }
  log().info("resuming {} at epoch {} (best so far: epoch {}, val MAE {:.3f})", run_.string(), state_.next_epoch,
             state_.best_epoch, state_.best_mae);
}

// Everything before the first epoch: the process group, the run folder, the
// split, the network (fresh, imported or resumed; the same on every rank),
// the loaders and the validation photos.
void Trainer::prepare() {
  device_ = choose_device();
  dist_ = Distributed::connect(opt_.distributed, device_,
                               std::chrono::milliseconds(static_cast<int64_t>(opt_.dist_timeout_s * 1000)));
  writer_ = opt_.distributed.writer();
  if (!writer_) Progress::set_enabled(false);  // rank 0 shows the progress of the whole job
  on_writer([&] { open_run_folder(); });
  torch::manual_seed(opt_.seed);
  at::set_num_threads(opt_.threads > 0 ? opt_.threads : default_thread_count());
  on_writer([&] { load_split(); });
  share_plan();
  load_groups();
  build_model();
  if (resuming_) resume_from_checkpoint();
  else share_weights();
  reducer_.emplace(net_->parameters(), dist_.get());
  if (distributed()) {
    log().info("distributed: {} trains on share {} of every batch of {} ({} photos each), {} gradient bucket(s)",
               opt_.distributed.describe(), opt_.distributed.rank + 1, opt_.batch_size,
               opt_.batch_size / opt_.distributed.world_size, reducer_->buckets());
  }
  LoaderOptions lo;
  lo.batch_size = opt_.batch_size;
  lo.workers = opt_.workers;
  lo.shuffle = true;
  lo.drop_last = true;
  lo.seed = opt_.seed;
  lo.cache_bytes = opt_.cache_mb * 1024 * 1024;
  lo.shard = opt_.distributed.rank;
  lo.shards = opt_.distributed.world_size;
  train_loader_.emplace(split_.train, step_.spec, lo);
  load_teachers();
  load_balance_weights();
  // Validation photos are decoded once and kept in memory for every epoch and the calibration.
  LoaderOptions vlo;
  vlo.batch_size = opt_.batch_size;
  vlo.workers = opt_.workers;
  val_ = load_prepared_set(split_.val, step_.spec, vlo);
}

// The epochs with early stopping and the time budget; false when interrupted.
bool Trainer::train_epochs() {
  int without_gain = 0;
  for (auto& r : state_.history) without_gain = r.epoch > state_.best_epoch ? without_gain + 1 : 0;
  bool stopped = false;
  for (int epoch = state_.next_epoch; epoch <= opt_.epochs; ++epoch) {
    // Rank 0's clock decides, so every rank stops before the same epoch.
    if (any_rank(writer_ && opt_.max_minutes > 0 && minutes_since_start() + last_epoch_minutes_ > opt_.max_minutes)) {
      log().info("time budget of {} min reached before epoch {}: stopping", opt_.max_minutes, epoch);
      break;
    }
    if (without_gain >= opt_.patience) {
      log().info("early stopping: no validation gain for {} epochs", without_gain);
      break;
    }
    if (!run_epoch(epoch)) {
      stopped = true;
      break;
    }
    without_gain = state_.best_epoch == epoch ? 0 : without_gain + 1;
  }
  return !stopped;
}

TrainResult Trainer::run() {
  prepare();
  const bool interrupted_run = !train_epochs() || interrupted();
  if (state_.best_epoch == 0) {
    if (interrupted_run) {
      TrainResult r;
      r.writer = writer_;
      r.interrupted = true;
      r.epochs_run = static_cast<int>(state_.history.size());
      return r;  // nothing finished; the checkpoint holds the state
    }
    throw InvalidInput("training finished no epoch");
  }
  if (!writer_) {  // rank 0 calibrates, measures and writes the model
    TrainResult r;
    r.writer = false;
    r.interrupted = interrupted_run;
    r.model_path = run_ / kModelFile;
    r.epochs_run = static_cast<int>(state_.history.size());
    r.best_epoch = state_.best_epoch;
    r.best_val_mae = state_.best_mae;
    r.gradient_sync_seconds_per_step = reducer_->seconds_per_call();
    return r;
  }
  TrainResult result = finish();
  result.interrupted = interrupted_run;
  return result;
}

}  // namespace

nlohmann::json TrainOptions::to_json() const {
  return {{"data_dir", data_dir.string()}, {"out_dir", out_dir.string()},
          {"weights_dir", weights_dir.string()}, {"backbone", to_string(backbone)}, {"dropout", dropout},
          {"pretrained", pretrained}, {"input_size", input_size}, {"epochs", epochs},
          {"batch_size", batch_size}, {"lr", lr}, {"backbone_lr_scale", backbone_lr_scale},
          {"weight_decay", weight_decay}, {"warmup_epochs", warmup_epochs},
          {"patience", patience}, {"val_fraction", val_fraction}, {"test_fraction", test_fraction},
          {"seed", seed},
          {"workers", workers}, {"cache_mb", cache_mb}, {"threads", threads},
          {"device", device}, {"mixed_precision", mixed_precision}, {"channels_last", channels_last},
          {"label_sigma", loss.sigma}, {"l1_weight", loss.l1_weight}, {"max_minutes", max_minutes},
          {"max_photos", max_photos}, {"strict", strict}, {"resume", resume},
          {"groups", groups.string()}, {"no_groups", no_groups}, {"split_file", split_file.string()}, {"folds", folds}, {"fold", fold}, {"gather", gather},
          {"teachers", [this] {
             nlohmann::json t = nlohmann::json::array();
             for (const auto& p : teachers) t.push_back(p.string());
             return t;
           }()},
          {"distill_weight", loss.distill_weight}, {"distill", distill}, {"balance_groups", balance_groups},
          {"augment", augment.to_json()}, {"policy", policy.to_json()},
          {"flip_average", to_string(flip_average)}, {"per_band_calibration", per_band_calibration},
          {"world_size", distributed.world_size}, {"dist_timeout_s", dist_timeout_s}};
}

void TrainOptions::validate() const {
  auto bad = [](const std::string& field, const std::string& why) {
    throw InvalidInput("option " + field + ": " + why);
  };
  if (out_dir.empty()) bad("--out", "an output folder is required");
  if (epochs < 1) bad("--epochs", "must be at least 1");
  if (!(dropout >= 0 && dropout < 1)) bad("--dropout", "must be in [0,1)");
  if (batch_size < 2) bad("--batch-size", "must be at least 2");
  if (!(lr > 0)) bad("--lr", "must be positive");
  if (backbone_lr_scale < 0) bad("--backbone-lr-scale", "must be >= 0");
  if (weight_decay < 0) bad("--weight-decay", "must be >= 0");
  if (!(val_fraction > 0 && val_fraction < 1)) bad("--val-fraction", "must be in (0,1)");
  if (!(test_fraction >= 0 && val_fraction + test_fraction < 1)) {
    bad("--test-fraction", "must be >= 0 and leave training photos next to --val-fraction");
  }
  if (input_size < PreprocessSpec::kMinInputSize || input_size > PreprocessSpec::kMaxInputSize) {
    bad("--input-size", "must be in " + std::to_string(PreprocessSpec::kMinInputSize) + ".." +
                            std::to_string(PreprocessSpec::kMaxInputSize));
  }
  if (backbone == Backbone::kFaceResNet && input_size < kFaceResNetMinInput) {
    bad("--input-size", "face_resnet needs at least " + std::to_string(kFaceResNetMinInput) + " (150 is what it was trained for)");
  }
  loss.validate();
  if (patience < 1) bad("--patience", "must be at least 1");
  if (device != "auto" && device != "cpu" && device != "cuda") bad("--device", "auto, cpu or cuda");
  if (workers < 1) bad("--workers", "must be at least 1");
  policy.validate();
  if (folds == 1 || folds < 0) bad("--folds", "0 (one run) or at least 2");
  if (fold < 0 || fold > folds) bad("--fold", "must be in 1..--folds (" + std::to_string(folds) + ")");
  if (gather && folds < 2) bad("--gather", "needs --folds K");
  if (gather && fold > 0) bad("--gather", "not with --fold: a job trains one fold, the gathering comes after all");
  if (!(dist_timeout_s > 0)) bad("--dist-timeout", "must be positive");
  if (distributed.active()) {
    const std::string world = std::to_string(distributed.world_size);
    if (batch_size % distributed.world_size != 0) {
      bad("--batch-size", "must be a multiple of WORLD_SIZE=" + world + " (each rank takes an equal share)");
    }
    if (folds >= 2) {
      bad("--folds", "not under WORLD_SIZE=" + world + ": spread the folds over separate jobs with --fold k instead");
    }
  }
}

TrainResult train(const TrainOptions& options) { return Trainer(options).run(); }

std::vector<LabelRow> training_rows(const TrainOptions& options) {
  LabelsOptions lo;
  lo.strict = options.strict;
  LabelSet labels = read_labels(options.data_dir, lo);
  log().info("labels: {}", labels.summary());
  std::vector<LabelRow> rows = labels.rows;
  if (options.max_photos > 0 && static_cast<int>(rows.size()) > options.max_photos) rows.resize(options.max_photos);
  return rows;
}

}  // namespace agegate
