// agegate_onnx_bench: the exported ONNX model beside LibTorch, on the same
// prepared photos (bench/onnx-speed.sh prints the table; the ONNX Runtime
// fixture of tests/export comes from its inputs).
//
//   agegate_onnx_bench timings [--model M] [--threads N] [--reps R] [--flip on|off]
//     p50 per face at batch 1 over the first 8 photos of labels.csv, prepared
//     once: LibTorch as predict/serve run it (channels-last weights and input,
//     agegate's normalisation and network) and OpenCV DNN on the exported
//     graph (normalisation, network, softmax and expected age inside).
//     Prints "name ms" lines.
//   agegate_onnx_bench inputs --out DIR [--model M]
//     DIR/one_pass.onnx and DIR/flip_average.onnx (the model exported both
//     ways), DIR/inputs.bin (the 8 prepared photos, [8,3,S,S] float32 RGB
//     0..255, little-endian) and DIR/job.json (photo names, input size, each
//     export's graph SHA-256): what tools/onnx-runtime/ runs.
#include <opencv2/core/utility.hpp>
#include <opencv2/dnn.hpp>
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/data/labels.h"
#include "agegate/eval/run_model.h"
#include "agegate/export/onnx_export.h"
#include "agegate/model/model_file.h"

namespace {
using namespace agegate;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPhotos = 8;
constexpr int kWarmup = 5;

struct Args {
  std::string command;
  fs::path model;
  fs::path out;
  int threads = 2;
  int reps = 200;
  bool flip = false;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) throw std::runtime_error("usage: agegate_onnx_bench timings|inputs [options] (see bench/onnx_bench.cpp)");
  a.command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model") a.model = v;
    else if (k == "--out") a.out = v;
    else if (k == "--threads") a.threads = std::stoi(v);
    else if (k == "--reps") a.reps = std::stoi(v);
    else if (k == "--flip") a.flip = parse_on_off(v, "--flip");
    else throw std::runtime_error("unknown option " + k);
  }
  if (a.model.empty()) a.model = default_model_path();
  return a;
}

double p50_ms(int reps, const std::function<void(int)>& f) {
  for (int i = 0; i < kWarmup; ++i) f(i);
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f(i);
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// The first photos of labels.csv, prepared: [8,3,S,S] uint8.
at::Tensor prepared_photos(const PreprocessSpec& spec, std::vector<std::string>* names) {
  LabelsOptions lo;
  lo.check_files = false;
  const auto rows = read_labels(default_data_dir(), lo).rows;
  std::vector<at::Tensor> u8;
  for (int i = 0; i < kPhotos; ++i) {
    u8.push_back(prepare(read_image(rows.at(static_cast<size_t>(i)).path), spec));
    if (names) names->push_back(rows[static_cast<size_t>(i)].file_name);
  }
  return at::stack(u8);
}

void timings(const Args& a) {
  at::set_num_threads(a.threads);
  cv::setNumThreads(a.threads);
  LoadedModel m = load_model_file(a.model, a.flip);
  const std::string onnx = onnx_model_bytes(m.net, m.info);
  const at::Tensor u8 = prepared_photos(m.info.preprocess, nullptr);
  std::printf("threads %d\nflip %s\n", a.threads, a.flip ? "on" : "off");
  {
    // As Estimator runs it (eval/estimator.cpp): channels-last weights and input.
    to_channels_last(m.net);
    m.net->eval();
    c10::InferenceMode guard;
    std::printf("libtorch_ms %.3f\n", p50_ms(a.reps, [&](int i) {
                  const at::Tensor one = u8.narrow(0, i % kPhotos, 1).contiguous(at::MemoryFormat::ChannelsLast);
                  forward_prepared(m.net, m.info.preprocess, one, c10::kCPU);
                }));
  }
  {
    cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx.data(), onnx.size());
    net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    const at::Tensor x = u8.to(at::kFloat).contiguous();
    const int s = m.info.preprocess.input_size;
    std::vector<cv::Mat> outs;
    std::printf("opencv_ms %.3f\n", p50_ms(a.reps, [&](int i) {
                  int dims[] = {1, 3, s, s};
                  cv::Mat blob(4, dims, CV_32F, x[i % kPhotos].data_ptr<float>());
                  net.setInput(blob, "image");
                  net.forward(outs, std::vector<cv::String>{"logits", "age"});
                }));
  }
}

void inputs(const Args& a) {
  if (a.out.empty()) throw std::runtime_error("inputs needs --out DIR");
  create_folder(a.out);
  nlohmann::json job = {{"model", fs::absolute(a.model).string()}};
  for (bool flip : {false, true}) {
    OnnxExportOptions o;
    o.flip_average = flip;
    const std::string name = flip ? "flip_average" : "one_pass";
    const OnnxExport e = export_onnx(a.model, a.out / (name + ".onnx"), o);
    job["exports"][name] = {{"file", name + ".onnx"}, {"graph_sha256", e.graph_sha256}};
    job["input_size"] = e.input_size;
  }
  std::vector<std::string> names;
  const at::Tensor x = prepared_photos(read_model_info(a.model).preprocess, &names).to(at::kFloat).contiguous();
  write_file_atomic(a.out / "inputs.bin",
                    std::string_view(static_cast<const char*>(x.data_ptr()), static_cast<size_t>(x.nbytes())));
  job["photos"] = names;
  job["inputs"] = "inputs.bin";
  write_file_atomic(a.out / "job.json", job.dump(2) + "\n");
  std::printf("%s\n", (a.out / "job.json").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    if (a.command == "timings") timings(a);
    else if (a.command == "inputs") inputs(a);
    else throw std::runtime_error("unknown command " + a.command + " (timings|inputs)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agegate_onnx_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
