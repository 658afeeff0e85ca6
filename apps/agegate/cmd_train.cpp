// agegate train: fine-tune a model on a folder in the study's layout, then
// write the run's HTML report (unless --no-report).
#include <cstdio>
#include <optional>

#include "agegate/core/error.h"
#include "agegate/core/interrupt.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/report/model_report.h"
#include "agegate/train/cross_fit.h"
#include "agegate/train/trainer.h"
#include "command.h"
#include "enum_option.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {

struct TrainArgs {
  TrainOptions options;  // every default lives there
  bool no_pretrained = false;
  bool no_report = false;
  double augment_strength = 1.0;
  // Single ranges that override the scaled defaults when given.
  std::optional<float> max_rotate, max_scale, max_shift, brightness, contrast, saturation;
  PolicyArgs policy;
};

// Where the photos and weights come from, where the run goes, the network.
void add_data_options(CLI::App* cmd, TrainArgs& a) {
  auto& o = a.options;
  cmd->add_option("--data", o.data_dir, "folder with labels.csv and final_files/")
      ->default_str(default_data_dir().string());
  cmd->add_option("--out", o.out_dir, "run folder to create (or to continue with --resume)")->required();
  cmd->add_option("--weights", o.weights_dir, "folder with mobilenet_quantized.pt and face_recognition/")
      ->default_str(default_weights_dir().string());
  add_enum_option(cmd, "--backbone", o.backbone, kBackbones,
                  "mobilenet_v2 (ImageNet weights) | face_resnet (face-identity weights) | resnet18|resnet34|resnet50");
  cmd->add_flag("--no-pretrained", a.no_pretrained, "start from random weights");
  cmd->add_option("--input-size", o.input_size, "network input side in pixels")->capture_default_str();
  cmd->add_option("--epochs", o.epochs)->capture_default_str();
  cmd->add_option("--dropout", o.dropout, "dropout before the head while training")->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size)->capture_default_str();
}

// The optimisation, the split, cross-fitting and distillation.
void add_training_options(CLI::App* cmd, TrainArgs& a) {
  auto& o = a.options;
  cmd->add_option("--lr", o.lr, "peak learning rate of the head")->capture_default_str();
  cmd->add_option("--backbone-lr-scale", o.backbone_lr_scale, "backbone lr = lr * scale")->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay)->capture_default_str();
  cmd->add_option("--warmup-epochs", o.warmup_epochs)->capture_default_str();
  cmd->add_option("--patience", o.patience, "early stopping: epochs without validation gain")->capture_default_str();
  cmd->add_option("--val-fraction", o.val_fraction, "share of photos that choose the epoch and fit calibration")
      ->capture_default_str();
  cmd->add_option("--test-fraction", o.test_fraction, "share held out and measured once at the end (0 = none)")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed)->capture_default_str();
  cmd->add_option("--folds", o.folds,
                  "cross-fit K models (K >= 2) whose validation folds cover the pool once; their out-of-fold "
                  "estimates fit the calibration and tune the policy (0 = one run)")
      ->capture_default_str();
  cmd->add_option("--fold", o.fold,
                  "with --folds K: train only fold k (1..K) in OUT/fold-k and stop: one job of a cross-fit spread "
                  "over machines");
  cmd->add_flag("--gather", o.gather,
                "with --folds K: every OUT/fold-k/model.agm is in (copied from the --fold jobs): fit the "
                "calibration and policy on their out-of-fold estimates and distil the student");
  cmd->add_flag("!--no-distill", o.distill, "with --folds: stop after the out-of-fold fit (no student, no model.agm)");
  cmd->add_option("--teacher", o.teachers,
                  "distil: a model file whose calibrated distributions join the target (repeat for several; "
                  "--folds does this with its fold models)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--distill-weight", o.loss.distill_weight,
                  "the teachers' share of the target distribution when distilling (the label's: 1 - this)")
      ->capture_default_str();
  cmd->add_option("--split", o.split_file,
                  "train on this split.csv (file_name,real_age,split: another run's) instead of drawing one with "
                  "--seed, --val-fraction and --test-fraction")
      ->check(CLI::ExistingFile);
}

