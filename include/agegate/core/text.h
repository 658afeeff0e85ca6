// Small text helpers shared by the CSV readers (labels, split, predictions, metrics).
#pragma once
#include <string>
#include <vector>

namespace agegate {

// Without leading/trailing spaces, tabs and carriage returns.
std::string trim(const std::string& s);

// Splits one line of a simple CSV (no quoting) at commas, trimming each
// field; a trailing comma gives a trailing empty field.
std::vector<std::string> split_csv_line(const std::string& line);

}  // namespace agegate
