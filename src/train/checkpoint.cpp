// metrics.csv and checkpoint.pt (see checkpoint.h).
#include "agegate/train/checkpoint.h"

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize.h>

#include <cmath>
#include <sstream>

#include "agegate/core/csv.h"
#include "agegate/core/error.h"
#include "agegate/core/format.h"
#include "agegate/core/fs.h"

namespace agegate {
namespace {

// Each column with its member, so the CSV, the JSON and the reader agree.
struct Column {
  const char* name;
  double EpochRecord::*member;
};
const std::vector<Column>& number_columns() {
  static const std::vector<Column> columns = {
      {"train_loss", &EpochRecord::train_loss}, {"train_mae", &EpochRecord::train_mae},
      {"val_loss", &EpochRecord::val_loss},     {"val_mae", &EpochRecord::val_mae},
      {"lr", &EpochRecord::lr},                 {"seconds", &EpochRecord::seconds},
      {"images_per_s", &EpochRecord::images_per_s}};
  return columns;
}
constexpr const char* kEpochColumn = "epoch";
constexpr int kMaxEpoch = 1000000;

void save_state(torch::serialize::OutputArchive& ar, const std::string& prefix, const StateDict& s) {
  for (auto& [name, t] : s) ar.write(prefix + name, t.cpu(), /*is_buffer=*/true);
}

StateDict load_state(torch::serialize::InputArchive& ar, const std::string& prefix, torch::nn::Module& like) {
  StateDict out = snapshot(like);
  for (auto& [name, t] : out) {
    if (!ar.try_read(prefix + name, t, /*is_buffer=*/true)) {
      throw ModelError("checkpoint lacks tensor '" + prefix + name + "'");
    }
  }
  return out;
}

}  // namespace

nlohmann::json EpochRecord::to_json() const {
  nlohmann::json j = {{kEpochColumn, epoch}};
  for (const auto& c : number_columns()) j[c.name] = this->*c.member;
  return j;
}

EpochRecord EpochRecord::from_json(const nlohmann::json& j) {
  EpochRecord r;
  try {
    r.epoch = j.at(kEpochColumn).get<int>();
    for (const auto& c : number_columns()) r.*c.member = j.at(c.name).get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(std::string("checkpoint: bad epoch record: ") + e.what());
  }
  return r;
}

const std::vector<std::string>& metrics_csv_columns() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n{kEpochColumn};
    for (const auto& c : number_columns()) n.emplace_back(c.name);
    return n;
  }();
  return names;
}

void write_metrics_csv(const std::filesystem::path& path, const std::vector<EpochRecord>& history) {
  CsvWriter csv(metrics_csv_columns(), CsvWriter::Separators::kReject, path.string());
  for (const auto& r : history) {
    std::vector<std::string> cells{std::to_string(r.epoch)};
    for (const auto& c : number_columns()) cells.push_back(format_number("%g", r.*c.member));
    csv.row(cells);
  }
  csv.write(path);
}

std::vector<EpochRecord> read_metrics_csv(const std::filesystem::path& path) {
  CsvReader csv = CsvReader::open(path, metrics_csv_columns());
  std::vector<EpochRecord> out;
  while (auto row = csv.next()) {
    EpochRecord r;
    r.epoch = static_cast<int>(row->integer(kEpochColumn, 1, kMaxEpoch));
    for (const auto& c : number_columns()) r.*c.member = row->number(c.name);
    out.push_back(r);
  }
  return out;
}

StateDict snapshot(torch::nn::Module& m) {
  StateDict out;
  for (auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value().detach().clone());
  return out;
}

void restore(torch::nn::Module& m, const StateDict& s) {
  torch::NoGradGuard no_grad;
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

void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& net,
                     torch::optim::Optimizer& optimizer, const TrainerState& state) {
  torch::serialize::OutputArchive ar;
  save_state(ar, "net.", snapshot(net));
  if (!state.best_weights.empty()) save_state(ar, "best.", state.best_weights);
  torch::serialize::OutputArchive opt_ar;
  optimizer.save(opt_ar);
  ar.write("optimizer", opt_ar);
  nlohmann::json history = nlohmann::json::array();
  for (const auto& r : state.history) history.push_back(r.to_json());
  nlohmann::json j = {{"next_epoch", state.next_epoch},
                      {"best_epoch", state.best_epoch},
                      {"best_mae", std::isfinite(state.best_mae) ? nlohmann::json(state.best_mae) : nlohmann::json()},
                      {"history", history},
                      {"import", state.import_info}};
  ar.write("state", c10::IValue(j.dump()));
  std::ostringstream os;
  ar.save_to(os);
  write_file_atomic(path, os.str());
}

namespace {

// The checkpoint's parts out of an archive already read; `where` names its source in errors.
TrainerState load_archive(torch::serialize::InputArchive& ar, const std::string& where, torch::nn::Module& net,
                          torch::optim::Optimizer& optimizer) {
  restore(net, load_state(ar, "net.", net));
  torch::serialize::InputArchive opt_ar;
  ar.read("optimizer", opt_ar);
  optimizer.load(opt_ar);
  c10::IValue state_iv;
  ar.read("state", state_iv);
  TrainerState st;
  try {
    auto j = nlohmann::json::parse(state_iv.toStringRef());
    st.next_epoch = j.at("next_epoch").get<int>();
    st.best_epoch = j.at("best_epoch").get<int>();
    if (!j.at("best_mae").is_null()) st.best_mae = j.at("best_mae").get<double>();
    st.import_info = j.value("import", nlohmann::json(nullptr));
    for (const auto& r : j.at("history")) st.history.push_back(EpochRecord::from_json(r));
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("checkpoint " + where + ": bad trainer state: " + e.what());
  }
  if (st.best_epoch > 0) st.best_weights = load_state(ar, "best.", net);
  return st;
}

}  // namespace

TrainerState load_checkpoint(const std::filesystem::path& path, torch::nn::Module& net,
                             torch::optim::Optimizer& optimizer, c10::Device device) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw IoError("no checkpoint at " + path.string());
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(path.string(), device);
  } catch (const c10::Error& e) {
    throw ModelError("cannot read checkpoint " + path.string() + ": " + e.what_without_backtrace());
  }
  return load_archive(ar, path.string(), net, optimizer);
}

TrainerState load_checkpoint_bytes(const std::string& bytes, const std::string& where, torch::nn::Module& net,
                                   torch::optim::Optimizer& optimizer, c10::Device device) {
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(bytes.data(), bytes.size(), device);
  } catch (const c10::Error& e) {
    throw ModelError("cannot read checkpoint " + where + ": " + e.what_without_backtrace());
  }
  return load_archive(ar, where, net, optimizer);
}

}  // namespace agegate