// Speed, the loss, limits, inference, calibration and groups.
void add_run_options(CLI::App* cmd, TrainArgs& a) {
  auto& o = a.options;
  cmd->add_option("--workers", o.workers, "decoding threads")->capture_default_str();
  cmd->add_option("--cache-mb", o.cache_mb, "memory for prepared photos (0 = stream every epoch)")->capture_default_str();
  cmd->add_option("--threads", o.threads, "tensor threads (0 = OMP_NUM_THREADS or all cores)")->capture_default_str();
  cmd->add_option("--device", o.device, "auto|cpu|cuda")->capture_default_str();
  cmd->add_option("--dist-timeout", o.dist_timeout_s,
                  "data-parallel training under torchrun (WORLD_SIZE > 1): seconds to wait for the store, the "
                  "peers and each exchange before failing")
      ->capture_default_str();
  cmd->add_flag("!--no-channels-last", o.channels_last,
                "train in the contiguous (NCHW) layout instead of channels-last (same values, slower on CPU)");
  cmd->add_option("--label-sigma", o.loss.sigma, "width in years of the target distribution")->capture_default_str();
  cmd->add_option("--l1-weight", o.loss.l1_weight, "weight of |E[age] - age| next to the KL term")->capture_default_str();
  cmd->add_option("--max-minutes", o.max_minutes, "start no epoch past this wall time (0 = none)")->capture_default_str();
  cmd->add_option("--max-photos", o.max_photos, "use only the first N usable rows (0 = all)")->capture_default_str();
  cmd->add_flag("--strict", o.strict, "stop at the first bad CSV row");
  add_enum_option(cmd, "--flip-average", o.flip_average, kFlipChoices,
                  "the model file's default inference (both are calibrated and stored): off (one pass), on "
                  "(test-time flip averaging), auto (the lower validation MAE)");
  cmd->add_flag("!--no-per-band-calibration", o.per_band_calibration,
                "one temperature for all ages instead of one per band of the estimate");
  CLI::Option* groups = cmd->add_option("--groups", o.groups,
                                        "demographics CSV for figures by group in run.json and the report "
                                        "[default: demographics.csv beside labels.csv when present]");
  cmd->add_flag("--no-groups", o.no_groups, "no figures by group")->excludes(groups);
  cmd->add_option("--balance-groups", o.balance_groups,
                  "demographics columns (e.g. sex or sex,ethnicity) whose groups get equal loss weight within each "
                  "age band; the network never sees them")
      ->delimiter(',');
}

// Augmentation, resuming, the report and the policy.
void add_augment_and_output_options(CLI::App* cmd, TrainArgs& a) {
  auto& o = a.options;
  cmd->add_option("--augment-strength", a.augment_strength,
                  "scales every augmentation range (flip stays on; 1 = +-10 deg, +-5% scale, +-5% shift, "
                  "+-20% brightness/contrast, no saturation change; 0 = flips only)")
      ->check(CLI::Range(0.0, 3.0))
      ->capture_default_str();
  auto range = [&](const char* flag, std::optional<float>& v, const char* what, double hi) {
    cmd->add_option(flag, v, what)->check(CLI::Range(0.0, hi));
  };
  range("--max-rotate", a.max_rotate, "augmentation: largest rotation in degrees (overrides --augment-strength)", 45.0);
  range("--max-scale", a.max_scale, "augmentation: largest zoom in or out, as a fraction", 0.5);
  range("--max-shift", a.max_shift, "augmentation: largest shift, as a fraction of the side", 0.5);
  range("--brightness", a.brightness, "augmentation: brightness factor range 1 +- this", 0.9);
  range("--contrast", a.contrast, "augmentation: contrast factor range 1 +- this", 0.9);
  range("--saturation", a.saturation, "augmentation: saturation factor range 1 +- this (0 = none)", 0.9);
  cmd->add_flag("!--no-flip", o.augment.flip, "augmentation: no random mirroring");
  cmd->add_flag("--resume", o.resume, "continue the run in --out from its checkpoint");
  cmd->add_flag("--no-report", a.no_report, "skip the HTML training report");
  a.policy.add_to(cmd);
}

void add_options(CLI::App* cmd, TrainArgs& a) {
  add_data_options(cmd, a);
  add_training_options(cmd, a);
  add_run_options(cmd, a);
  add_augment_and_output_options(cmd, a);
}

