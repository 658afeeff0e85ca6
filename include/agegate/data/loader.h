// Streams batches of prepared photos: worker threads decode on demand with a
// bounded queue (the set is never loaded at once unless the optional cache
// is on and fits). Unreadable photos are reported once and skipped.
//
//   Loader loader(rows, spec, {.batch_size = 64, .shuffle = true});
//   loader.start_epoch(epoch);
//   while (auto batch = loader.next()) { ... batch->images ... }
//
// Not thread-safe: one consumer thread calls start_epoch()/next(). Batches of
// an epoch come in a fixed order (a function of seed and epoch), whatever the
// worker timing. next() before any start_epoch() starts epoch 0; start_epoch()
// mid-epoch abandons the rest. The constructor throws InvalidInput on bad options.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "agegate/data/labels.h"
#include "agegate/data/preprocess.h"

namespace agegate {

struct LoaderOptions {
  int batch_size = 64;
  int workers = 2;          // decoding threads
  int prefetch_batches = 4; // bound on batches held ahead
  bool shuffle = false;
  bool drop_last = false;
  uint64_t seed = 0;        // shuffle order = f(seed, epoch)
  // Keep prepared [3,S,S] uint8 photos in memory after first decode, up to
  // this many bytes (0 = no cache). 7.6k photos at 160 px take ~580 MB.
  int64_t cache_bytes = 0;
  // Data parallelism: every batch of batch_size photos (the global batch) is
  // cut into `shards` contiguous shares and this loader delivers share `shard`
  // of each (photos [len*shard/shards, len*(shard+1)/shards) of a batch of
  // len). Loaders of every shard with the same seed deliver, together, the
  // batches one loader with shards = 1 delivers. With shards > 1 a share
  // may be empty (a short last batch, or unreadable photos) and is still
  // delivered, so every rank sees the same number of batches.
  int shard = 0;
  int shards = 1;
};

struct Batch {
  at::Tensor images;               // [N,3,S,S] uint8 RGB, CPU
  at::Tensor ages;                 // [N] float32 years
  std::vector<int> indices;        // positions in the loader's rows
  at::Tensor targets;              // [N,K] a teacher's distributions (distillation; the trainer fills it), or undefined
  at::Tensor weights;              // [N] per-photo loss weights (group balancing; the trainer fills it), or undefined
};

struct SkippedPhoto {
  std::string file_name;
  std::string reason;
};

// A whole set decoded once and kept prepared in memory (validation photos,
// which every epoch and the final calibration reuse).
struct PreparedSet {
  at::Tensor images;                    // [N,3,S,S] uint8 RGB, CPU
  at::Tensor ages;                      // [N] float32 years
  std::vector<std::string> file_names;  // [N]
  std::vector<SkippedPhoto> skipped;    // unreadable photos, left out of the above
};

class Loader {
 public:
  Loader(std::vector<LabelRow> rows, PreprocessSpec spec, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  void start_epoch(int epoch);
  // Next batch of the epoch, or nullopt at its end. Rethrows worker errors
  // other than per-photo decode failures.
  std::optional<Batch> next();

  const std::vector<LabelRow>& rows() const;
  int64_t batches_per_epoch() const;
  // Photos that could not be read or decoded so far (each reported once and
  // never retried; they are dropped from their batch, so a batch may be short).
  std::vector<SkippedPhoto> skipped() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decodes every readable photo of `rows` through a Loader (no shuffling,
// `options.shuffle`/`drop_last` ignored). InvalidInput when none is readable.
PreparedSet load_prepared_set(const std::vector<LabelRow>& rows, const PreprocessSpec& spec,
                              const LoaderOptions& options);

}  // namespace agegate
