// The .agm model file: magic, version, JSON header, pickled state dict, CRC-32.
#include "agegate/model/model_file.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <zlib.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"

namespace agegate {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kMagic = "AGEGATE-MODEL\n";
constexpr size_t kU32 = 4;
constexpr size_t kU64 = 8;
constexpr size_t kVersionOffset = kMagic.size();
constexpr size_t kJsonLengthOffset = kVersionOffset + kU32;
constexpr size_t kJsonOffset = kJsonLengthOffset + kU64;
// A header this large is a corrupt length field, not a real header.
constexpr uint64_t kMaxJsonBytes = uint64_t(64) << 20;

void put_le(std::string& out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v |= uint64_t(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

uint32_t crc32_of(const char* data, size_t size) {
  return static_cast<uint32_t>(
      crc32_z(crc32_z(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(data), size));
}

[[noreturn]] void fail(const fs::path& path, const std::string& why) {
  throw ModelError("model file " + path.string() + ": " + why);
}

void need(const fs::path& path, uint64_t expected, uint64_t found) {
  if (found < expected) {
    fail(path, "truncated: expected " + std::to_string(expected) + " bytes, found " +
                   std::to_string(found));
  }
}

// Where the parts of a file lie, from its first bytes.
struct Layout {
  uint32_t version = 0;
  uint64_t json_length = 0;
  uint64_t weights_length = 0;
  uint64_t weights_offset = 0;
  uint64_t total = 0;  // whole file including the CRC
};

// Checks magic and version and reads the JSON length from `head`, which holds
// at least the first kJsonOffset bytes of the file (or all of a shorter file).
Layout read_prefix(const fs::path& path, std::string_view head, uint64_t file_size) {
  if (head.size() < kMagic.size() || head.substr(0, kMagic.size()) != kMagic) {
    fail(path, "not an agegate model file (wrong magic)");
  }
  need(path, kJsonOffset, file_size);
  Layout l;
  l.version = static_cast<uint32_t>(get_le(head.data() + kVersionOffset, kU32));
  if (l.version > kModelFormatVersion) {
    fail(path, "format version " + std::to_string(l.version) + " is newer than this program's " +
                   std::to_string(kModelFormatVersion) + "; update agegate to read it");
  }
  if (l.version == 0) fail(path, "corrupt: format version 0");
  l.json_length = get_le(head.data() + kJsonLengthOffset, kU64);
  if (l.json_length > kMaxJsonBytes) {
    fail(path, "corrupt: header length " + std::to_string(l.json_length) + " is implausible");
  }
  need(path, kJsonOffset + l.json_length + kU64, file_size);
  return l;
}

void finish_layout(const fs::path& path, Layout& l, const char* weights_length_field,
                   uint64_t file_size) {
  l.weights_length = get_le(weights_length_field, kU64);
  l.weights_offset = kJsonOffset + l.json_length + kU64;
  if (l.weights_length > file_size) {
    need(path, l.weights_offset + l.weights_length + kU32, file_size);
  }
  l.total = l.weights_offset + l.weights_length + kU32;
  need(path, l.total, file_size);
  if (file_size > l.total) {
    fail(path, "corrupt: " + std::to_string(file_size - l.total) + " unexpected bytes at the end");
  }
}

// A header field through its own parser, whose ModelError gains the file's name.
template <typename F>
auto parse_field(const fs::path& path, const nlohmann::json& j, const char* field, F parse) {
  if (!j.contains(field)) fail(path, std::string("header field '") + field + "' is missing");
  try {
    return parse(j.at(field));
  } catch (const ModelError& e) {
    fail(path, e.what());
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header field '") + field + "': " + e.what());
  }
}

std::vector<AgeCalibration::Band> parse_bands(const nlohmann::json& v) {
  if (!v.is_array()) throw ModelError("header field 'temperature_bands' is not an array");
  std::vector<AgeCalibration::Band> bands;
  for (const auto& b : v) {
    if (!b.is_object() || !b.contains("from") || !b.contains("to") || !b.contains("temperature") ||
        !b["from"].is_number_integer() || !b["to"].is_number_integer() || !b["temperature"].is_number()) {
      throw ModelError("header field 'temperature_bands': each band needs integer from/to and a temperature");
    }
    bands.push_back({b["from"].get<int>(), b["to"].get<int>(), b["temperature"].get<double>()});
  }
  return bands;
}

std::vector<InferenceVariant> parse_variants(const nlohmann::json& v) {
  const std::string where = "header field 'inference_variants'";
  if (!v.is_array() || v.empty()) throw ModelError(where + " is not a non-empty array");
  std::vector<InferenceVariant> out;
  for (size_t i = 0; i < v.size(); ++i) {
    const nlohmann::json& e = v[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (!e.is_object() || !e.contains("flip_average") || !e["flip_average"].is_boolean() ||
        !e.contains("temperature") || !e["temperature"].is_number()) {
      throw ModelError(at + " needs a boolean 'flip_average' and a number 'temperature'");
    }
    InferenceVariant iv;
    iv.flip_average = e["flip_average"].get<bool>();
    iv.temperature = e["temperature"].get<double>();
    if (e.contains("temperature_bands")) iv.temperature_bands = parse_bands(e["temperature_bands"]);
    try {
      iv.age_calibration().validate();
    } catch (const InvalidInput& err) {
      throw ModelError(at + ": " + err.what());
    }
    iv.recommended_policy = e.value("recommended_policy", nlohmann::json(nullptr));
    if (!iv.recommended_policy.is_null() && !iv.recommended_policy.is_object()) {
      throw ModelError(at + ": 'recommended_policy' is neither an object nor null");
    }
    iv.calibration = e.value("calibration", nlohmann::json(nullptr));
    for (const auto& seen : out) {
      if (seen.flip_average == iv.flip_average) throw ModelError(at + " repeats flip_average " + (iv.flip_average ? "on" : "off"));
    }
    out.push_back(std::move(iv));
  }
  return out;
}

ModelInfo parse_header(const fs::path& path, std::string_view json_text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("bad JSON header: ") + e.what());
  }
  if (!j.is_object()) fail(path, "bad JSON header: not an object");
  ModelInfo info;
  info.config = parse_field(path, j, "config", [](const nlohmann::json& v) { return ModelConfig::from_json(v); });
  info.preprocess =
      parse_field(path, j, "preprocess", [](const nlohmann::json& v) { return PreprocessSpec::from_json(v); });
  info.temperature = parse_field(path, j, "temperature", [](const nlohmann::json& v) {
    if (!v.is_number()) throw ModelError("header field 'temperature' is not a number");
    return v.get<double>();
  });
  if (!(std::isfinite(info.temperature) && info.temperature > 0)) {
    fail(path, "header field 'temperature' must be positive, got " + std::to_string(info.temperature));
  }
  if (j.contains("temperature_bands")) {
    info.temperature_bands = parse_field(path, j, "temperature_bands", parse_bands);
    try {
      info.calibration().validate();
    } catch (const InvalidInput& e) {
      fail(path, std::string("header field 'temperature_bands': ") + e.what());
    }
  }
  if (j.contains("metadata")) {
    try {
      info.record = TrainingRecord::from_json(j["metadata"], "header field 'metadata'");
    } catch (const InvalidInput& e) {
      fail(path, e.what());
    }
  }
  if (j.contains("inference_variants")) {
    info.variants = parse_field(path, j, "inference_variants", parse_variants);
  }
  return info;
}

std::string shape_of(const at::Tensor& t) {
  std::ostringstream s;
  s << t.sizes();
  return s.str();
}

// Parameters and buffers by name, as LibTorch names them.
std::vector<std::pair<std::string, at::Tensor>> state_of(AgeNet& net) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : net->named_parameters(/*recurse=*/true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : net->named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace

std::vector<bool> ModelInfo::flip_settings() const {
  if (variants.empty()) return {preprocess.flip_average};
  std::vector<bool> out;
  for (const auto& v : variants) out.push_back(v.flip_average);
  return out;
}

void ModelInfo::select_flip_average(bool flip) {
  const char* name = flip ? "on" : "off";
  if (variants.empty()) {
    if (preprocess.flip_average == flip) return;
    throw ModelError(std::string("flip averaging ") + name + ": this model was calibrated only with flip averaging " +
                     (flip ? "off" : "on") + " (written before one file held both; 'agegate calibrate' refits it)");
  }
  for (const auto& v : variants) {
    if (v.flip_average != flip) continue;
    preprocess.flip_average = flip;
    temperature = v.temperature;
    temperature_bands = v.temperature_bands;
    record.recommended_policy = v.recommended_policy;
    if (!v.calibration.is_null()) record.calibration = v.calibration;
    return;
  }
  throw ModelError(std::string("flip averaging ") + name + ": this model file holds no calibration for it");
}

bool parse_on_off(const std::string& value, const std::string& flag) {
  if (value == "on") return true;
  if (value == "off") return false;
  throw InvalidInput("option " + flag + ": on or off, got '" + value + "'");
}

namespace {
AgeCalibration calibration_of(double temperature, const std::vector<AgeCalibration::Band>& bands) {
  AgeCalibration c(temperature);
  c.bands = bands;
  return c;
}
}  // namespace

AgeCalibration ModelInfo::calibration() const { return calibration_of(temperature, temperature_bands); }

AgeCalibration InferenceVariant::age_calibration() const { return calibration_of(temperature, temperature_bands); }

void save_model_file(const fs::path& path, AgeNet& net, const ModelInfo& info) {
  nlohmann::json header = {{"config", info.config.to_json()},
                           {"preprocess", info.preprocess.to_json()},
                           {"temperature", info.temperature},
                           {"metadata", info.record.to_json()}};
  if (!info.temperature_bands.empty()) header["temperature_bands"] = info.calibration().to_json()["bands"];
  if (!info.variants.empty()) {
    nlohmann::json vs = nlohmann::json::array();
    for (const auto& v : info.variants) {
      nlohmann::json e = {{"flip_average", v.flip_average}, {"temperature", v.temperature},
                          {"recommended_policy", v.recommended_policy}, {"calibration", v.calibration}};
      if (!v.temperature_bands.empty()) e["temperature_bands"] = v.age_calibration().to_json()["bands"];
      vs.push_back(std::move(e));
    }
    header["inference_variants"] = std::move(vs);
  }
  const std::string json_text = header.dump();

  c10::Dict<std::string, at::Tensor> dict;
  for (auto& [name, t] : state_of(net)) dict.insert(name, t.detach().to(at::kCPU).contiguous());
  const std::vector<char> weights = torch::jit::pickle_save(c10::IValue(dict));

  std::string out(kMagic);
  put_le(out, kModelFormatVersion, kU32);
  put_le(out, json_text.size(), kU64);
  out += json_text;
  put_le(out, weights.size(), kU64);
  out.append(weights.data(), weights.size());
  put_le(out, crc32_of(out.data(), out.size()), kU32);
  write_file_atomic(path, out);
}

namespace {
void select(const fs::path& path, ModelInfo& info, std::optional<bool> flip) {
  if (!flip) return;
  try {
    info.select_flip_average(*flip);
  } catch (const ModelError& e) {
    fail(path, e.what());
  }
}
}  // namespace

ModelInfo read_model_info(const fs::path& path, std::optional<bool> flip) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail(path, "not found");
  const uint64_t size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (!in || ec) fail(path, "cannot be read");
  std::string head(kJsonOffset, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  Layout l = read_prefix(path, head, size);
  std::string rest(l.json_length + kU64, '\0');
  in.read(rest.data(), static_cast<std::streamsize>(rest.size()));
  if (static_cast<uint64_t>(in.gcount()) != rest.size()) fail(path, "cannot be read");
  finish_layout(path, l, rest.data() + l.json_length, size);
  ModelInfo info = parse_header(path, std::string_view(rest.data(), l.json_length));
  select(path, info, flip);
  return info;
}

LoadedModel load_model_file(const fs::path& path, std::optional<bool> flip) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail(path, "not found");
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const IoError& e) {
    fail(path, e.what());
  }
  Layout l = read_prefix(path, bytes, bytes.size());
  finish_layout(path, l, bytes.data() + kJsonOffset + l.json_length, bytes.size());
  const uint32_t stored = static_cast<uint32_t>(get_le(bytes.data() + l.total - kU32, kU32));
  if (crc32_of(bytes.data(), l.total - kU32) != stored) fail(path, "corrupt (CRC-32 mismatch)");

  LoadedModel loaded;
  loaded.info = parse_header(path, std::string_view(bytes.data() + kJsonOffset, l.json_length));
  select(path, loaded.info, flip);

  c10::IValue blob;
  try {
    blob = torch::jit::pickle_load(std::vector<char>(bytes.begin() + l.weights_offset,
                                                bytes.begin() + l.weights_offset + l.weights_length));
  } catch (const std::exception& e) {
    fail(path, "weights cannot be read: " + std::string(e.what()).substr(0, 200));
  }
  if (!blob.isGenericDict()) fail(path, "weights are not a name -> tensor dictionary");
  std::map<std::string, at::Tensor> dict;
  for (const auto& entry : blob.toGenericDict()) {
    const std::string name = entry.key().isString() ? entry.key().toStringRef() : "<non-string key>";
    if (!entry.value().isTensor()) fail(path, "weight '" + name + "' is not a tensor");
    dict[name] = entry.value().toTensor();
  }
  // Face ResNet files written before its scale layers were folded into the convolutions.
  if (loaded.info.config.backbone == Backbone::kFaceResNet) {
    try {
      dict = fold_face_resnet_scales(std::move(dict));
    } catch (const ModelError& e) {
      fail(path, e.what());
    } catch (const c10::Error& e) {
      fail(path, "separate scale layers cannot be folded: " + std::string(e.what_without_backtrace()).substr(0, 200));
    }
  }

  loaded.net = AgeNet(loaded.info.config);
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : state_of(loaded.net)) {
    auto it = dict.find(name);
    if (it == dict.end()) {
      fail(path, "weight '" + name + "' is missing for backbone " + to_string(loaded.info.config.backbone));
    }
    const at::Tensor& src = it->second;
    if (src.sizes() != t.sizes()) {
      fail(path, "weight '" + name + "' has shape " + shape_of(src) + " but " +
                     to_string(loaded.info.config.backbone) + " needs " + shape_of(t));
    }
    t.copy_(src);
    used.insert(name);
  }
  for (const auto& [name, t] : dict) {
    if (!used.count(name)) {
      fail(path, "unexpected weight '" + name + "' for backbone " + to_string(loaded.info.config.backbone));
    }
  }
  loaded.net->eval();
  return loaded;
}

}  // namespace agegate