int run_cross_fit(const TrainOptions& opt) {
  CrossFitResult r = cross_fit(opt);
  if (opt.fold > 0 && !r.interrupted) {
    std::printf("fold           %d of %d trained in %s/fold-%d\n", opt.fold, opt.folds, opt.out_dir.c_str(), opt.fold);
    std::printf("next           once every fold-k folder is in %s: agegate train --out %s --folds %d --gather\n",
                opt.out_dir.c_str(), opt.out_dir.c_str(), opt.folds);
    return kOk;
  }
  if (r.interrupted) {
    std::fprintf(stderr, "interrupted in fold %d of %d; continue with: agegate train --out %s --folds %d --resume\n",
                 r.folds_done + 1, opt.folds, opt.out_dir.c_str(), opt.folds);
    return kInterrupted;
  }
  std::printf("folds          %d (models in %s/fold-1 .. fold-%d)\n", opt.folds, opt.out_dir.c_str(), opt.folds);
  for (const auto& v : r.oof.variants) std::printf("out of fold    %s\n", describe_out_of_fold(v).c_str());
  std::printf("cross-fit      %s/crossfit.json, %s/predictions_oof.csv\n", opt.out_dir.c_str(), opt.out_dir.c_str());
  if (!r.model.empty()) std::printf("model          %s (distilled student, out-of-fold calibration)\n", r.model.c_str());
  std::printf("wall time      %.0f s\n", r.wall_seconds);
  return kOk;
}

int run_train(const TrainArgs& a) {
  TrainOptions opt = a.options;
  opt.pretrained = !a.no_pretrained;
  {
    const AugmentOptions d;
    const float k = static_cast<float>(a.augment_strength);
    opt.augment.max_rotate_deg = d.max_rotate_deg * k;
    opt.augment.max_scale = d.max_scale * k;
    opt.augment.max_shift = d.max_shift * k;
    opt.augment.brightness = d.brightness * k;
    opt.augment.contrast = d.contrast * k;
    opt.augment.saturation = d.saturation * k;
    if (a.max_rotate) opt.augment.max_rotate_deg = *a.max_rotate;
    if (a.max_scale) opt.augment.max_scale = *a.max_scale;
    if (a.max_shift) opt.augment.max_shift = *a.max_shift;
    if (a.brightness) opt.augment.brightness = *a.brightness;
    if (a.contrast) opt.augment.contrast = *a.contrast;
    if (a.saturation) opt.augment.saturation = *a.saturation;
  }
  opt.policy = a.policy.resolve();
  // Started by torchrun (or by hand with its variables): one rank of a data-parallel job.
  opt.distributed = DistributedEnv::from_environment();
  install_interrupt_handler();
  if (opt.folds >= 2) return run_cross_fit(opt);
  TrainResult r = train(opt);
  if (!r.writer) {  // as rank 0: interrupted before any epoch ended is an interruption, after one a model
    if (r.interrupted) {
      std::fprintf(stderr, "interrupted after %d epoch(s); the job continues when started again with --resume\n",
                   r.epochs_run);
      if (r.best_epoch == 0) return kInterrupted;
    }
    std::printf("rank           %d of %d: trained %d epoch(s) (best %d); rank 0 writes %s\n", opt.distributed.rank,
                opt.distributed.world_size, r.epochs_run, r.best_epoch, r.model_path.c_str());
    return kOk;
  }
  if (r.interrupted) {
    std::fprintf(stderr, "interrupted after %d epoch(s); continue with: agegate train --out %s --resume\n",
                 r.epochs_run, opt.out_dir.c_str());
    if (r.model_path.empty()) return kInterrupted;
  }
  if (!a.no_report) {
    try {
      auto rep = write_training_report(opt.out_dir);
      log().info("training report: {}", rep.index_html.string());
    } catch (const Error& e) {
      log().warn("training report not written: {}", e.what());
    }
  }
  std::printf("model          %s\n", r.model_path.c_str());
  std::printf("best epoch     %d of %d run\n", r.best_epoch, r.epochs_run);
  std::printf("val MAE        %.3f (calibrated model: %.3f)\n", r.best_val_mae, r.val_metrics.value("mae", 0.0));
  std::printf("val within 5   %.1f%%\n", 100 * r.val_metrics.value("within5", 0.0));
  if (r.test_metrics.is_object()) {
    std::printf("test MAE       %.3f on %d held-out photos\n", r.test_metrics.value("mae", 0.0),
                r.test_metrics.value("count", 0));
  }
  std::printf("train speed    %.1f img/s\n", r.images_per_second);
  if (opt.distributed.active()) {
    std::printf("ranks          %d, gradient sum %.1f ms per step\n", opt.distributed.world_size,
                1000 * r.gradient_sync_seconds_per_step);
  }
  std::printf("wall time      %.0f s\n", r.wall_seconds);
  return kOk;
}

AGEGATE_COMMAND(10, [](CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "train an age model; writes a run folder with model.agm");
  add_options(cmd, *args);
  cmd->callback([args] { set_exit_code(run_train(*args)); });
});

}  // namespace
}  // namespace agegate::cli
