// Small text helpers (CSV lives in csv.h).
#pragma once
#include <string>
#include <vector>

namespace agegate {

// Without leading/trailing spaces, tabs, carriage returns and newlines.
std::string trim(const std::string& s);

// The pieces between `separator`s ("a,,b" -> {"a", "", "b"}; "" -> {""}).
std::vector<std::string> split(const std::string& s, char separator);

// ASCII lower case; bytes >= 0x80 (UTF-8) are left as they are.
std::string to_lower(std::string s);

}  // namespace agegate
