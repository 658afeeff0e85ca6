// What the service tests share: a model with random weights (speed and
// shapes do not depend on them), saved once per test program.
#pragma once
#include <filesystem>

#include "agegate/model/model_file.h"

namespace agegate::testing {

inline std::filesystem::path tiny_model() {
  static std::filesystem::path p = [] {
    std::filesystem::path dir = std::filesystem::path(AGEGATE_TEST_BINARY_DIR) / "test-scratch" / "serve-model";
    std::filesystem::create_directories(dir);
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

}  // namespace agegate::testing
