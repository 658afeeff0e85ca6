// What the service tests share: a model with random weights (speed and
// shapes do not depend on them), saved once per test process in its test's scratch folder.
#pragma once
#include <filesystem>

#include "agegate/model/model_file.h"
#include "agegate/serve/server.h"
#include "test_support.h"

namespace agegate::testing {

inline std::filesystem::path tiny_model() {
  static std::filesystem::path p = [] {
    // In the test's own scratch folder: tests running side by side (ctest -j)
    // never rewrite a file another one reads.
    std::filesystem::path dir = testing::scratch_dir("serve-model");
    ModelConfig cfg;
    AgeNet net(cfg);
    ModelInfo info;
    info.config = cfg;
    info.preprocess.input_size = 64;
    save_model_file(dir / "random.agm", net, info);
    return dir / "random.agm";
  }();
  return p;
}

// A service on any free port with that model and one tensor thread (the
// tests change what they test from here).
inline ServerOptions tiny_server_options(DetectMode detect = DetectMode::kAuto) {
  ServerOptions o;
  o.port = 0;
  o.pipeline.model = tiny_model();
  o.pipeline.threads = 1;
  o.pipeline.detect = detect;
  return o;
}

}  // namespace agegate::testing
