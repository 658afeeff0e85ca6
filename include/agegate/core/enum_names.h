// Enums that travel by name (a model file's backbone, a JSON key, a flag's
// value): the name back to its value, refused with the accepted names.
//
//   Backbone b = parse_enum_name(name, kBackbones, "backbone");
//   // InvalidInput: "backbone 'vgg16': not one of mobilenet_v2, face_resnet, ..."
//
// The enum needs to_string(E) found by argument-dependent lookup and a
// constant array of its values in the order the message lists them.
#pragma once
#include <cstddef>
#include <string>

#include "agegate/core/error.h"

namespace agegate {

// "a, b, c": every value's name.
template <typename E, size_t N>
std::string enum_names(const E (&values)[N]) {
  std::string out;
  for (E v : values) out += std::string(out.empty() ? "" : ", ") + to_string(v);
  return out;
}

template <typename E, size_t N>
E parse_enum_name(const std::string& name, const E (&values)[N], const std::string& what) {
  for (E v : values) {
    if (name == to_string(v)) return v;
  }
  throw InvalidInput(what + " '" + name + "': not one of " + enum_names(values));
}

}  // namespace agegate
