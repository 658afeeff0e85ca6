// The training loop: DLDL-style loss (KL to a Gaussian label distribution plus
// L1 on the expected age), AdamW with a lower backbone learning rate, warmup +
// cosine schedule, early stopping with best-epoch restore, a checkpoint every
// epoch, then temperature calibration on the validation split.
#include "agegate/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/progress.h"
#include "agegate/core/run_info.h"
#include "agegate/data/split.h"
#include "agegate/eval/calibration.h"
#include "agegate/eval/run_model.h"
#include "agegate/model/imagenet_import.h"
#include "agegate/model/model_file.h"
#include "agegate/report/model_report.h"

namespace agegate {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCheckpointFile = "checkpoint.pt";
constexpr const char* kMetricsFile = "metrics.csv";
constexpr const char* kModelFile = "model.agm";
constexpr double kPi = 3.14159265358979323846;

struct EpochRow {
  int epoch;
  double train_loss, train_mae, val_loss, val_mae, lr, seconds, images_per_s;
};

std::string metrics_csv(const std::vector<EpochRow>& rows) {
  std::ostringstream os;
  os << "epoch,train_loss,train_mae,val_loss,val_mae,lr,seconds,images_per_s\n";
  for (const auto& r : rows) {
    os << r.epoch << ',' << r.train_loss << ',' << r.train_mae << ',' << r.val_loss << ','
       << r.val_mae << ',' << r.lr << ',' << r.seconds << ',' << r.images_per_s << '\n';
  }
  return os.str();
}

// Soft target: a Gaussian of width sigma (years) around each true age,
// normalised over 0..K-1. [N] float ages -> [N,K].
at::Tensor gaussian_targets(const at::Tensor& ages, int64_t k, double sigma) {
  at::Tensor grid = at::arange(k, ages.options()).unsqueeze(0);
  at::Tensor a = ages.clamp(0, double(k - 1)).unsqueeze(1);
  at::Tensor t = at::exp(-(grid - a).pow(2) / (2.0 * sigma * sigma));
  return t / t.sum(1, /*keepdim=*/true);
}

// Returns {loss, expected ages [N]}.
std::pair<at::Tensor, at::Tensor> age_loss(const at::Tensor& logits, const at::Tensor& ages,
                                           double sigma, double l1_weight) {
  int64_t k = logits.size(1);
  at::Tensor log_p = at::log_softmax(logits.to(at::kFloat), 1);
  at::Tensor target = gaussian_targets(ages, k, sigma);
  at::Tensor kl = (target * (at::log(target.clamp_min(1e-12)) - log_p)).sum(1).mean();
  at::Tensor expected = (log_p.exp() * at::arange(k, logits.options().dtype(at::kFloat))).sum(1);
  at::Tensor l1 = (expected - ages.clamp(0, double(k - 1))).abs().mean();
  return {kl + l1_weight * l1, expected};
}

double schedule(double progress_epochs, double warmup, int total_epochs) {
  if (progress_epochs < warmup) return std::max(0.02, progress_epochs / warmup);
  double t = (progress_epochs - warmup) / std::max(1e-9, double(total_epochs) - warmup);
  constexpr double kFloor = 0.01;
  return kFloor + (1 - kFloor) * 0.5 * (1 + std::cos(kPi * std::min(1.0, t)));
}

void set_autocast(bool on) {
#if TORCH_VERSION_MAJOR >= 2 && TORCH_VERSION_MINOR >= 4 || TORCH_VERSION_MAJOR >= 3
  at::autocast::set_autocast_enabled(at::kCUDA, on);
  if (on) at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
  at::autocast::set_enabled(on);
  if (on) at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
  if (!on) at::autocast::clear_cache();
}

using StateDict = std::vector<std::pair<std::string, at::Tensor>>;
StateDict snapshot(torch::nn::Module& m) {
  StateDict out;
  for (auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value().detach().clone());
  return out;
}
void restore(torch::nn::Module& m, const StateDict& s) {
  torch::NoGradGuard ng;
  auto params = m.named_parameters();
  auto buffers = m.named_buffers();
  for (auto& [name, t] : s) {
    if (auto* p = params.find(name)) {
      p->copy_(t);
    } else if (auto* b = buffers.find(name)) {
      b->copy_(t);
    } else {
      throw ModelError("checkpoint tensor '" + name + "' has no place in the network");
    }
  }
}

void save_state(torch::serialize::OutputArchive& ar, const std::string& prefix, const StateDict& s) {
  for (auto& [name, t] : s) ar.write(prefix + name, t.cpu(), /*is_buffer=*/true);
}
StateDict load_state(torch::serialize::InputArchive& ar, const std::string& prefix,
                     torch::nn::Module& like) {
  StateDict out = snapshot(like);
  for (auto& [name, t] : out) {
    if (!ar.try_read(prefix + name, t, /*is_buffer=*/true)) {
      throw ModelError("checkpoint lacks tensor '" + prefix + name + "'");
    }
  }
  return out;
}

std::string data_fingerprint(const std::vector<LabelRow>& rows) {
  uint64_t h = fnv1a64("");
  for (const auto& r : rows) h = fnv1a64(r.file_name + "," + std::to_string(r.age) + "\n", h);
  return hex64(h);
}

}  // namespace

