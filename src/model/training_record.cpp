// The training record, to and from JSON (see training_record.h).
#include "agegate/model/training_record.h"

#include <algorithm>

#include "agegate/core/error.h"

namespace agegate {
namespace {

using json = nlohmann::json;

const char* type_name(const json& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "a whole number";
  if (v.is_number()) return "a number";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "an array";
  return "an object";
}

// Reads the keys of one JSON object, each checked for its type; remembers
// which keys it was asked for so the rest can be kept as unknown.
class Reader {
 public:
  Reader(const json& j, std::string where, std::string prefix) : j_(j), where_(std::move(where)), prefix_(std::move(prefix)) {
    if (!j_.is_object()) fail("", "an object", j_);
  }
  [[noreturn]] void fail(const std::string& key, const char* expected, const json& got) const {
    const std::string name = prefix_ + key;
    throw InvalidInput(where_ + ": " + (name.empty() ? std::string("the record") : "key '" + name + "'") +
                       ": expected " + expected + ", got " + type_name(got));
  }
  const json* find(const std::string& key) {
    seen_.push_back(key);
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  std::string text(const std::string& key) {
    const json* v = find(key);
    if (!v || v->is_null()) return {};
    if (!v->is_string()) fail(key, "a string", *v);
    return v->get<std::string>();
  }
  template <typename T>
  std::optional<T> whole(const std::string& key) {
    const json* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_number_integer()) fail(key, "a whole number", *v);
    return v->get<T>();
  }
  std::optional<double> number(const std::string& key) {
    const json* v = find(key);
    if (!v || v->is_null()) return std::nullopt;
    if (!v->is_number()) fail(key, "a number", *v);
    return v->get<double>();
  }
  // An object, or null when absent or null.
  json object(const std::string& key) {
    const json* v = find(key);
    if (!v || v->is_null()) return nullptr;
    if (!v->is_object()) fail(key, "an object", *v);
    return *v;
  }
  json rest() const {
    json out = json::object();
    for (const auto& [k, v] : j_.items()) {
      if (std::find(seen_.begin(), seen_.end(), k) == seen_.end()) out[k] = v;
    }
    return out;
  }

