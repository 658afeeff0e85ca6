// ONNX export (see onnx_export.h): a GraphSink that writes ONNX nodes, the
// normalisation, flip averaging and expected age around the network, and
// the metadata a consumer needs.
#include "agegate/export/onnx_export.h"

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>
#include <openssl/evp.h>
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <array>
#include <cstring>
#include <map>
#include <set>
#include <type_traits>
#include <vector>

#include "agegate/core/error.h"
#include "agegate/core/fs.h"
#include "agegate/core/hex.h"
#include "agegate/core/run_info.h"
#include "agegate/model/graph_sink.h"

namespace agegate {
namespace {
namespace fs = std::filesystem;

// ONNX's IR version of opset 13's release (ONNX 1.8); every runtime that
// reads opset 13 reads it.
constexpr int64_t kIrVersion = 7;

std::string hex_sha256(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    throw ModelError("OpenSSL SHA-256 unavailable");
  }
  return to_hex(md, len);
}

void set_attr(onnx::NodeProto& n, const std::string& name, int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void set_attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void set_attr(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

class OnnxSink : public GraphSink {
 public:
  // `names`: the network's parameters and buffers by storage, so the graph's
  // initialisers carry their module paths and the flip branch shares them.
  OnnxSink(onnx::GraphProto& graph, std::map<const void*, std::string> names)
      : graph_(graph), names_(std::move(names)) {}

  std::string conv(const std::string& x, const at::Tensor& w, const at::Tensor& b, const Conv& spec) override {
    std::vector<std::string> in{x, tensor(w)};
    if (b.defined()) in.push_back(tensor(b));
    auto& n = node("Conv", in);
    set_attr(n, "kernel_shape", std::vector<int64_t>{w.size(2), w.size(3)});
    set_attr(n, "strides", std::vector<int64_t>{spec.stride, spec.stride});
    set_attr(n, "pads", std::vector<int64_t>(4, spec.pad));
    set_attr(n, "group", spec.groups);
    return n.output(0);
  }
  std::string batch_norm(const std::string& x, const at::Tensor& w, const at::Tensor& b, const at::Tensor& mean,
                         const at::Tensor& var, double eps) override {
    auto& n = node("BatchNormalization", {x, tensor(w), tensor(b), tensor(mean), tensor(var)});
    set_attr(n, "epsilon", static_cast<float>(eps));
    return n.output(0);
  }
  std::string relu(const std::string& x) override { return node("Relu", {x}).output(0); }
  // relu(x - lo) - relu(x - hi) + lo rather than Clip: OpenCV 4.6 reads only
  // the attribute form of Clip (opset < 11), which opset 13 no longer has.
  // Exact for ReLU6 (lo = 0) where x - 6 is exact (|x| < 12); within an ulp of x above.
  std::string clip(const std::string& x, float lo, float hi) override {
    const std::string below = lo == 0.0f ? relu(x) : relu(node("Sub", {x, scalar(lo)}).output(0));
    const std::string above = relu(node("Sub", {x, scalar(hi)}).output(0));
    const std::string y = node("Sub", {below, above}).output(0);
    return lo == 0.0f ? y : node("Add", {y, scalar(lo)}).output(0);
  }
  std::string add(const std::string& a, const std::string& b) override { return node("Add", {a, b}).output(0); }
  std::string max_pool(const std::string& x, int64_t kernel, int64_t stride, int64_t pad) override {
    auto& n = node("MaxPool", {x});
    set_attr(n, "kernel_shape", std::vector<int64_t>{kernel, kernel});
    set_attr(n, "strides", std::vector<int64_t>{stride, stride});
    set_attr(n, "pads", std::vector<int64_t>(4, pad));
    return n.output(0);
  }
  std::string avg_pool(const std::string& x, int64_t kernel, int64_t stride) override {
    auto& n = node("AveragePool", {x});
    set_attr(n, "kernel_shape", std::vector<int64_t>{kernel, kernel});
    set_attr(n, "strides", std::vector<int64_t>{stride, stride});
    return n.output(0);
  }
  std::string pad_end(const std::string& x, int64_t channels, int64_t rows, int64_t cols) override {
    // ONNX Pad: all axes' begins, then all axes' ends.
    const std::vector<int64_t> pads{0, 0, 0, 0, 0, channels, rows, cols};
    return node("Pad", {x, constant(pads, {8})}).output(0);
  }
  std::string global_mean(const std::string& x) override {
    auto& n = node("Flatten", {node("GlobalAveragePool", {x}).output(0)});
    set_attr(n, "axis", int64_t{1});
    return n.output(0);
  }
  std::string linear(const std::string& x, const at::Tensor& w, const at::Tensor& b) override {
    auto& n = node("Gemm", {x, tensor(w), tensor(b)});
    set_attr(n, "transB", int64_t{1});
    return n.output(0);
  }

  // An op with one output, named after the op and its place.
  onnx::NodeProto& node(const std::string& op, const std::vector<std::string>& inputs) {
    onnx::NodeProto* n = graph_.add_node();
    const std::string name = op + "_" + std::to_string(graph_.node_size());
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(name);
    return *n;
  }
  // The last node's output gets `name` (a graph output).
  void name_last_output(const std::string& name) {
    onnx::NodeProto* last = graph_.mutable_node(graph_.node_size() - 1);
    last->set_output(0, name);
  }
  // Broadcast constants: scalars as shape [1] and per-channel values as
  // [C,1,1]; OpenCV 4.6 refuses shape [] and [1,C,1,1] beside a feature map.
  std::string scalar(float v) { return constant(std::vector<float>{v}, {1}); }
  template <typename T>
  std::string constant(const std::vector<T>& values, const std::vector<int64_t>& dims) {
    const at::ScalarType type = std::is_same_v<T, float> ? at::kFloat : at::kLong;
    at::Tensor t = at::empty(dims, at::TensorOptions().dtype(type));
    std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(T));
    return add_initializer(t, "const_" + std::to_string(graph_.initializer_size()));
  }

 private:
  // A parameter or buffer of the network, once, under its module path.
  std::string tensor(const at::Tensor& t) {
    auto it = names_.find(t.data_ptr());
    if (it == names_.end()) throw ModelError("ONNX export: a tensor that is not one of the network's");
    if (written_.insert(it->second).second) add_initializer(t, it->second);
    return it->second;
  }
  std::string add_initializer(const at::Tensor& t, const std::string& name) {
    onnx::TensorProto* p = graph_.add_initializer();
    p->set_name(name);
    for (int64_t d : t.sizes()) p->add_dims(d);
    const bool is_float = t.is_floating_point();
    p->set_data_type(is_float ? onnx::TensorProto::FLOAT : onnx::TensorProto::INT64);
    // Standard (NCHW) order whatever the layout in memory; little-endian as ONNX stores raw data.
    const at::Tensor c = t.detach().to(at::kCPU, is_float ? at::kFloat : at::kLong).contiguous();
    p->set_raw_data(c.data_ptr(), static_cast<size_t>(c.nbytes()));
    return name;
  }

  onnx::GraphProto& graph_;
  std::map<const void*, std::string> names_;
  std::set<std::string> written_;
};

void declare_value(onnx::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims,
                   const std::string& doc) {
  v->set_name(name);
  v->set_doc_string(doc);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = t->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0) {
      dim->set_dim_param("N");
    } else {
      dim->set_dim_value(d);
    }
  }
}

