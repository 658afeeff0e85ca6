// An option whose value is one of an enum's names (Backbone, FlipChoice),
// parsed once at the command line: CLI11 refuses any other value and lists
// the accepted names ("--backbone: vgg16 not in {mobilenet_v2,face_resnet,...}"),
// then core/enum_names.h turns the name into its value.
// The enum needs to_string(E) and a constexpr array of its values.
#pragma once
#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "agegate/core/enum_names.h"

namespace agegate {

template <typename E, size_t N>
CLI::Option* add_enum_option(CLI::App* cmd, const std::string& name, E& target, const E (&values)[N],
                             const std::string& help) {
  std::vector<std::string> names;
  for (E v : values) names.emplace_back(to_string(v));
  return cmd->add_option(name, help)
      ->check(CLI::IsMember(names))
      ->each([&target, &values, name](const std::string& v) { target = parse_enum_name(v, values, "option " + name); })
      ->default_str(to_string(target));
}

}  // namespace agegate
