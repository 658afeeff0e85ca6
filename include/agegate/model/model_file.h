// The model file (.agm): one file holding weights, architecture, preprocessing
// spec, calibration, training-data fingerprint, metrics and format version.
//
// Layout: "AGEGATE-MODEL\n" magic, u32 format version, u64 JSON length, JSON
// header, u64 weights length, weights (torch pickle of name -> tensor), u32
// CRC-32 of everything before it. Written atomically.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>

#include "agegate/data/preprocess.h"
#include "agegate/model/age_net.h"
#include "agegate/policy/age_distribution.h"

namespace agegate {

inline constexpr uint32_t kModelFormatVersion = 1;

struct ModelInfo {
  ModelConfig config;
  PreprocessSpec preprocess;
  double temperature = 1.0;  // calibration: probs = softmax(logits / temperature)
  // Per-band temperatures by raw estimate (policy/age_distribution.h
  // AgeCalibration); empty in files written before them: `temperature` for all.
  std::vector<AgeCalibration::Band> temperature_bands;
  AgeCalibration calibration() const;
  // Free-form facts: "data" (fingerprint, counts), "metrics", "calibration",
  // "training" (options, seed, git), "created".
  nlohmann::json metadata = nlohmann::json::object();
};

void save_model_file(const std::filesystem::path& path, AgeNet& net, const ModelInfo& info);

struct LoadedModel {
  AgeNet net{nullptr};
  ModelInfo info;
};

// Throws ModelError naming the file: missing, not a model file, truncated,
// corrupt (CRC), newer format, or weights that do not fit the architecture.
LoadedModel load_model_file(const std::filesystem::path& path);
// Header only (no weights): reads the facts without loading the network.
ModelInfo read_model_info(const std::filesystem::path& path);

}  // namespace agegate
