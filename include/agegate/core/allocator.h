// Allocator settings for tensor work, applied once at the start of a program.
//
// glibc's malloc hands every block above its mmap threshold (128 KB at
// first) to the kernel with mmap and gives it back with munmap when freed, so
// each inference or training step maps, zero-fills and unmaps its large
// activations again. tune_allocator_for_tensors() raises the mmap and trim
// thresholds so freed blocks are reused from the heap. On this project's
// 2-core machine the MobileNetV2 training step at batch 32 went from 44 to
// 51-58 img/s (build/bench/agegate_bench --benchmark_filter=TrainStep, with
// and without AGEGATE_MALLOC=default). The cost is memory that stays with
// the process after a peak instead of going back to the system (the
// service: +6 MB after bench/speed.sh's load).
//
//   int main() { agegate::tune_allocator_for_tensors(); ... }
//
// AGEGATE_MALLOC=default in the environment leaves glibc's defaults (the
// reference path of bench/speed.sh). Returns whether the settings were applied.
#pragma once

namespace agegate {

bool tune_allocator_for_tensors();

}  // namespace agegate
