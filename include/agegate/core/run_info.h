// Run metadata written next to every output: options, seed, git revision, time.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace agegate {

// Default location of ../shared (data + weights); AGEGATE_SHARED_DIR overrides.
std::filesystem::path default_shared_dir();
std::filesystem::path default_data_dir();     // <shared>/data/faces
std::filesystem::path default_weights_dir();  // <shared>/weights
// The shipped model: AGEGATE_MODEL, else <source>/models/agegate.agm.
std::filesystem::path default_model_path();

std::string git_revision();
std::string agegate_version();
std::string utc_timestamp();  // 2026-11-21T01:03:40Z

// {"command":..., "options":..., "seed":..., "git":..., "version":..., "started":...}
nlohmann::json run_metadata(const std::string& command, const nlohmann::json& options,
                            uint64_t seed);

// Sets thread count from OMP_NUM_THREADS or hardware concurrency (capped),
// used by commands before heavy tensor work. Returns the count chosen.
int default_thread_count();

}  // namespace agegate
