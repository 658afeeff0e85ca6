// Batches of prepared photos from worker threads. Workers claim whole batches
// in order, at most prefetch_batches ahead of the consumer, so memory stays
// bounded and batch order is deterministic whatever the thread timing.
#include "agegate/data/loader.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/from_blob.h>

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>

#include "agegate/core/error.h"
#include "agegate/core/log.h"

namespace agegate {

namespace {

// Per-photo result inside a worker: a prepared tensor or a reason it failed.
struct Prepared {
  at::Tensor image;
  std::string error;
};

}  // namespace

struct Loader::State {
  std::vector<LabelRow> rows;
  PreprocessSpec spec;
  LoaderOptions options;

  std::mutex mu;
  std::condition_variable work_cv;   // workers wait for claimable batches
  std::condition_variable ready_cv;  // the consumer waits for the next batch
  bool stopping = false;

  // The current epoch; workers drop results whose generation is stale.
  uint64_t generation = 0;
  bool started = false;
  std::vector<size_t> order;
  int64_t n_batches = 0;
  int64_t next_claim = 0;     // next batch a worker may take
  int64_t next_deliver = 0;   // next batch next() returns
  std::map<int64_t, Batch> ready;
  std::exception_ptr error;

  // Photos that failed once are never decoded again.
  std::unordered_set<size_t> failed;
  std::vector<SkippedPhoto> skipped;

  // Optional prepared-photo cache, filled once; guarded by mu.
  std::vector<at::Tensor> cache;
  int64_t cache_used = 0;
  bool cache_full_logged = false;

  std::vector<std::thread> threads;

  int64_t batch_count() const {
    const auto n = static_cast<int64_t>(rows.size());
    const int64_t bs = options.batch_size;
    return options.drop_last ? n / bs : (n + bs - 1) / bs;
  }

  void shuffle_order(int epoch) {
    order.resize(rows.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (!options.shuffle) return;
    std::seed_seq seq{uint32_t(options.seed), uint32_t(options.seed >> 32), uint32_t(epoch)};
    std::mt19937_64 rng(seq);
    // Fisher-Yates with explicit draws: the same order on every standard library.
    for (size_t i = order.size(); i > 1; --i) {
      std::swap(order[i - 1], order[rng() % i]);
    }
  }

  Prepared load_one(size_t index) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!cache.empty() && cache[index].defined()) return {cache[index], ""};
      if (failed.count(index)) return {at::Tensor(), "failed earlier"};
    }
    Prepared p;
    try {
      p.image = prepare(read_image(rows[index].path), spec);
    } catch (const InvalidInput& e) {
      p.error = e.what();
    } catch (const IoError& e) {
      p.error = e.what();
    }
    std::lock_guard<std::mutex> lock(mu);
    if (!p.error.empty()) {
      if (failed.insert(index).second) {
        log().warn("skipping photo {}: {}", rows[index].file_name, p.error);
        skipped.push_back({rows[index].file_name, p.error});
      }
    } else if (!cache.empty() && !cache[index].defined()) {
      const int64_t bytes = p.image.numel();
      if (cache_used + bytes <= options.cache_bytes) {
        cache[index] = p.image;
        cache_used += bytes;
      } else if (!cache_full_logged) {
        cache_full_logged = true;
        log().info("photo cache full at {} MB; further photos are decoded each epoch",
                   cache_used >> 20);
      }
    }
    return p;
  }

  Batch build_batch(const std::vector<size_t>& members) {
    std::vector<at::Tensor> images;
    std::vector<float> ages;
    Batch b;
    for (size_t index : members) {
      Prepared p = load_one(index);
      if (!p.image.defined()) continue;
      images.push_back(p.image);
      ages.push_back(static_cast<float>(rows[index].age));
      b.indices.push_back(static_cast<int>(index));
    }
    const int64_t s = spec.input_size;
    b.images = at::empty({static_cast<int64_t>(images.size()), 3, s, s}, at::kByte);
    for (size_t i = 0; i < images.size(); ++i) b.images[static_cast<int64_t>(i)].copy_(images[i]);
    b.ages = at::from_blob(ages.data(), {static_cast<int64_t>(ages.size())}, at::kFloat).clone();
    return b;
  }

  void worker() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      work_cv.wait(lock, [&] {
        return stopping || (started && error == nullptr && next_claim < n_batches &&
                            next_claim < next_deliver + options.prefetch_batches);
      });
      if (stopping) return;
      const uint64_t gen = generation;
      const int64_t batch_index = next_claim++;
      const size_t first = size_t(batch_index) * size_t(options.batch_size);
      const size_t len = std::min(order.size(), first + size_t(options.batch_size)) - first;
      const size_t begin = first + len * size_t(options.shard) / size_t(options.shards);
      const size_t end = first + len * size_t(options.shard + 1) / size_t(options.shards);
      std::vector<size_t> members(order.begin() + begin, order.begin() + end);
      lock.unlock();
      Batch batch;
      std::exception_ptr failure;
      try {
        batch = build_batch(members);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      if (gen != generation) continue;  // start_epoch() abandoned this epoch
      if (failure) {
        if (!error) error = failure;
      } else {
        ready.emplace(batch_index, std::move(batch));
      }
      ready_cv.notify_all();
    }
  }
};

