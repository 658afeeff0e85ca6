// agegate_speed: the till's speed figures, for the fast path or the reference
// path (the code as it was before the speed work, still selectable), and the
// accuracy check that the fast path costs no accuracy. bench/speed.sh runs
// both paths in alternation and prints the table with ratios.
//
//   agegate_speed timings --path fast|reference [--threads N] [--reps R]
//     p50 of: one aligned face crop through Estimator (batch 1); YuNet on a
//     640x480 frame; one 640x480 JPEG frame decoded and run through the
//     FacePipeline (detect, align, estimate, decide). Prints "name ms" lines.
//   agegate_speed accuracy [--photos N] [--scale S]
//     the shipped model's validation photos, each pasted (scaled by S) at a
//     varying place into a grey 640x480 frame, through the reference and the
//     fast pipeline: faces found, MAE, mean |difference| and decisions that
//     differ; the aligned photos themselves (no detection) for comparison.
//
// The environment half of the reference (OMP_WAIT_POLICY=PASSIVE, glibc's
// malloc defaults via AGEGATE_MALLOC=default) is set by bench/speed.sh.
#include <opencv2/core/utility.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "agegate/core/allocator.h"
#include "agegate/core/run_info.h"
#include "agegate/data/image.h"
#include "agegate/data/labels.h"
#include "agegate/eval/estimator.h"
#include "agegate/eval/evaluate.h"
#include "agegate/model/model_file.h"
#include "agegate/pipeline/face_pipeline.h"
#include "agegate/vision/face_detector.h"

namespace {
using namespace agegate;
using Clock = std::chrono::steady_clock;

constexpr int kFrameWidth = 640;
constexpr int kFrameHeight = 480;
constexpr int kGrey = 128;
constexpr int kWarmup = 5;
constexpr int kJpegQuality = 90;

struct Args {
  std::string command;
  std::string path = "fast";
  int threads = 2;
  int reps = 200;
  int photos = 0;  // 0: every validation photo
  double scale = 1.0;
};

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) throw std::runtime_error("usage: agegate_speed timings|accuracy [options] (see bench/speed_bench.cpp)");
  a.command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--path") a.path = v;
    else if (k == "--threads") a.threads = std::stoi(v);
    else if (k == "--reps") a.reps = std::stoi(v);
    else if (k == "--photos") a.photos = std::stoi(v);
    else if (k == "--scale") a.scale = std::stod(v);
    else throw std::runtime_error("unknown option " + k);
  }
  if (a.path != "fast" && a.path != "reference") throw std::runtime_error("--path must be fast or reference");
  return a;
}

double p50_ms(int reps, const std::function<void()>& f) {
  for (int i = 0; i < kWarmup; ++i) f();
  std::vector<double> t;
  t.reserve(static_cast<size_t>(reps));
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + t.size() / 2, t.end());
  return t[t.size() / 2];
}

