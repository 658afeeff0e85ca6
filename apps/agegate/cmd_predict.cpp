// agegate predict: age, interval and checkout decision for photos or folders,
// through the same FacePipeline as the service (pipeline/face_pipeline.h);
// built only with vision support (AGEGATE_WITH_VISION).
#ifdef AGEGATE_WITH_VISION
#include <algorithm>
#include <cstdio>

#include "agegate/core/error.h"
#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/core/text.h"
#include "agegate/model/model_file.h"
#include "agegate/pipeline/face_pipeline.h"
#include "command.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {
namespace fs = std::filesystem;

struct PredictArgs {
  std::vector<std::string> inputs;
  PipelineOptions pipeline;  // every default lives there
  std::string detect = to_string(PipelineOptions{}.detect);
  bool json = false;
  bool no_calibration = false;
  PolicyArgs policy;
  FlipArg flip;
};

bool is_photo(const fs::path& p) {
  const std::string ext = to_lower(p.extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<fs::path> out;
  for (const auto& in : inputs) {
    fs::path p(in);
    if (fs::is_directory(p)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(p)) {
        if (e.is_regular_file() && is_photo(e.path())) found.push_back(e.path());
      }
      std::sort(found.begin(), found.end());
      if (found.empty()) log().warn("no .jpg/.jpeg/.png photo in folder {}", p.string());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(p)) {
      out.push_back(p);
    } else {
      throw IoError("no such photo or folder: " + in);
    }
  }
  return out;
}

void print_row(const std::string& name, const PhotoResult& result, const std::string& error) {
  const std::vector<FaceResult>& faces = result.faces;
  if (!error.empty()) {
    std::printf("%-40s error: %s\n", name.c_str(), error.c_str());
  } else if (faces.empty()) {
    std::printf("%-40s %s: %s\n", name.c_str(), result.no_face_reason.c_str(), "ask for ID");
  }
  for (size_t i = 0; i < faces.size(); ++i) {
    const auto& d = faces[i].decision;
    char interval[32];
    std::snprintf(interval, sizeof interval, "%.0f-%.0f", d.low, d.high);
    std::string label = i == 0 ? name : "  + face " + std::to_string(i + 1);
    std::printf("%-40s %6.1f %15s %8.1f%%  %-9s %s\n", label.c_str(), d.estimate, interval, 100 * d.p_under_legal,
                to_string(d.decision), d.reason.c_str());
  }
}

int run_predict(const PredictArgs& a) {
  PipelineOptions po = a.pipeline;
  po.flip_average = a.flip.get();
  po.policy = a.policy.resolve(po.model.empty() ? default_model_path() : po.model, po.flip_average);
  po.detect = parse_detect_mode(a.detect);
  po.calibrated = !a.no_calibration;
  auto photos = expand_inputs(a.inputs);
  FacePipeline pipeline(po);
  const Policy& policy = pipeline.policy();
  nlohmann::json out = nlohmann::json::array();
  int failures = 0;
  if (!a.json) {
    std::printf("policy: %s\n", policy.describe().c_str());
    std::printf("%-40s %6s %15s %9s  %-9s %s\n", "photo", "age", "interval", "P(<legal)", "decision", "reason");
  }
  for (const auto& path : photos) {
    PhotoResult result;
    std::string error;
    try {
      result = pipeline.run(read_image(path));
    } catch (const InvalidInput& e) {
      error = e.what();
    } catch (const IoError& e) {
      error = e.what();
    }
    if (!error.empty()) ++failures;
    if (!a.json) {
      print_row(path.filename().string(), result, error);
      continue;
    }
    nlohmann::json j = {{"photo", path.string()}};
    if (!error.empty()) j["error"] = error;
    if (error.empty() && result.faces.empty()) j["message"] = result.no_face_reason;
    nlohmann::json jf = nlohmann::json::array();
    for (auto& f : result.faces) jf.push_back(to_json(f, policy));
    j["faces"] = jf;
    out.push_back(j);
  }
  if (a.json) {
    nlohmann::json doc = {{"policy", policy.to_json()}, {"model", pipeline.options().model.string()},
                          {"model_version", pipeline.model_info().record.version},
                          {"temperature", pipeline.temperature()},
                          {"results", out}};
    std::printf("%s\n", doc.dump(2).c_str());
  }
  return failures > 0 ? kFailed : kOk;
}

AGEGATE_COMMAND(30, [](CLI::App& app) {
  auto a = std::make_shared<PredictArgs>();
  CLI::App* cmd = app.add_subcommand("predict", "estimate age, interval and ID-check decision for photos");
  cmd->add_option("photos", a->inputs, "photo files or folders (JPEG/PNG)")->required();
  cmd->add_option("--model", a->pipeline.model, "model file (.agm)")->default_str(default_model_path().string());
  cmd->add_option("--detect", a->detect, "auto|on|off: find faces in raw camera photos")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON instead of a table");
  cmd->add_flag("--no-calibration", a->no_calibration, "use the raw distribution (temperature 1)");
  a->policy.add_to(cmd);
  a->flip.add_to(cmd);
  cmd->callback([a] { set_exit_code(run_predict(*a)); });
});

}  // namespace
}  // namespace agegate::cli
#endif  // AGEGATE_WITH_VISION
