// The model file (.agm): one file holding weights, architecture, preprocessing
// spec, calibration, training-data fingerprint, metrics and format version.
//
// Layout: "AGEGATE-MODEL\n" magic, u32 format version, u64 JSON length, JSON
// header, u64 weights length, weights (torch pickle of name -> tensor), u32
// CRC-32 of everything before it. Written atomically.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <vector>

#include "agegate/data/preprocess.h"
#include "agegate/model/age_net.h"
#include "agegate/model/training_record.h"
#include "agegate/policy/age_distribution.h"

namespace agegate {

inline constexpr uint32_t kModelFormatVersion = 1;

// One way of running the network, with what was fitted for it: with or
// without test-time flip averaging (PreprocessSpec::flip_average), its
// calibration and the policy retuned under it.
struct InferenceVariant {
  bool flip_average = false;
  double temperature = 1.0;
  std::vector<AgeCalibration::Band> temperature_bands;
  nlohmann::json recommended_policy;  // null when none met the bound
  nlohmann::json calibration;         // the calibration report (coverage by band), for the record
  AgeCalibration age_calibration() const;  // temperature and bands
};

struct ModelInfo {
  ModelConfig config;
  PreprocessSpec preprocess;
  double temperature = 1.0;  // calibration: probs = softmax(logits / temperature)
  // Per-band temperatures by raw estimate (policy/age_distribution.h
  // AgeCalibration); empty in files written before them: `temperature` for all.
  std::vector<AgeCalibration::Band> temperature_bands;
  AgeCalibration calibration() const;
  // How it was made, what it measured, what was fitted (header "metadata").
  TrainingRecord record;
  // Every setting the file was fitted for (header "inference_variants"); the
  // top-level flip_average, temperature, bands and the record's
  // recommended_policy / calibration hold the one in force (the file's
  // default until select_flip_average). Empty in files written before: their
  // one setting is the top-level one.
  std::vector<InferenceVariant> variants;
  // The variants the file offers (the top-level one alone for older files).
  std::vector<bool> flip_settings() const;
  // Puts the variant with this flip setting in force. Throws ModelError naming
  // the setting when the file was not fitted for it.
  void select_flip_average(bool flip);
};

void save_model_file(const std::filesystem::path& path, AgeNet& net, const ModelInfo& info);

struct LoadedModel {
  AgeNet net{nullptr};
  ModelInfo info;
};

// Throws ModelError naming the file: missing, not a model file, truncated,
// corrupt (CRC), newer format, or weights that do not fit the architecture.
// With `flip`, that inference variant is put in force (ModelError naming the
// file when it has none); without, the file's default.
LoadedModel load_model_file(const std::filesystem::path& path, std::optional<bool> flip = std::nullopt);
// Header only (no weights): reads the facts without loading the network.
ModelInfo read_model_info(const std::filesystem::path& path, std::optional<bool> flip = std::nullopt);
// "on" / "off" -> true / false; anything else is InvalidInput naming `flag` and the accepted values.
bool parse_on_off(const std::string& value, const std::string& flag);

}  // namespace agegate
