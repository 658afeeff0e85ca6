// Bytes as lowercase hexadecimal (digests, fingerprints).
#pragma once
#include <cstddef>
#include <string>

namespace agegate {

// "0a1b..." : two digits per byte.
std::string to_hex(const unsigned char* data, size_t size);

}  // namespace agegate
