// Unpacks the int8 TorchScript MobileNetV2's packed conv/linear parameters
// (through the quantized:: unpack ops), dequantises them and copies them into
// our float MobileNetV2 by module path.
#include "agegate/model/imagenet_import.h"

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <openssl/evp.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "agegate/core/error.h"
#include "agegate/core/hex.h"
#include "agegate/core/log.h"

namespace agegate {
namespace fs = std::filesystem;
namespace {

// TorchScript's conv-param hoisting names attributes
// "_jit_pass_hoist_conv_packed_params.<module path>._packed_params.<n>".
constexpr std::string_view kHoistPrefix = "_jit_pass_hoist_conv_packed_params.";
constexpr std::string_view kPackedSuffix = "._packed_params";
constexpr const char* kShaSumsFile = "SHA256SUMS";

void use_qnnpack() {
  for (auto engine : at::globalContext().supportedQEngines()) {
    if (engine == at::QEngine::QNNPACK) {
      at::globalContext().setQEngine(at::QEngine::QNNPACK);
      return;
    }
  }
}

torch::jit::Module load_torchscript(const fs::path& file) {
  if (!fs::is_regular_file(file)) throw ModelError("ImageNet weights not found: " + file.string());
  // Packed params are rebuilt for the engine active at load time; the file
  // was made for qnnpack.
  use_qnnpack();
  try {
    return torch::jit::load(file.string(), c10::Device(c10::kCPU));
  } catch (const std::exception& e) {
    throw ModelError(file.string() + " is not a readable TorchScript file: " +
                     std::string(e.what()).substr(0, 200));
  }
}

// (weight, bias) from a packed-params object via quantized::<op>_unpack.
std::pair<at::Tensor, at::Tensor> unpack(const c10::IValue& packed, const char* op) {
  auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(op, "");
  torch::jit::Stack stack{packed};
  handle.callBoxed(&stack);
  at::Tensor w = stack.at(0).toTensor();
  at::Tensor b = stack.at(1).isNone() ? at::Tensor() : stack.at(1).toTensor();
  w = w.is_quantized() ? w.dequantize() : w.to(at::kFloat);
  return {w.contiguous(), b.defined() ? b.to(at::kFloat).contiguous() : b};
}

// "…features.2.conv.0.0._packed_params.4" -> "features.2.conv.0.0".
std::string conv_path(const std::string& attr) {
  std::string s = attr.substr(kHoistPrefix.size());
  auto pos = s.rfind(kPackedSuffix);
  return pos == std::string::npos ? s : s.substr(0, pos);
}

void copy_checked(at::Tensor& dst, const at::Tensor& src, const std::string& what,
                  const fs::path& file) {
  if (!src.defined()) throw ModelError(file.string() + ": " + what + " has no bias in the file");
  if (dst.sizes() != src.sizes()) {
    std::ostringstream msg;
    msg << file.string() << ": " << what << " has shape " << src.sizes() << " in the file but "
        << dst.sizes() << " in our network";
    throw ModelError(msg.str());
  }
  dst.copy_(src);
}

}  // namespace

nlohmann::json ImportReport::to_json() const {
  nlohmann::json j = {{"source", source}, {"file", file}, {"sha256", sha256}, {"sha256_checked", sha256_checked},
                      {"convs", convs}};
  if (!data_file.empty()) {
    j["data_file"] = data_file;
    j["data_sha256"] = data_sha256;
    j["data_sha256_checked"] = data_sha256_checked;
  }
  return j;
}

bool check_listed_sha256(const fs::path& file, const std::string& digest) {
  // The file's own folder first, then its parent's (where an entry names
  // "folder/file"), as in ../shared/weights/SHA256SUMS.
  fs::path entry_name = file.filename();
  for (fs::path dir = file.parent_path(); ; entry_name = dir.filename() / entry_name, dir = dir.parent_path()) {
    const fs::path sums = dir / kShaSumsFile;
    std::ifstream in(sums);
    std::string line;
    while (in && std::getline(in, line)) {
      std::istringstream fields(line);
      std::string hash, entry;
      if (!(fields >> hash >> entry)) continue;
      if (!entry.empty() && entry[0] == '*') entry.erase(0, 1);  // binary-mode marker
      if (entry != entry_name.generic_string()) continue;
      if (hash != digest) {
        throw ModelError(file.string() + ": SHA-256 " + digest + " differs from " + hash + " listed in " +
                         sums.string());
      }
      return true;
    }
    if (entry_name.has_parent_path() || dir.empty() || dir == dir.parent_path()) return false;
  }
}

std::string sha256_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read " + path.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw IoError("OpenSSL SHA-256 unavailable");
  }
  constexpr size_t kChunk = 1 << 16;
  std::vector<char> buf(kChunk);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw IoError("error reading " + path.string());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  return to_hex(md, len);
}

