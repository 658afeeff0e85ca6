// A policy JSON file (--policy): parsed, validated, and what passes holds.
#include <cstddef>
#include <cstdint>
#include <optional>

#include "agegate/core/error.h"
#include "agegate/policy/policy.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = agegate::fuzz::write_input("policy.json", data, size);
  std::optional<agegate::Policy> p;
  try {
    p = agegate::Policy::from_file(path);
  } catch (const agegate::InvalidInput&) {
    return 0;  // refused clearly
  } catch (const agegate::IoError&) {
    return 0;
  }
  // What from_file accepted is valid, and survives a round trip: checked
  // outside the catch above, so a refusal here is a finding, not a pass.
  try {
    p->validate();
    if (agegate::Policy::from_json(p->to_json()).describe() != p->describe()) __builtin_trap();
  } catch (...) {
    __builtin_trap();
  }
  return 0;
}