// What a consumer needs beside the graph, each value a JSON text.
void write_metadata(onnx::ModelProto& m, const ModelInfo& info) {
  const nlohmann::json record = info.record.to_json();
  nlohmann::json data = record.at("data");
  if (data.contains("split") && data["split"].is_object()) {
    // The split's file lists stay in the .agm; their sizes travel.
    nlohmann::json sizes = nlohmann::json::object();
    for (const auto& [part, names] : data["split"].items()) sizes[part] = names.size();
    data["split"] = {{"photos", sizes}};
  }
  const nlohmann::json props = {
      {"agegate.version", {{"version", agegate_version()}, {"git", git_revision()}}},
      {"agegate.preprocess", info.preprocess.to_json()},
      {"agegate.calibration", info.calibration().to_json()},
      {"agegate.recommended_policy", info.record.recommended_policy},
      {"agegate.data", data},
      {"agegate.training", record.value("training", nlohmann::json())},
      {"agegate.outputs",
       {{"logits", "[N,K] over ages 0..K-1 (K = " + std::to_string(info.config.num_ages) +
                       "): the age distribution is softmax(logits / t), t from agegate.calibration (the band whose "
                       "raw estimate holds the face's, else the global temperature)"},
        {"age", "[N] expected age of softmax(logits / temperature) at agegate.calibration's global temperature"},
        {"image", "[N,3,S,S] float32 RGB 0..255, S = agegate.preprocess input_size, prepared as "
                  "agegate.preprocess says (centre crop, antialiased bilinear resize)"}}},
  };
  for (const auto& [key, value] : props.items()) {
    auto* p = m.add_metadata_props();
    p->set_key(key);
    p->set_value(value.dump());
  }
}

}  // namespace

