// glibc malloc thresholds for tensor-sized blocks (see allocator.h).
#include "agegate/core/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace agegate {
namespace {
// glibc's largest accepted mmap threshold on 64-bit (HEAP_MAX_SIZE / 2).
constexpr int kMmapThreshold = 32 * 1024 * 1024;
constexpr int kTrimThreshold = 1 << 30;
}  // namespace

bool tune_allocator_for_tensors() {
  if (const char* env = std::getenv("AGEGATE_MALLOC"); env && std::strcmp(env, "default") == 0) return false;
  // Setting either threshold also stops glibc's dynamic threshold from moving it.
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
}

}  // namespace agegate