nlohmann::json TrainOptions::to_json() const {
  return {{"data_dir", data_dir.string()}, {"out_dir", out_dir.string()},
          {"weights_dir", weights_dir.string()}, {"backbone", backbone},
          {"pretrained", pretrained}, {"input_size", input_size}, {"epochs", epochs},
          {"batch_size", batch_size}, {"lr", lr}, {"backbone_lr_scale", backbone_lr_scale},
          {"weight_decay", weight_decay}, {"warmup_epochs", warmup_epochs},
          {"patience", patience}, {"val_fraction", val_fraction}, {"seed", seed},
          {"workers", workers}, {"cache_mb", cache_mb}, {"threads", threads},
          {"device", device}, {"mixed_precision", mixed_precision},
          {"label_sigma", label_sigma}, {"l1_weight", l1_weight}, {"max_minutes", max_minutes},
          {"max_photos", max_photos}, {"strict", strict}, {"resume", resume},
          {"augment", augment.to_json()}, {"policy", policy.to_json()}};
}

void TrainOptions::validate() const {
  auto bad = [](const std::string& field, const std::string& why) {
    throw InvalidInput("option " + field + ": " + why);
  };
  if (out_dir.empty()) bad("--out", "an output folder is required");
  if (epochs < 1) bad("--epochs", "must be at least 1");
  if (batch_size < 2) bad("--batch-size", "must be at least 2");
  if (!(lr > 0)) bad("--lr", "must be positive");
  if (backbone_lr_scale < 0) bad("--backbone-lr-scale", "must be >= 0");
  if (weight_decay < 0) bad("--weight-decay", "must be >= 0");
  if (!(val_fraction > 0 && val_fraction < 1)) bad("--val-fraction", "must be in (0,1)");
  if (input_size < 32 || input_size > 1024) bad("--input-size", "must be in 32..1024");
  if (!(label_sigma > 0)) bad("--label-sigma", "must be positive");
  if (l1_weight < 0) bad("--l1-weight", "must be >= 0");
  if (patience < 1) bad("--patience", "must be at least 1");
  if (device != "auto" && device != "cpu" && device != "cuda") bad("--device", "auto, cpu or cuda");
  if (workers < 1) bad("--workers", "must be at least 1");
  policy.validate();
}