Loader::Loader(std::vector<LabelRow> rows, PreprocessSpec spec, LoaderOptions options)
    : state_(std::make_unique<State>()) {
  spec.validate();
  if (options.batch_size < 1) throw InvalidInput("loader: batch_size must be at least 1");
  if (options.workers < 1) throw InvalidInput("loader: workers must be at least 1");
  if (options.prefetch_batches < 1) throw InvalidInput("loader: prefetch_batches must be at least 1");
  if (options.cache_bytes < 0) throw InvalidInput("loader: cache_bytes must not be negative");
  if (options.shards < 1 || options.shard < 0 || options.shard >= options.shards) {
    throw InvalidInput("loader: shard " + std::to_string(options.shard) + " of " + std::to_string(options.shards) +
                       " is out of range");
  }
  state_->rows = std::move(rows);
  state_->spec = std::move(spec);
  state_->options = options;
  if (options.cache_bytes > 0) state_->cache.resize(state_->rows.size());
  for (int i = 0; i < options.workers; ++i) {
    state_->threads.emplace_back([s = state_.get()] { s->worker(); });
  }
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stopping = true;
  }
  state_->work_cv.notify_all();
  for (auto& t : state_->threads) t.join();
}

void Loader::start_epoch(int epoch) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    ++s.generation;
    s.started = true;
    s.shuffle_order(epoch);
    s.n_batches = s.batch_count();
    s.next_claim = 0;
    s.next_deliver = 0;
    s.ready.clear();
    s.error = nullptr;
  }
  s.work_cv.notify_all();
}

std::optional<Batch> Loader::next() {
  State& s = *state_;
  if (!s.started) start_epoch(0);
  std::unique_lock<std::mutex> lock(s.mu);
  while (true) {
    if (s.error) {
      auto e = s.error;
      s.error = nullptr;
      s.n_batches = s.next_deliver;  // the epoch ends here; next() then returns nullopt
      std::rethrow_exception(e);
    }
    if (s.next_deliver >= s.n_batches) return std::nullopt;
    auto it = s.ready.find(s.next_deliver);
    if (it == s.ready.end()) {
      s.ready_cv.wait(lock);
      continue;
    }
    Batch b = std::move(it->second);
    s.ready.erase(it);
    ++s.next_deliver;
    s.work_cv.notify_all();
    // Every photo in it was unreadable (or a share of a short last batch was
    // empty): skipped, except across shards, whose ranks must step together.
    if (b.indices.empty() && s.options.shards == 1) continue;
    return b;
  }
}

const std::vector<LabelRow>& Loader::rows() const { return state_->rows; }

int64_t Loader::batches_per_epoch() const { return state_->batch_count(); }

std::vector<SkippedPhoto> Loader::skipped() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->skipped;
}

PreparedSet load_prepared_set(const std::vector<LabelRow>& rows, const PreprocessSpec& spec,
                              const LoaderOptions& options) {
  LoaderOptions lo = options;
  lo.shuffle = false;
  lo.drop_last = false;
  lo.shard = 0;
  lo.shards = 1;
  Loader loader(rows, spec, lo);
  loader.start_epoch(0);
  std::vector<at::Tensor> images, ages;
  PreparedSet set;
  while (auto b = loader.next()) {
    images.push_back(b->images);
    ages.push_back(b->ages);
    for (int i : b->indices) set.file_names.push_back(rows[static_cast<size_t>(i)].file_name);
  }
  set.skipped = loader.skipped();
  if (images.empty()) throw InvalidInput("none of the " + std::to_string(rows.size()) + " photos could be read");
  set.images = at::cat(images);
  set.ages = at::cat(ages);
  return set;
}

}  // namespace agegate
