// Typed errors. Anything that ends an operation throws one of these, with a
// message naming the file, row or field at fault. Expected per-item misses
// (one unreadable photo among thousands) are returned as values instead.
#pragma once
#include <stdexcept>
#include <string>

namespace agegate {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The caller gave something unusable: a bad option, a malformed CSV, a corrupt photo.
class InvalidInput : public Error {
 public:
  using Error::Error;
};

// The file system failed us: missing file, unreadable folder, failed write.
class IoError : public Error {
 public:
  using Error::Error;
};

// A model file is wrong, truncated, foreign or inconsistent with the code.
class ModelError : public Error {
 public:
  using Error::Error;
};

// An internal invariant broke; this is a bug, never reachable from user input.
class InternalError : public Error {
 public:
  using Error::Error;
};

// Invariant check that stays on in release builds.
#define AGEGATE_CHECK(cond, msg)                                                          \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      throw ::agegate::InternalError(std::string(__FILE__) + ":" + std::to_string(__LINE__) + \
                                     ": check failed: " #cond ": " + (msg));              \
    }                                                                                     \
  } while (0)

}  // namespace agegate