// `photo` (scaled by `scale`) on grey at (x, y) of a 640x480 frame.
Image frame_with(const Image& photo, double scale, int x, int y) {
  cv::Mat src(photo.height, photo.width, CV_8UC3, const_cast<uint8_t*>(photo.rgb.data())), scaled;
  cv::resize(src, scaled, cv::Size(), scale, scale, scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
  Image f;
  f.width = kFrameWidth;
  f.height = kFrameHeight;
  f.rgb.assign(static_cast<size_t>(kFrameWidth) * kFrameHeight * 3, kGrey);
  cv::Mat dst(kFrameHeight, kFrameWidth, CV_8UC3, f.rgb.data());
  x = std::clamp(x, 0, kFrameWidth - scaled.cols);
  y = std::clamp(y, 0, kFrameHeight - scaled.rows);
  scaled.copyTo(dst(cv::Rect(x, y, scaled.cols, scaled.rows)));
  return f;
}

std::vector<uint8_t> jpeg_of(const Image& img) {
  cv::Mat rgb(img.height, img.width, CV_8UC3, const_cast<uint8_t*>(img.rgb.data())), bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uint8_t> out;
  cv::imencode(".jpg", bgr, out, {cv::IMWRITE_JPEG_QUALITY, kJpegQuality});
  return out;
}

LabelRow first_photo() {
  LabelsOptions lo;
  lo.check_files = false;
  return read_labels(default_data_dir(), lo).rows.at(0);
}

PipelineOptions pipeline_options(const std::string& path, int threads, DetectMode detect) {
  PipelineOptions o;
  o.detect = detect;
  o.threads = threads;
  if (path == "reference") o.use_reference_path();
  return o;
}

void timings(const Args& a) {
  const Image face = read_image(first_photo().path);
  const Image frame = frame_with(face, 1.0, (kFrameWidth - face.width) / 2, (kFrameHeight - face.height) / 2);
  // One source for what each path is: PipelineOptions::use_reference_path().
  const PipelineOptions po = pipeline_options(a.path, a.threads, DetectMode::kOn);
  std::printf("path %s\nthreads %d\n", a.path.c_str(), a.threads);
  {
    EstimatorOptions eo;
    eo.threads = a.threads;
    eo.channels_last = po.channels_last;
    Estimator est(default_model_path(), eo);
    const std::vector<Image> one{face};
    std::printf("estimate_ms %.3f\n", p50_ms(a.reps, [&] { est.estimate(one); }));
  }
  {
    cv::setNumThreads(a.threads);
    FaceDetectorOptions fo;
    fo.max_side = po.detect_max_side;
    FaceDetector det(fo);
    if (det.detect(frame).empty()) throw std::runtime_error("no face found in the benchmark frame");
    std::printf("detect_ms %.3f\n", p50_ms(a.reps, [&] { det.detect(frame); }));
  }
  {
    FacePipeline pipeline(po);
    const std::vector<uint8_t> jpeg = jpeg_of(frame);
    std::printf("frame_ms %.3f\n", p50_ms(a.reps, [&] {
                  Image img = decode_image(jpeg.data(), jpeg.size(), "frame");
                  if (pipeline.run(img).faces.empty()) throw std::runtime_error("no face in the frame");
                }));
  }
}

struct Tally {
  int found = 0;
  double abs_error = 0;
  double mae() const { return found ? abs_error / found : NAN; }
};

void accuracy(const Args& a) {
  const ModelInfo info = read_model_info(default_model_path());
  LabelsOptions lo;
  ModelSplit ms = model_split(info, read_labels(default_data_dir(), lo).rows);
  if (!ms.same_data) throw std::runtime_error("the data is not the shipped model's: its validation part is unknown");
  std::vector<LabelRow> rows = ms.split.val;
  if (a.photos > 0 && static_cast<size_t>(a.photos) < rows.size()) rows.resize(static_cast<size_t>(a.photos));
  FacePipeline ref(pipeline_options("reference", a.threads, DetectMode::kOn));
  FacePipeline fast(pipeline_options("fast", a.threads, DetectMode::kOn));
  FacePipeline crops(pipeline_options("fast", a.threads, DetectMode::kOff));
  Tally t_ref, t_fast, t_crop;
  int both = 0, decisions_differ = 0;
  double abs_diff = 0, max_diff = 0;
  // The reference against itself on the frame moved by 3 pixels: how much a
  // detector's box alone moves the estimate (the scale of "no difference").
  int shifted_both = 0, shifted_differ = 0;
  double shifted_diff = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Image photo = read_image(rows[i].path);
    const int side = static_cast<int>(std::lround(photo.width * a.scale));
    // A different place for every photo, over the whole frame.
    const int x = static_cast<int>((i * 97) % static_cast<size_t>(std::max(1, kFrameWidth - side)));
    const int y = static_cast<int>((i * 61) % static_cast<size_t>(std::max(1, kFrameHeight - side)));
    const Image frame = frame_with(photo, a.scale, x, y);
    const PhotoResult r = ref.run(frame), f = fast.run(frame), c = crops.run(photo);
    const double age = rows[i].age;
    auto add = [age](Tally& t, const PhotoResult& p) {
      if (p.faces.empty()) return;
      ++t.found;
      t.abs_error += std::abs(p.faces[0].dist.mean() - age);
    };
    add(t_ref, r);
    add(t_fast, f);
    add(t_crop, c);
    if (!r.faces.empty() && !f.faces.empty()) {
      ++both;
      const double d = std::abs(r.faces[0].dist.mean() - f.faces[0].dist.mean());
      abs_diff += d;
      max_diff = std::max(max_diff, d);
      decisions_differ += r.faces[0].decision.decision != f.faces[0].decision.decision;
    }
    const PhotoResult r2 = ref.run(frame_with(photo, a.scale, x + 3, y + 3));
    if (!r.faces.empty() && !r2.faces.empty()) {
      ++shifted_both;
      shifted_diff += std::abs(r.faces[0].dist.mean() - r2.faces[0].dist.mean());
      shifted_differ += r.faces[0].decision.decision != r2.faces[0].decision.decision;
    }
    if ((i + 1) % 100 == 0) std::fprintf(stderr, "accuracy: %zu/%zu photos\n", i + 1, rows.size());
  }
  const auto n = static_cast<int>(rows.size());
  std::printf("validation photos %d in 640x480 frames (photo scaled %.2f: %d px)\n", n, a.scale,
              static_cast<int>(std::lround(200 * a.scale)));
  std::printf("%-34s %8s %8s\n", "path", "found", "MAE");
  std::printf("%-34s %8d %8.3f\n", "aligned photos, no detection", t_crop.found, t_crop.mae());
  std::printf("%-34s %8d %8.3f\n", "frames, reference (detect 640)", t_ref.found, t_ref.mae());
  std::printf("%-34s %8d %8.3f\n", "frames, fast (detect 320)", t_fast.found, t_fast.mae());
  std::printf("fast vs reference on %d frames both found: mean |difference| %.3f years, max %.2f, decisions differ %d (%.2f%%)\n",
              both, both ? abs_diff / both : NAN, max_diff, decisions_differ, both ? 100.0 * decisions_differ / both : NAN);
  std::printf("reference vs itself, frame moved 3 px, on %d frames: mean |difference| %.3f years, decisions differ %d (%.2f%%)\n",
              shifted_both, shifted_both ? shifted_diff / shifted_both : NAN, shifted_differ,
              shifted_both ? 100.0 * shifted_differ / shifted_both : NAN);
}

}  // namespace

int main(int argc, char** argv) {
  agegate::tune_allocator_for_tensors();  // AGEGATE_MALLOC=default: the reference's glibc defaults
  try {
    const Args a = parse(argc, argv);
    if (a.command == "timings") timings(a);
    else if (a.command == "accuracy") accuracy(a);
    else throw std::runtime_error("unknown command " + a.command + " (timings|accuracy)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "agegate_speed: %s\n", e.what());
    return 1;
  }
  return 0;
}
