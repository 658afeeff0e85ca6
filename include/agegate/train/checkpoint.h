// A training run's state on disk: the per-epoch record and its metrics.csv
// schema (defined here once; the report reads the file through this header),
// and the checkpoint that `--resume` continues from.
//
//   RUN_DIR/metrics.csv    epoch,train_loss,train_mae,val_loss,val_mae,lr,seconds,images_per_s
//   RUN_DIR/checkpoint.pt  current weights ("net."), best epoch's weights ("best."),
//                          optimiser state ("optimizer"), trainer state JSON ("state")
//
//   TrainerState st;  st.history.push_back(record);
//   write_metrics_csv(run / "metrics.csv", st.history);
//   save_checkpoint(run / "checkpoint.pt", *net, optimizer, st);          // atomic
//   TrainerState back = load_checkpoint(run / "checkpoint.pt", *net, optimizer, device);
//
// Both files are written atomically (temporary file + rename). Errors:
// IoError (missing or unwritable file), InvalidInput (a malformed metrics.csv,
// naming the line and column), ModelError (a checkpoint that does not fit the
// network).
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace agegate {

inline constexpr const char* kMetricsFile = "metrics.csv";
inline constexpr const char* kCheckpointFile = "checkpoint.pt";

// One finished epoch.
struct EpochRecord {
  int epoch = 0;           // 1-based
  double train_loss = 0;   // mean over the epoch's training photos
  double train_mae = 0;    // years, of the augmented training photos
  double val_loss = 0;     // uncalibrated
  double val_mae = 0;      // years, uncalibrated
  double lr = 0;           // head learning rate at the epoch's last step
  double seconds = 0;      // wall time of the epoch, validation included
  double images_per_s = 0; // training throughput

  nlohmann::json to_json() const;  // the metrics.csv column names as keys
  static EpochRecord from_json(const nlohmann::json& j);  // ModelError on a missing key
};

// The metrics.csv column names, in order.
const std::vector<std::string>& metrics_csv_columns();
void write_metrics_csv(const std::filesystem::path& path, const std::vector<EpochRecord>& history);
std::vector<EpochRecord> read_metrics_csv(const std::filesystem::path& path);

// Parameters and buffers by name, detached copies.
using StateDict = std::vector<std::pair<std::string, at::Tensor>>;
StateDict snapshot(torch::nn::Module& module);
// Copies `state` into `module`; ModelError naming a tensor that has no place there.
void restore(torch::nn::Module& module, const StateDict& state);

// What the trainer carries from epoch to epoch besides the weights.
struct TrainerState {
  int next_epoch = 1;
  int best_epoch = 0;  // 0: no epoch finished yet
  double best_mae = std::numeric_limits<double>::infinity();
  std::vector<EpochRecord> history;
  nlohmann::json import_info = nullptr;  // where the pretrained weights came from
  StateDict best_weights;                // empty until an epoch finished
};

void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& net,
                     torch::optim::Optimizer& optimizer, const TrainerState& state);
// Loads weights into `net` and `optimizer` and returns the rest.
TrainerState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& net,
                             torch::optim::Optimizer& optimizer, c10::Device device);
// The same from a checkpoint file's bytes (another rank's, sent over the
// process group); `where` names their source in errors.
TrainerState load_checkpoint_bytes(const std::string& bytes, const std::string& where, torch::nn::Module& net,
                                   torch::optim::Optimizer& optimizer, c10::Device device);

}  // namespace agegate