 private:
  const json& j_;
  std::string where_, prefix_;
  std::vector<std::string> seen_;
};

DataRecord read_data(const json& j, const std::string& where) {
  DataRecord d;
  if (j.is_null()) return d;
  Reader r(j, where, "data.");
  d.dir = r.text("dir");
  d.fingerprint = r.text("fingerprint");
  d.train_count = r.whole<int64_t>("train_count");
  d.val_count = r.whole<int64_t>("val_count");
  d.test_count = r.whole<int64_t>("test_count");
  const json split = r.object("split");
  if (split.is_object()) {
    for (const auto& [part, names] : split.items()) {
      if (!names.is_array()) r.fail("split." + part, "an array of file names", names);
      for (const auto& n : names) {
        if (!n.is_string()) r.fail("split." + part, "an array of file names", n);
        d.split[part].push_back(n.get<std::string>());
      }
    }
  }
  return d;
}

json write_data(const DataRecord& d) {
  json j = {{"dir", d.dir}, {"fingerprint", d.fingerprint}};
  if (d.train_count) j["train_count"] = *d.train_count;
  if (d.val_count) j["val_count"] = *d.val_count;
  if (d.test_count) j["test_count"] = *d.test_count;
  if (!d.split.empty()) j["split"] = d.split;
  return j;
}

TrainingFacts read_training(const json& j, const std::string& where) {
  Reader r(j, where, "training.");
  TrainingFacts t;
  const json options = r.object("options");
  if (options.is_object()) t.options = options;
  t.seed = r.whole<uint64_t>("seed").value_or(kDefaultSplitSeed);
  t.git = r.text("git");
  t.best_epoch = r.whole<int>("best_epoch");
  t.epochs_run = r.whole<int>("epochs_run");
  return t;
}

json write_training(const TrainingFacts& t) {
  json j = {{"options", t.options}, {"seed", t.seed}, {"git", t.git}};
  if (t.best_epoch) j["best_epoch"] = *t.best_epoch;
  if (t.epochs_run) j["epochs_run"] = *t.epochs_run;
  return j;
}

constexpr RecordPart kParts[] = {RecordPart::kValidation, RecordPart::kTest, RecordPart::kOutOfFold};

PartFigures read_parts(const json& j, const std::string& where, const std::string& key) {
  PartFigures p;
  if (j.is_null()) return p;
  Reader r(j, where, key + ".");
  for (RecordPart part : kParts) {
    json v = r.object(to_string(part));
    if (v.is_object()) p[part] = std::move(v);
  }
  return p;
}

json write_parts(const PartFigures& p) {
  json j = json::object();
  for (RecordPart part : kParts) {
    if (p[part]) j[to_string(part)] = *p[part];
  }
  return j;
}

}  // namespace

const char* to_string(RecordPart part) {
  switch (part) {
    case RecordPart::kValidation: return "validation";
    case RecordPart::kTest: return "test";
    case RecordPart::kOutOfFold: return "out_of_fold";
  }
  return "?";
}

std::optional<nlohmann::json>& PartFigures::operator[](RecordPart part) {
  return part == RecordPart::kValidation ? validation : part == RecordPart::kTest ? test : out_of_fold;
}

const std::optional<nlohmann::json>& PartFigures::operator[](RecordPart part) const {
  return part == RecordPart::kValidation ? validation : part == RecordPart::kTest ? test : out_of_fold;
}

SplitParams TrainingFacts::split_params() const {
  SplitParams s;
  s.seed = seed;
  Reader r(options, "training options", "training.options.");
  s.val_fraction = r.number("val_fraction").value_or(kDefaultValFraction);
  s.test_fraction = r.number("test_fraction").value_or(kDefaultTestFraction);
  s.max_photos = r.whole<int>("max_photos").value_or(0);
  return s;
}

nlohmann::json TrainingRecord::to_json() const {
  json j = unknown.is_object() ? unknown : json::object();
  if (!created.empty()) j["created"] = created;
  if (!version.empty()) j["version"] = version;
  j["data"] = write_data(data);
  if (training) j["training"] = write_training(*training);
  j["metrics"] = write_parts(metrics);
  const json g = write_parts(groups);
  if (!g.empty()) j["groups"] = g;
  j["recommended_policy"] = recommended_policy;
  if (!calibration.is_null()) j["calibration"] = calibration;
  const std::pair<const char*, const json*> facts[] = {{"pretrained_import", &pretrained_import},
                                                       {"flip_average_choice", &flip_average_choice},
                                                       {"cross_fit", &cross_fit},
                                                       {"recalibrated", &recalibrated}};
  for (const auto& [key, v] : facts) {
    if (!v->is_null()) j[key] = *v;
  }
  return j;
}

TrainingRecord TrainingRecord::from_json(const nlohmann::json& j, const std::string& where) {
  Reader r(j, where, "");
  TrainingRecord t;
  t.created = r.text("created");
  t.version = r.text("version");
  t.data = read_data(r.object("data"), where);
  const json training = r.object("training");
  if (training.is_object()) t.training = read_training(training, where);
  t.metrics = read_parts(r.object("metrics"), where, "metrics");
  t.groups = read_parts(r.object("groups"), where, "groups");
  t.calibration = r.object("calibration");
  t.recommended_policy = r.object("recommended_policy");
  t.pretrained_import = r.object("pretrained_import");
  t.flip_average_choice = r.object("flip_average_choice");
  t.cross_fit = r.object("cross_fit");
  t.recalibrated = r.object("recalibrated");
  t.unknown = r.rest();
  return t;
}

}  // namespace agegate
