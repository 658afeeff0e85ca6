// The .agm model file: magic, version, JSON header, pickled state dict, CRC-32.
#include "agegate/model/model_file.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <zlib.h>

#include <cmath>
#include <fstream>
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
    info.temperature_bands = parse_field(path, j, "temperature_bands", [](const nlohmann::json& v) {
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
    });
    try {
      info.calibration().validate();
    } catch (const InvalidInput& e) {
      fail(path, std::string("header field 'temperature_bands': ") + e.what());
    }
  }
  if (j.contains("metadata")) info.metadata = j["metadata"];
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

AgeCalibration ModelInfo::calibration() const {
  AgeCalibration c(temperature);
  c.bands = temperature_bands;
  return c;
}

void save_model_file(const fs::path& path, AgeNet& net, const ModelInfo& info) {
  nlohmann::json header = {{"config", info.config.to_json()},
                           {"preprocess", info.preprocess.to_json()},
                           {"temperature", info.temperature},
                           {"metadata", info.metadata}};
  if (!info.temperature_bands.empty()) header["temperature_bands"] = info.calibration().to_json()["bands"];
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

ModelInfo read_model_info(const fs::path& path) {
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
  return parse_header(path, std::string_view(rest.data(), l.json_length));
}

LoadedModel load_model_file(const fs::path& path) {
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

  c10::IValue blob;
  try {
    blob = torch::jit::pickle_load(std::vector<char>(bytes.begin() + l.weights_offset,
                                                bytes.begin() + l.weights_offset + l.weights_length));
  } catch (const std::exception& e) {
    fail(path, "weights cannot be read: " + std::string(e.what()).substr(0, 200));
  }
  if (!blob.isGenericDict()) fail(path, "weights are not a name -> tensor dictionary");
  auto dict = blob.toGenericDict();

  loaded.net = AgeNet(loaded.info.config);
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : state_of(loaded.net)) {
    auto it = dict.find(name);
    if (it == dict.end()) {
      fail(path, "weight '" + name + "' is missing for backbone " + loaded.info.config.backbone);
    }
    if (!it->value().isTensor()) fail(path, "weight '" + name + "' is not a tensor");
    const at::Tensor src = it->value().toTensor();
    if (src.sizes() != t.sizes()) {
      fail(path, "weight '" + name + "' has shape " + shape_of(src) + " but " +
                     loaded.info.config.backbone + " needs " + shape_of(t));
    }
    t.copy_(src);
    used.insert(name);
  }
  for (const auto& entry : dict) {
    const std::string name = entry.key().isString() ? entry.key().toStringRef() : "<non-string key>";
    if (!used.count(name)) {
      fail(path, "unexpected weight '" + name + "' for backbone " + loaded.info.config.backbone);
    }
  }
  loaded.net->eval();
  return loaded;
}

}  // namespace agegate
