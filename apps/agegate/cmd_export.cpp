// agegate export: the age network as an ONNX file (export/onnx_export.h),
// for ONNX Runtime, OpenCV DNN and other runtimes.
#include <cstdio>

#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/export/onnx_export.h"
#include "command.h"
#include "policy_options.h"

namespace agegate::cli {
namespace {
namespace fs = std::filesystem;

struct ExportArgs {
  fs::path model;
  fs::path onnx;
  FlipArg flip;
  bool json = false;
};

int run_export(const ExportArgs& a) {
  const fs::path model = a.model.empty() ? default_model_path() : a.model;
  OnnxExportOptions options;
  options.flip_average = a.flip.get();
  const OnnxExport e = export_onnx(model, a.onnx, options);
  const nlohmann::json out = {{"model", model.string()},       {"onnx", a.onnx.string()},
                              {"opset", e.opset},              {"flip_average", e.flip_average},
                              {"input_size", e.input_size},    {"nodes", e.nodes},
                              {"bytes", e.bytes},              {"graph_sha256", e.graph_sha256}};
  if (a.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    log().info("wrote {} (opset {}, {} nodes, {:.1f} MB, input [N,3,{},{}] RGB 0..255, flip averaging {})",
               a.onnx.string(), e.opset, e.nodes, e.bytes / 1e6, e.input_size, e.input_size,
               e.flip_average ? "on" : "off");
  }
  return kOk;
}

AGEGATE_COMMAND(27, [](CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = app.add_subcommand("export", "write the age network as an ONNX file (opset 13; logits and age)");
  cmd->add_option("--model", a->model, "model file (.agm)")->default_str(default_model_path().string());
  cmd->add_option("--onnx", a->onnx, "ONNX file to write")->required();
  a->flip.add_to(cmd);
  cmd->add_flag("--json", a->json, "print one JSON object");
  cmd->callback([a] { set_exit_code(run_export(*a)); });
});

}  // namespace
}  // namespace agegate::cli