ImportReport import_mobilenet_v2_imagenet(BackboneImpl& mobilenet, const fs::path& file,
                                          at::Tensor* classifier_weight,
                                          at::Tensor* classifier_bias) {
  if (mobilenet.name() != "mobilenet_v2") {
    throw InvalidInput("ImageNet import needs a mobilenet_v2 backbone, not " + mobilenet.name());
  }
  ImportReport report;
  report.source = "imagenet_mobilenet_v2";
  report.file = file.string();
  if (!fs::is_regular_file(file)) throw ModelError("ImageNet weights not found: " + file.string());
  report.sha256 = sha256_file(file);
  report.sha256_checked = check_listed_sha256(file, report.sha256);
  torch::jit::Module ts = load_torchscript(file);

  auto params = mobilenet.named_parameters(/*recurse=*/true);
  std::map<std::string, bool> filled;
  torch::NoGradGuard no_grad;
  for (const auto& attr : ts.named_attributes(/*recurse=*/true)) {
    if (!attr.value.isObject()) continue;
    const std::string type = attr.value.type()->str();
    const bool is_conv = type.find("Conv2dPackedParamsBase") != std::string::npos;
    const bool is_linear = type.find("LinearPackedParamsBase") != std::string::npos;
    if (is_conv) {
      if (attr.name.rfind(kHoistPrefix, 0) != 0) continue;
      const std::string path = conv_path(attr.name);
      at::Tensor* w = params.find(path + ".0.weight");
      std::string prefix = path + ".0";
      if (!w) {  // a bare conv (projection): the path names the conv itself
        w = params.find(path + ".weight");
        prefix = path;
      }
      if (!w) throw ModelError(file.string() + ": conv " + path + " has no counterpart in our network");
      auto [fw, fb] = unpack(attr.value, "quantized::conv2d_unpack");
      copy_checked(*w, fw, prefix + ".weight", file);
      copy_checked(*params.find(prefix + ".bias"), fb, prefix + ".bias", file);
      filled[prefix] = true;
      ++report.convs;
    } else if (is_linear) {
      auto [fw, fb] = unpack(attr.value, "quantized::linear_unpack");
      if (classifier_weight) *classifier_weight = fw;
      if (classifier_bias) *classifier_bias = fb;
      ++report.linears;
    }
  }
  for (const auto& p : params) {
    const std::string& n = p.key();
    const std::string layer = n.substr(0, n.rfind('.'));
    if (!filled.count(layer)) {
      throw ModelError(file.string() + ": our parameter " + n + " got no weights from the file");
    }
  }
  if (report.convs != kMobileNetConvs || report.linears != 1) {
    throw ModelError(file.string() + ": expected " + std::to_string(kMobileNetConvs) +
                     " convs and 1 linear, found " + std::to_string(report.convs) + " and " +
                     std::to_string(report.linears));
  }
  log().info("imported ImageNet MobileNetV2 from {} ({} convs, {} linear, sha256 {}{})",
             report.file, report.convs, report.linears, report.sha256,
             report.sha256_checked ? ", matches SHA256SUMS" : "");
  return report;
}

at::Tensor torchscript_imagenet_logits(const fs::path& file, const at::Tensor& x) {
  torch::jit::Module ts = load_torchscript(file);
  ts.eval();
  c10::InferenceMode guard;
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < x.size(0); ++i) {
    rows.push_back(ts.forward({x.narrow(0, i, 1).contiguous()}).toTensor());
  }
  return at::cat(rows, 0);
}

}  // namespace agegate