TrainResult train(const TrainOptions& in_options) {
  TrainOptions opt = in_options;
  if (opt.data_dir.empty()) opt.data_dir = default_data_dir();
  if (opt.weights_dir.empty()) opt.weights_dir = default_weights_dir();
  opt.validate();
  auto wall_start = std::chrono::steady_clock::now();
  auto minutes_since_start = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count() / 60;
  };

  const fs::path run = opt.out_dir;
  const fs::path checkpoint_path = run / kCheckpointFile;
  if (opt.resume && !fs::exists(checkpoint_path)) {
    throw InvalidInput("--resume: no checkpoint at " + checkpoint_path.string());
  }
  if (!opt.resume && fs::exists(run / kMetricsFile)) {
    throw InvalidInput("run folder " + run.string() +
                       " already holds a run; use --resume to continue it or pick another --out");
  }
  fs::create_directories(run);
  write_file_atomic(run / (opt.resume ? "options-resume.json" : "options.json"),
                    run_metadata("train", opt.to_json(), opt.seed).dump(2) + "\n");

  torch::manual_seed(opt.seed);
  at::set_num_threads(opt.threads > 0 ? opt.threads : default_thread_count());

  // Data: validated rows and the split (re-read on resume so it cannot drift).
  Split split;
  if (opt.resume) {
    split = read_split_csv(run / "split.csv", opt.data_dir);
  } else {
    LabelsOptions lo;
    lo.strict = opt.strict;
    LabelSet labels = read_labels(opt.data_dir, lo);
    log().info("labels: {}", labels.summary());
    std::vector<LabelRow> rows = labels.rows;
    if (opt.max_photos > 0 && static_cast<int>(rows.size()) > opt.max_photos) rows.resize(opt.max_photos);
    split = stratified_split(rows, opt.val_fraction, opt.seed);
    write_split_csv(run / "split.csv", split);
  }
  if (split.train.empty() || split.val.empty()) {
    throw InvalidInput("too few usable photos in " + opt.data_dir.string() + " to split into train and val");
  }
  log().info("split: {} train, {} validation photos (seed {})", split.train.size(), split.val.size(), opt.seed);

  // Device.
  bool cuda = opt.device == "cuda" || (opt.device == "auto" && torch::cuda::is_available());
  if (cuda && !torch::cuda::is_available()) throw InvalidInput("--device cuda: no CUDA device in this build/machine");
  c10::Device device = cuda ? c10::Device(c10::kCUDA) : c10::Device(c10::kCPU);
  bool amp = cuda && opt.mixed_precision;

  // Model.
  ModelConfig config;
  config.backbone = opt.backbone;
  AgeNet net(config);
  nlohmann::json import_info = nullptr;
  if (opt.pretrained && !opt.resume) {
    if (opt.backbone != "mobilenet_v2") {
      log().warn("no ImageNet weights exist here for {}; it starts from random initialisation", opt.backbone);
    } else {
      auto rep = import_mobilenet_v2_imagenet(net->backbone(), opt.weights_dir / kMobileNetFile);
      import_info = {{"file", rep.file}, {"sha256", rep.sha256}, {"convs", rep.convs}};
      log().info("imported ImageNet MobileNetV2: {} convs from {} (sha256 {})", rep.convs, rep.file, rep.sha256);
    }
  }
  net->to(device);

  PreprocessSpec spec;
  spec.input_size = opt.input_size;
  spec.validate();

  using torch::optim::AdamW;
  using torch::optim::AdamWOptions;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(net->backbone_parameters(),
                      std::make_unique<AdamWOptions>(AdamWOptions(opt.lr * opt.backbone_lr_scale).weight_decay(opt.weight_decay)));
  groups.emplace_back(net->head_parameters(),
                      std::make_unique<AdamWOptions>(AdamWOptions(opt.lr).weight_decay(opt.weight_decay)));
  AdamW optimizer(std::move(groups), AdamWOptions(opt.lr));
  const std::vector<double> group_scale{opt.backbone_lr_scale, 1.0};

  std::vector<EpochRow> history;
  int start_epoch = 1;
  int best_epoch = 0;
  double best_mae = std::numeric_limits<double>::infinity();
  StateDict best_state;
  if (opt.resume) {
    torch::serialize::InputArchive ar;
    try {
      ar.load_from(checkpoint_path.string(), device);
    } catch (const c10::Error& e) {
      throw ModelError("cannot read checkpoint " + checkpoint_path.string() + ": " + e.what_without_backtrace());
    }
    restore(*net, load_state(ar, "net.", *net));
    torch::serialize::InputArchive opt_ar;
    ar.read("optimizer", opt_ar);
    optimizer.load(opt_ar);
    c10::IValue state_iv;
    ar.read("state", state_iv);
    auto state = nlohmann::json::parse(state_iv.toStringRef());
    start_epoch = state.at("next_epoch").get<int>();
    best_epoch = state.at("best_epoch").get<int>();
    best_mae = state.at("best_mae").is_null() ? best_mae : state.at("best_mae").get<double>();
    import_info = state.value("import", nlohmann::json(nullptr));
    for (auto& r : state.at("history")) {
      history.push_back({r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]});
    }
    if (best_epoch > 0) best_state = load_state(ar, "best.", *net);
    log().info("resuming {} at epoch {} (best so far: epoch {}, val MAE {:.3f})", run.string(),
               start_epoch, best_epoch, best_mae);
  }

  auto save_checkpoint = [&](int next_epoch) {
    torch::serialize::OutputArchive ar;
    save_state(ar, "net.", snapshot(*net));
    if (!best_state.empty()) save_state(ar, "best.", best_state);
    torch::serialize::OutputArchive opt_ar;
    optimizer.save(opt_ar);
    ar.write("optimizer", opt_ar);
    nlohmann::json hist = nlohmann::json::array();
    for (auto& r : history) {
      hist.push_back({r.epoch, r.train_loss, r.train_mae, r.val_loss, r.val_mae, r.lr, r.seconds, r.images_per_s});
    }
    nlohmann::json state = {{"next_epoch", next_epoch}, {"best_epoch", best_epoch},
                            {"best_mae", std::isfinite(best_mae) ? nlohmann::json(best_mae) : nlohmann::json(nullptr)},
                            {"history", hist}, {"import", import_info}};
    ar.write("state", c10::IValue(state.dump()));
    std::ostringstream os;
    ar.save_to(os);
    write_file_atomic(checkpoint_path, os.str());
  };

  LoaderOptions train_lo;
  train_lo.batch_size = opt.batch_size;
  train_lo.workers = opt.workers;
  train_lo.shuffle = true;
  train_lo.drop_last = true;
  train_lo.seed = opt.seed;
  train_lo.cache_bytes = opt.cache_mb * 1024 * 1024;
  Loader train_loader(split.train, spec, train_lo);
  const int64_t steps_per_epoch = std::max<int64_t>(1, train_loader.batches_per_epoch());

  // Validation photos are decoded once and kept prepared in memory, for every
  // epoch's validation and the final calibration.
  at::Tensor val_images, val_ages;
  std::vector<std::string> val_files;
  {
    LoaderOptions vlo;
    vlo.batch_size = opt.batch_size;
    vlo.workers = opt.workers;
    Loader vl(split.val, spec, vlo);
    vl.start_epoch(0);
    std::vector<at::Tensor> imgs, ages;
    while (auto b = vl.next()) {
      imgs.push_back(b->images);
      ages.push_back(b->ages);
      for (int i : b->indices) val_files.push_back(split.val[static_cast<size_t>(i)].file_name);
    }
    if (imgs.empty()) throw InvalidInput("no readable validation photo in " + opt.data_dir.string());
    val_images = at::cat(imgs);
    val_ages = at::cat(ages);
  }
  auto val_logits = [&] {  // [N_val,K] CPU, inference mode
    c10::InferenceMode guard;
    net->eval();
    std::vector<at::Tensor> outs;
    for (int64_t i = 0; i < val_images.size(0); i += opt.batch_size) {
      at::Tensor b = val_images.slice(0, i, std::min(val_images.size(0), i + opt.batch_size));
      outs.push_back(forward_prepared(net, spec, b, device));
    }
    return at::cat(outs);
  };

  TrainResult result;
  int epochs_without_gain = 0;
  for (auto& r : history) epochs_without_gain = r.epoch > best_epoch ? epochs_without_gain + 1 : 0;
  double throughput_sum = 0;
  int throughput_n = 0;
  double last_epoch_minutes = 0;

  for (int epoch = start_epoch; epoch <= opt.epochs; ++epoch) {
    if (opt.max_minutes > 0 && minutes_since_start() + last_epoch_minutes > opt.max_minutes) {
      log().info("time budget of {} min reached before epoch {}: stopping", opt.max_minutes, epoch);
      break;
    }
    if (epochs_without_gain >= opt.patience) {
      log().info("early stopping: no validation gain for {} epochs", epochs_without_gain);
      break;
    }
    auto epoch_start = std::chrono::steady_clock::now();
    net->train();
    train_loader.start_epoch(epoch);
    Progress progress("epoch " + std::to_string(epoch) + "/" + std::to_string(opt.epochs),
                      int64_t(steps_per_epoch) * opt.batch_size, "img");
    double loss_sum = 0, abs_err_sum = 0, lr_now = 0;
    int64_t seen = 0, step = 0;
    bool stopped = false;
    while (auto batch = train_loader.next()) {
      if (interrupted()) {
        stopped = true;
        break;
      }
      double frac = (epoch - 1) + double(step) / double(steps_per_epoch);
      double scale = schedule(frac, opt.warmup_epochs, opt.epochs);
      lr_now = opt.lr * scale;
      for (size_t g = 0; g < optimizer.param_groups().size(); ++g) {
        static_cast<AdamWOptions&>(optimizer.param_groups()[g].options()).lr(lr_now * group_scale[g]);
      }
      at::Tensor images = batch->images.to(device, /*non_blocking=*/true);
      at::Tensor ages = batch->ages.to(device);
      at::Tensor x = normalise(augment(images, opt.augment), spec, /*already_unit=*/true);
      if (amp) set_autocast(true);
      at::Tensor logits = net->forward(x);
      if (amp) set_autocast(false);
      auto [loss, expected] = age_loss(logits, ages, opt.label_sigma, opt.l1_weight);
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      int64_t n = images.size(0);
      loss_sum += loss.item<double>() * double(n);
      abs_err_sum += (expected.detach() - ages).abs().sum().item<double>();
      seen += n;
      ++step;
      char extra[128];
      std::snprintf(extra, sizeof extra, "batch %lld/%lld loss %.3f mae %.2f lr %.2e",
                    static_cast<long long>(step), static_cast<long long>(steps_per_epoch),
                    loss_sum / double(seen), abs_err_sum / double(seen), lr_now);
      progress.update(seen, extra);
    }
    double train_seconds = progress.elapsed_seconds();
    progress.finish();
    if (stopped) {
      log().warn("interrupted in epoch {}: saving checkpoint; --resume restarts this epoch", epoch);
      save_checkpoint(epoch);
      result.interrupted = true;
      break;
    }

    // Validation (uncalibrated: calibration is fitted once, at the end).
    double val_loss = 0, val_mae = 0;
    {
      c10::InferenceMode guard;
      auto [l, expected] = age_loss(val_logits(), val_ages, opt.label_sigma, opt.l1_weight);
      val_loss = l.item<double>();
      val_mae = (expected - val_ages).abs().mean().item<double>();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    last_epoch_minutes = secs / 60;
    double ips = double(seen) / std::max(1e-9, train_seconds);
    throughput_sum += ips;
    ++throughput_n;
    history.push_back({epoch, loss_sum / double(seen), abs_err_sum / double(seen), val_loss, val_mae,
                       lr_now, secs, ips});
    bool gain = val_mae < best_mae;
    if (gain) {
      best_mae = val_mae;
      best_epoch = epoch;
      best_state = snapshot(*net);
      epochs_without_gain = 0;
    } else {
      ++epochs_without_gain;
    }
    log().info("epoch {}: train loss {:.3f} mae {:.2f} | val loss {:.3f} mae {:.3f}{} | {:.0f} img/s, {}",
               epoch, history.back().train_loss, history.back().train_mae, val_loss, val_mae,
               gain ? " (best)" : "", ips, format_duration(secs));
    write_file_atomic(run / kMetricsFile, metrics_csv(history));
    save_checkpoint(epoch + 1);
  }
  result.epochs_run = static_cast<int>(history.size());
  result.interrupted = result.interrupted || interrupted();
  if (best_epoch == 0) {
    if (result.interrupted) return result;  // nothing finished; the checkpoint holds the state
    throw InvalidInput("training finished no epoch");
  }

  // Best-epoch restore, calibration and the final model file.
  restore(*net, best_state);
  clear_interrupt();
  ModelRun val;
  val.logits = val_logits();
  val.ages = val_ages.round().to(at::kLong);
  val.file_names = val_files;
  CalibrationOptions co;
  co.level = opt.policy.interval_level;
  CalibrationReport cal = calibrate(val.logits, val.ages, co);
  log().info("calibration: temperature {:.3f} ({}), {:.0f}% interval coverage {:.1f}% -> {:.1f}%",
             cal.temperature, cal.method, 100 * co.level, 100 * cal.coverage_before.overall,
             100 * cal.coverage_after.overall);
  auto preds = to_predictions(val, cal.temperature);
  EvalSummary summary = summarise(preds, opt.policy);
  nlohmann::json metrics = summary.to_json();
  metrics["policy_curve"] = curve_to_json(policy_curve(preds, opt.policy));
  metrics["risk_curve"] = curve_to_json(risk_curve(preds, opt.policy));
  write_predictions_csv(run / "predictions_val.csv", preds, opt.policy);

  net->to(c10::kCPU);
  ModelInfo info;
  info.config = config;
  info.preprocess = spec;
  info.temperature = cal.temperature;
  std::vector<LabelRow> all = split.train;
  all.insert(all.end(), split.val.begin(), split.val.end());
  info.metadata = {
      {"created", utc_timestamp()},
      {"data", {{"dir", opt.data_dir.string()}, {"fingerprint", data_fingerprint(all)},
                {"train_count", split.train.size()}, {"val_count", split.val.size()}}},
      {"training", {{"options", opt.to_json()}, {"seed", opt.seed}, {"git", git_revision()},
                    {"best_epoch", best_epoch}, {"epochs_run", history.size()}}},
      {"imagenet_import", import_info},
      {"calibration", cal.to_json()},
      {"metrics", {{"validation", metrics}}},
      {"version", agegate_version()}};
  result.model_path = run / kModelFile;
  save_model_file(result.model_path, net, info);

  result.best_epoch = best_epoch;
  result.best_val_mae = best_mae;
  result.images_per_second = throughput_n ? throughput_sum / throughput_n : 0;
  result.wall_seconds = minutes_since_start() * 60;
  result.val_metrics = metrics;
  nlohmann::json run_json = {{"best_epoch", best_epoch}, {"best_val_mae_uncalibrated", best_mae},
                             {"data_dir", opt.data_dir.string()}, {"options", opt.to_json()},
                             {"val_metrics", metrics}, {"calibration", cal.to_json()},
                             {"images_per_second", result.images_per_second},
                             {"wall_seconds", result.wall_seconds}, {"device", device.str()},
                             {"git", git_revision()}, {"model", result.model_path.string()}};
  write_file_atomic(run / "run.json", run_json.dump(2) + "\n");
  if (opt.write_report) {
    try {
      auto rep = write_training_report(run);
      log().info("training report: {}", rep.index_html.string());
    } catch (const Error& e) {
      log().warn("training report not written: {}", e.what());
    }
  }
  return result;
}

}  // namespace agegate
