// Speed of the hot paths, each next to a reference measured in the same run:
//   decode:    TurboJPEG (ours)            vs OpenCV imdecode
//   loader:    800 real photos at 160 px, 2 worker threads vs the same decode + prepare on one thread
//   inference: MobileNetV2 (shipped arch)  vs ResNet-18 and ResNet-50 (the study's family), batch 1
//   training:  MobileNetV2 step            vs ResNet-18 step, batch 32: the trainer's own
//              train_step() (augment, normalise, forward, loss, backward, AdamW step);
//              face ResNet step at 150 px, batch 64, channels-last vs NCHW
// Run: build/bench/agegate_bench [--benchmark_filter=...]; AGEGATE_BENCH_SIZE sets the input side (default 128);
// AGEGATE_MALLOC=default keeps glibc's malloc thresholds (the reference for core/allocator.h).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>
#include <torch/optim/adamw.h>

#include <opencv2/imgcodecs.hpp>

#include <cstdlib>
#include <fstream>

#include "agegate/core/allocator.h"
#include "agegate/core/fs.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/data/labels.h"
#include "agegate/data/loader.h"
#include "agegate/data/preprocess.h"
#include "agegate/model/age_net.h"
#include "agegate/train/step.h"

namespace {
using namespace agegate;

int input_size() {
  const char* s = std::getenv("AGEGATE_BENCH_SIZE");
  return s && *s ? std::atoi(s) : 128;
}

const std::vector<uint8_t>& photo_bytes() {
  static std::vector<uint8_t> bytes = [] {
    std::ifstream in(default_data_dir() / "labels.csv");
    std::string line;
    std::getline(in, line);
    std::getline(in, line);
    return read_file_bytes(default_data_dir() / "final_files" / line.substr(0, line.find(',')));
  }();
  return bytes;
}

void BM_DecodeTurboJpeg(benchmark::State& state) {
  const auto& b = photo_bytes();
  for (auto _ : state) benchmark::DoNotOptimize(decode_image(b.data(), b.size(), "bench"));
}
BENCHMARK(BM_DecodeTurboJpeg);

void BM_DecodeOpenCvReference(benchmark::State& state) {
  const auto& b = photo_bytes();
  cv::Mat buf(1, static_cast<int>(b.size()), CV_8U, const_cast<uint8_t*>(b.data()));
  for (auto _ : state) benchmark::DoNotOptimize(cv::imdecode(buf, cv::IMREAD_COLOR));
}
BENCHMARK(BM_DecodeOpenCvReference);

void BM_Prepare(benchmark::State& state) {
  const auto& b = photo_bytes();
  Image img = decode_image(b.data(), b.size(), "bench");
  PreprocessSpec spec;
  spec.input_size = input_size();
  for (auto _ : state) benchmark::DoNotOptimize(prepare(img, spec));
}
BENCHMARK(BM_Prepare);

const std::vector<LabelRow>& loader_rows() {
  static constexpr size_t kPhotos = 800;
  static std::vector<LabelRow> rows = [] {
    LabelsOptions lo;
    lo.check_files = false;
    auto all = read_labels(default_data_dir(), lo).rows;
    all.resize(std::min(kPhotos, all.size()));
    return all;
  }();
  return rows;
}
constexpr int kLoaderSize = 160;

void BM_LoaderTwoWorkers(benchmark::State& state) {
  PreprocessSpec spec;
  spec.input_size = kLoaderSize;
  LoaderOptions o;
  o.workers = 2;
  Loader loader(loader_rows(), spec, o);
  int64_t n = 0;
  for (auto _ : state) {
    loader.start_epoch(0);
    while (auto b = loader.next()) n += b->images.size(0);
  }
  state.counters["photos/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LoaderTwoWorkers)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DecodePrepareSerialReference(benchmark::State& state) {
  PreprocessSpec spec;
  spec.input_size = kLoaderSize;
  int64_t n = 0;
  for (auto _ : state) {
    for (const auto& r : loader_rows()) {
      benchmark::DoNotOptimize(prepare(read_image(r.path), spec));
      ++n;
    }
  }
  state.counters["photos/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodePrepareSerialReference)->Unit(benchmark::kMillisecond)->UseRealTime();

void infer(benchmark::State& state, const char* backbone) {
  c10::InferenceMode guard;
  ModelConfig c;
  c.backbone = parse_backbone(backbone);
  AgeNet net(c);
  net->eval();
  at::Tensor x = at::randn({1, 3, input_size(), input_size()});
  for (int i = 0; i < 3; ++i) net->forward(x);
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(x));
  state.counters["img/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
void BM_InferMobileNetV2(benchmark::State& s) { infer(s, "mobilenet_v2"); }
void BM_InferResNet18Reference(benchmark::State& s) { infer(s, "resnet18"); }
void BM_InferResNet50Reference(benchmark::State& s) { infer(s, "resnet50"); }
BENCHMARK(BM_InferMobileNetV2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_InferResNet18Reference)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_InferResNet50Reference)->Unit(benchmark::kMillisecond)->UseRealTime();

void bench_train_step(benchmark::State& state, const char* backbone, int side = input_size(), int kBatch = 32,
                      bool channels_last = false) {
  ModelConfig c;
  c.backbone = parse_backbone(backbone);
  AgeNet net(c);
  if (channels_last) to_channels_last(net);
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-4));
  StepOptions so;
  so.spec.input_size = side;
  so.channels_last = channels_last;
  Batch batch;
  batch.images = at::randint(0, 256, {kBatch, 3, side, side}, at::kByte);
  batch.ages = at::randint(0, c.num_ages, {kBatch}, at::kFloat);
  train_step(net, opt, batch, so);
  for (auto _ : state) benchmark::DoNotOptimize(train_step(net, opt, batch, so));
  state.counters["img/s"] = benchmark::Counter(double(state.iterations()) * kBatch, benchmark::Counter::kIsRate);
}
void BM_TrainStepMobileNetV2(benchmark::State& s) { bench_train_step(s, "mobilenet_v2"); }
void BM_TrainStepResNet18Reference(benchmark::State& s) { bench_train_step(s, "resnet18"); }
BENCHMARK(BM_TrainStepMobileNetV2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);
BENCHMARK(BM_TrainStepResNet18Reference)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(5);
// The shipped recipe's step (face ResNet, 150 px, batch 64): channels-last (the trainer's default) against
// the contiguous NCHW layout (train --no-channels-last).
constexpr int kFaceSide = 150, kFaceBatch = 64;
void BM_TrainStepFaceResNetChannelsLast(benchmark::State& s) {
  bench_train_step(s, "face_resnet", kFaceSide, kFaceBatch, /*channels_last=*/true);
}
void BM_TrainStepFaceResNetNchwReference(benchmark::State& s) {
  bench_train_step(s, "face_resnet", kFaceSide, kFaceBatch, /*channels_last=*/false);
}
BENCHMARK(BM_TrainStepFaceResNetChannelsLast)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10);
BENCHMARK(BM_TrainStepFaceResNetNchwReference)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(10);

}  // namespace

int main(int argc, char** argv) {
  // As agegate does; AGEGATE_MALLOC=default measures glibc's defaults.
  const bool tuned = tune_allocator_for_tensors();
  benchmark::AddCustomContext("malloc", tuned ? "tuned for tensors (core/allocator.h)" : "glibc defaults");
  at::set_num_threads(default_thread_count());
  benchmark::AddCustomContext("threads", std::to_string(at::get_num_threads()));
  benchmark::AddCustomContext("input_size", std::to_string(input_size()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
