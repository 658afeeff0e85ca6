// TensorFlow.js weights reader and the face ResNet import (see tfjs_import.h).
#include "agegate/model/tfjs_import.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/log.h"

namespace agegate {
namespace fs = std::filesystem;
namespace {

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ModelError("cannot read " + file.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// One tensor's bytes at `data + offset` -> float32 values; returns the bytes used.
size_t decode(const nlohmann::json& w, const std::string& data, size_t offset, const fs::path& manifest,
              TfjsTensor& out) {
  auto bad = [&](const std::string& why) -> ModelError {
    return ModelError(manifest.string() + ": tensor '" + out.name + "': " + why);
  };
  if (!w.contains("shape") || !w["shape"].is_array()) throw bad("no shape");
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (const auto& d : w["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) throw bad("bad shape " + w["shape"].dump());
    shape.push_back(d.get<int64_t>());
    count *= shape.back();
  }
  if (w.value("dtype", "") != "float32") throw bad("dtype " + w.value("dtype", std::string("?")) + " is not float32");
  std::vector<float> values(static_cast<size_t>(count));
  size_t width = 4;
  if (w.contains("quantization")) {
    const auto& q = w["quantization"];
    const std::string qtype = q.value("dtype", "");
    if (qtype != "uint8" && qtype != "uint16") throw bad("quantisation dtype '" + qtype + "' is not supported");
    if (!q.contains("scale") || !q.contains("min") || !q["scale"].is_number() || !q["min"].is_number()) {
      throw bad("quantisation without numeric scale and min");
    }
    width = qtype == "uint8" ? 1 : 2;
    if (offset + width * values.size() > data.size()) throw bad("the weights file ends inside it");
    const double scale = q["scale"].get<double>(), min = q["min"].get<double>();
    const auto* p = reinterpret_cast<const unsigned char*>(data.data() + offset);
    for (size_t i = 0; i < values.size(); ++i) {
      const double v = width == 1 ? p[i] : double(p[2 * i] | (p[2 * i + 1] << 8));  // little-endian
      values[i] = static_cast<float>(v * scale + min);
    }
    out.quantized = true;
  } else {
    if (offset + width * values.size() > data.size()) throw bad("the weights file ends inside it");
    std::memcpy(values.data(), data.data() + offset, width * values.size());
  }
  if (!at::from_blob(values.data(), {count}, at::kFloat).isfinite().all().item<bool>()) {
    throw bad("holds a non-finite value");
  }
  out.value = at::from_blob(values.data(), shape, at::kFloat).clone();
  return width * values.size();
}

}  // namespace

std::vector<TfjsTensor> read_tfjs_weights(const fs::path& manifest) {
  nlohmann::json groups;
  try {
    groups = nlohmann::json::parse(read_bytes(manifest));
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(manifest.string() + ": not a TensorFlow.js weights manifest: " + e.what());
  }
  if (!groups.is_array()) throw ModelError(manifest.string() + ": a weights manifest is a JSON array of groups");
  std::vector<TfjsTensor> tensors;
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& group = groups[g];
    if (!group.is_object() || !group.contains("paths") || !group.contains("weights") ||
        !group["paths"].is_array() || !group["weights"].is_array()) {
      throw ModelError(manifest.string() + ": group " + std::to_string(g) + " lacks 'paths' or 'weights'");
    }
    std::string data;  // the group's shards, concatenated in order
    for (const auto& p : group["paths"]) {
      if (!p.is_string()) throw ModelError(manifest.string() + ": a shard path is not a string");
      const fs::path rel = p.get<std::string>();
      if (rel.is_absolute() || rel.lexically_normal().string().rfind("..", 0) == 0) {
        throw ModelError(manifest.string() + ": shard path '" + rel.string() + "' leaves the manifest's folder");
      }
      try {
        data += read_bytes(manifest.parent_path() / rel);
      } catch (const ModelError& e) {
        throw ModelError(manifest.string() + ": shard '" + rel.string() + "': " + e.what());
      }
    }
    size_t offset = 0;
    for (const auto& w : group["weights"]) {
      TfjsTensor t;
      t.name = w.value("name", "");
      if (t.name.empty()) throw ModelError(manifest.string() + ": a tensor has no name");
      offset += decode(w, data, offset, manifest, t);
      tensors.push_back(std::move(t));
    }
    if (offset != data.size()) {
      throw ModelError(manifest.string() + ": group " + std::to_string(g) + " leaves " +
                       std::to_string(data.size() - offset) + " bytes of its weights unread");
    }
  }
  return tensors;
}

ImportReport import_face_resnet(BackboneImpl& net, const fs::path& manifest, at::Tensor* descriptor_fc) {
  if (net.name() != "face_resnet") throw ModelError("import_face_resnet: the backbone is " + net.name());
  if (!fs::is_regular_file(manifest)) throw ModelError("face ResNet weights not found: " + manifest.string());
  ImportReport report;
  report.source = "face_api_face_recognition";
  report.file = manifest.string();
  report.sha256 = sha256_file(manifest);
  report.sha256_checked = check_listed_sha256(manifest, report.sha256);
  const auto tensors = read_tfjs_weights(manifest);
  {
    // The manifest names its shard; record its digest too.
    const auto groups = nlohmann::json::parse(read_bytes(manifest));
    const fs::path shard = manifest.parent_path() / groups.at(0).at("paths").at(0).get<std::string>();
    report.data_file = shard.string();
    report.data_sha256 = sha256_file(shard);
    report.data_sha256_checked = check_listed_sha256(shard, report.data_sha256);
  }
  // By our names first ("conv64_down/conv1/conv/filters" -> "conv64_down.conv1.conv.weight"), then the
  // scale layers folded into their convolutions, then copied.
  std::map<std::string, at::Tensor> named;
  std::map<std::string, std::string> source;  // our name -> the file's, for messages
  for (const auto& t : tensors) {
    if (t.name == "fc") {
      if (t.value.dim() != 2 || t.value.size(0) != net.feature_dim()) {
        throw ModelError(manifest.string() + ": 'fc' does not take " + std::to_string(net.feature_dim()) +
                         " features");
      }
      if (descriptor_fc) *descriptor_fc = t.value;
      ++report.linears;
      continue;
    }
    std::string path = t.name;
    for (auto& c : path) c = c == '/' ? '.' : c;
    at::Tensor value = t.value;
    const std::string filters = ".conv.filters";
    if (path.size() > filters.size() && path.compare(path.size() - filters.size(), filters.size(), filters) == 0) {
      path = path.substr(0, path.size() - std::string("filters").size()) + "weight";
      if (value.dim() != 4) throw ModelError(manifest.string() + ": '" + t.name + "' is not a 4-d filter");
      value = value.permute({3, 2, 0, 1});
      ++report.convs;
    }
    named[path] = value;
    source[path] = t.name;
  }
  try {
    named = fold_face_resnet_scales(std::move(named));
  } catch (const ModelError& e) {
    throw ModelError(manifest.string() + ": " + e.what());
  }
  torch::NoGradGuard no_grad;
  auto params = net.named_parameters(/*recurse=*/true);
  std::map<std::string, bool> filled;
  for (const auto& [path, value] : named) {
    const std::string& file_name = source.count(path) ? source[path] : path;
    at::Tensor* dst = params.find(path);
    if (!dst) throw ModelError(manifest.string() + ": tensor '" + file_name + "' has no counterpart in our network");
    if (dst->sizes() != value.sizes()) {
      std::ostringstream msg;
      msg << manifest.string() << ": '" << file_name << "' has shape " << value.sizes() << " (our layout) but "
          << dst->sizes() << " in our network";
      throw ModelError(msg.str());
    }
    dst->copy_(value);
    filled[path] = true;
  }
  for (const auto& p : params) {
    if (!filled.count(p.key())) {
      throw ModelError(manifest.string() + ": our parameter " + p.key() + " got no weights from the file");
    }
  }
  if (report.convs != kFaceResNetConvs || report.linears != 1) {
    throw ModelError(manifest.string() + ": expected " + std::to_string(kFaceResNetConvs) +
                     " convs and the descriptor layer, found " + std::to_string(report.convs) + " and " +
                     std::to_string(report.linears));
  }
  log().info("imported the face ResNet from {} ({} convs, sha256 {}{}; weights {} sha256 {}{})", report.file,
             report.convs, report.sha256, report.sha256_checked ? ", matches SHA256SUMS" : "", report.data_file,
             report.data_sha256, report.data_sha256_checked ? ", matches SHA256SUMS" : "");
  return report;
}

}  // namespace agegate
