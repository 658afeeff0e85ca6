// A policy JSON file (--policy): parsed, validated, and what passes holds.
#include <cstddef>
#include <cstdint>

#include "agegate/core/error.h"
#include "agegate/policy/policy.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = agegate::fuzz::write_input("policy.json", data, size);
  try {
    agegate::Policy p = agegate::Policy::from_file(path);
    p.validate();  // what from_file accepted must be valid
    if (agegate::Policy::from_json(p.to_json()).describe() != p.describe()) __builtin_trap();  // round trip
  } catch (const agegate::InvalidInput&) {
  } catch (const agegate::IoError&) {
  }
  return 0;
}