std::string onnx_model_bytes(AgeNet& net, const ModelInfo& info, OnnxExport* facts) {
  c10::InferenceMode guard;
  net->eval();
  const PreprocessSpec& spec = info.preprocess;
  const int64_t s = spec.input_size, k = net->config().num_ages;

  onnx::ModelProto m;
  m.set_ir_version(kIrVersion);
  m.set_producer_name("agegate");
  m.set_producer_version(agegate_version());
  m.set_doc_string(std::string("agegate age estimation: ") + to_string(net->config().backbone) + ", flip averaging " +
                   (spec.flip_average ? "on" : "off"));
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxOpset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("agegate_age");
  declare_value(g.add_input(), "image", {-1, 3, s, s}, "RGB 0..255, float32");

  std::map<const void*, std::string> names;
  for (const auto& p : net->named_parameters()) names[p.value().data_ptr()] = p.key();
  for (const auto& b : net->named_buffers()) names[b.value().data_ptr()] = b.key();
  OnnxSink sink(g, std::move(names));

  // The normalisation as normalise() computes it: x / 255, - mean, / std.
  std::vector<float> mean(spec.mean.begin(), spec.mean.end()), sd(spec.std.begin(), spec.std.end());
  std::string x = sink.node("Div", {"image", sink.scalar(255.0f)}).output(0);
  x = sink.node("Sub", {x, sink.constant(mean, {3, 1, 1})}).output(0);
  x = sink.node("Div", {x, sink.constant(sd, {3, 1, 1})}).output(0);
  std::string logits = net->describe(sink, x, s);
  if (spec.flip_average) {
    // The mirror image: each row times the anti-diagonal [S,S] matrix (one
    // 1 per column, so exact). Slice with step -1 or a Gather of S indices
    // say it more directly, but OpenCV 4.6 reads neither.
    std::vector<float> reverse(static_cast<size_t>(s * s), 0.0f);
    for (int64_t i = 0; i < s; ++i) reverse[static_cast<size_t>(i * s + (s - 1 - i))] = 1.0f;
    const std::string mirrored = sink.node("MatMul", {x, sink.constant(reverse, {s, s})}).output(0);
    const std::string other = net->describe(sink, mirrored, s);
    logits = sink.node("Div", {sink.add(logits, other), sink.scalar(2.0f)}).output(0);
  }
  sink.name_last_output("logits");
  std::string scaled =
      sink.node("Div", {"logits", sink.scalar(static_cast<float>(info.temperature))}).output(0);
  auto& softmax = sink.node("Softmax", {scaled});
  set_attr(softmax, "axis", int64_t{1});
  std::vector<float> ages(static_cast<size_t>(k));
  for (int64_t a = 0; a < k; ++a) ages[static_cast<size_t>(a)] = static_cast<float>(a);
  const std::string expected = sink.node("MatMul", {softmax.output(0), sink.constant(ages, {k, 1})}).output(0);
  sink.node("Reshape", {expected, sink.constant(std::vector<int64_t>{-1}, {1})});
  sink.name_last_output("age");
  declare_value(g.add_output(), "logits", {-1, k}, "logits over ages 0.." + std::to_string(k - 1));
  declare_value(g.add_output(), "age", {-1}, "expected age at the global temperature");
  write_metadata(m, info);

  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    throw ModelError(std::string("ONNX checker refused the exported graph: ") + e.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw ModelError("ONNX export: the model does not serialise (over 2 GB?)");
  if (facts != nullptr) {
    facts->flip_average = spec.flip_average;
    facts->opset = kOnnxOpset;
    facts->nodes = g.node_size();
    facts->bytes = static_cast<int64_t>(bytes.size());
    facts->input_size = static_cast<int>(s);
    facts->graph_sha256 = hex_sha256(g.SerializeAsString());
  }
  return bytes;
}

OnnxExport export_onnx(const fs::path& model, const fs::path& out, const OnnxExportOptions& options) {
  LoadedModel loaded = load_model_file(model, options.flip_average);
  OnnxExport facts;
  const std::string bytes = onnx_model_bytes(loaded.net, loaded.info, &facts);
  write_file_atomic(out, bytes);
  return facts;
}

}  // namespace agegate
