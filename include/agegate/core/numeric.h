// Numeric constants shared across components (C++17 has no std::numbers).
#pragma once

namespace agegate {

inline constexpr double kPi = 3.14159265358979323846;

}  // namespace agegate
