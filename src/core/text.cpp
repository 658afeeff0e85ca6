// Small text helpers (see text.h).
#include "agegate/core/text.h"

#include <algorithm>
#include <cctype>

namespace agegate {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos = s.find(separator); pos != std::string::npos; pos = s.find(separator, start)) {
    out.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

std::string to_lower(std::string s) {
  // std::tolower on a negative char is undefined: go through unsigned char.
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace agegate
