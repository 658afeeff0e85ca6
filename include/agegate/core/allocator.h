// Allocator settings for tensor work, applied once at the start of a program.
//
// glibc's malloc hands every block above its mmap threshold (128 KB at
// first) to the kernel with mmap and gives it back with munmap when freed, so
// each inference or training step maps, zero-fills and unmaps its large
// activations again. tune_allocator_for_tensors() raises the mmap and trim
// thresholds so freed blocks are reused from the heap: training ran about
// 2x faster on this project's 2-core machine (../shared/docs/TOOLCHAIN.md),
// batched inference about 1.4x (bench/speed.sh). The cost is memory that
// stays with the process after a peak instead of going back to the system.
//
//   int main() { agegate::tune_allocator_for_tensors(); ... }
//
// AGEGATE_MALLOC=default in the environment leaves glibc's defaults (the
// reference path of bench/speed.sh). Returns whether the settings were applied.
#pragma once

namespace agegate {

bool tune_allocator_for_tensors();

}  // namespace agegate
