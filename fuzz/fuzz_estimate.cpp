// The service's request handling without sockets: raw HTTP bytes (request
// line, headers, body) through httplib's parser and agegate's routes, as one
// connection would send them (Server::handle_bytes). The model is a small
// random network made at start, with face detection on when the default
// detector is at hand; no database.
#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <cstdint>
#include <memory>
#include <string>

#include "agegate/core/log.h"
#include "agegate/model/age_net.h"
#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "agegate/vision/face_detector.h"
#include "fuzz_util.h"

namespace {
std::unique_ptr<agegate::Server> g_server;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  agegate::set_log_level("error");  // a line per request would drown the fuzzer's own output
  const auto model = agegate::fuzz::scratch() / "random.agm";
  agegate::ModelConfig cfg;
  agegate::AgeNet net(cfg);
  agegate::ModelInfo info;
  info.config = cfg;
  info.preprocess.input_size = 64;
  agegate::save_model_file(model, net, info);
  agegate::ServerOptions o;
  o.port = 0;
  o.pipeline.model = model;
  o.pipeline.threads = 1;
  o.max_pixels = 4 * 1000 * 1000;
  o.max_body_bytes = 1 << 20;
  std::error_code ec;
  const auto detector = agegate::default_face_detector_model();
  const bool have_detector = std::filesystem::exists(detector, ec);
  o.pipeline.detect = have_detector ? agegate::DetectMode::kAuto : agegate::DetectMode::kOff;
  if (!have_detector) {
    // Said, never silent; under CI (CI=true, as .ci/run sets) detection must be fuzzed.
    std::fprintf(stderr, "fuzz_estimate: no face detector at %s: detection is not fuzzed\n", detector.c_str());
    const char* ci = std::getenv("CI");
    if (ci != nullptr && (std::string(ci) == "true" || std::string(ci) == "1")) std::abort();
  }
  g_server = std::make_unique<agegate::Server>(o);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string answer = g_server->handle_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  // Whatever came in, a 5xx other than 503 (busy) is a bug in agegate or a
  // library it did not guard.
  if (answer.rfind("HTTP/1.1 5", 0) == 0 && answer.rfind("HTTP/1.1 503", 0) != 0) __builtin_trap();
  return 0;
}
