// labels.csv as a data folder holds it (the photo files are not checked).
#include <cstddef>
#include <cstdint>

#include "agegate/core/error.h"
#include "agegate/data/labels.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  const fs::path dir = agegate::fuzz::scratch() / "data";
  fs::create_directories(dir / "final_files");
  agegate::write_file_atomic(dir / "labels.csv", std::string_view(reinterpret_cast<const char*>(data), size));
  agegate::LabelsOptions o;
  o.check_files = false;
  try {
    agegate::LabelSet set = agegate::read_labels(dir, o);
    for (const auto& r : set.rows) {
      if (r.age < 0 || r.age > 120 || r.file_name.empty()) __builtin_trap();  // a row that passed is valid
    }
  } catch (const agegate::InvalidInput&) {
  } catch (const agegate::IoError&) {
  }
  return 0;
}
