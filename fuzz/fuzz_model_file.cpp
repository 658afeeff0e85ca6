// A model file (.agm): header, metadata JSON, CRC, weights archive.
#include <cstddef>
#include <cstdint>

#include "agegate/core/error.h"
#include "agegate/model/model_file.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = agegate::fuzz::write_input("model.agm", data, size);
  try {
    agegate::ModelInfo info = agegate::read_model_info(path);
    agegate::LoadedModel m = agegate::load_model_file(path);
    (void)info;
    (void)m;
  } catch (const agegate::ModelError&) {
  } catch (const agegate::InvalidInput&) {
  } catch (const agegate::IoError&) {
  }
  return 0;
}
