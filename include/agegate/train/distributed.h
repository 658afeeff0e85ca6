// Data-parallel training across processes on PyTorch's own distributed engine
// (c10d): Gloo on CPUs, NCCL on GPUs when the build has it. Processes are
// started the way PyTorch jobs are, by `torchrun` (or by hand with the same
// variables), and meet through c10d's TCPStore:
//
//   WORLD_SIZE, RANK, LOCAL_RANK       how many processes, which one, which on this machine
//   MASTER_ADDR, MASTER_PORT           where the store is (rank 0 serves it, unless torchrun's
//                                      agent already does: TORCHELASTIC_USE_AGENT_STORE=True)
//   TORCHELASTIC_RESTART_COUNT         torchrun's restarts: the store prefix, and the trainer resumes
//   GLOO_SOCKET_IFNAME                 the interface Gloo binds to (default: loopback when
//                                      MASTER_ADDR is a loopback address, else the host's own)
//
//   DistributedEnv env = DistributedEnv::from_environment();     // world 1 when the variables are absent
//   std::unique_ptr<Distributed> d = Distributed::connect(env, device, std::chrono::seconds(300));
//   GradientReducer reducer(net->parameters(), *d);              // buckets of about 25 MB
//   ... loss.backward(); reducer.sum_gradients(); optimizer.step();
//
// A world of one is valid everywhere and costs nothing (no store, no sockets).
// A store or peer that cannot be reached within the timeout is an IoError
// whose one line names the address and what to check, never a hang.
// Not thread-safe: one thread per process calls the collectives, and every
// process calls the same collectives in the same order.
#pragma once
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace agegate {

struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;  // torchrun's agent serves the store; every rank is a client
  int restart_count = 0;     // TORCHELASTIC_RESTART_COUNT
  std::string socket_ifname;  // GLOO_SOCKET_IFNAME, empty = the default rule above

  bool active() const { return world_size > 1; }
  bool writer() const { return rank == 0; }
  // "rank 1 of 2 (store 127.0.0.1:29500)" for logs.
  std::string describe() const;
  // Reads the variables above. InvalidInput naming the variable for a bad
  // value (RANK out of range, a port that is not a number, WORLD_SIZE > 1
  // without MASTER_ADDR/MASTER_PORT).
  static DistributedEnv from_environment();
};

// A process group over the ranks of `env`. The collectives work in place on
// tensors of the group's device; Gloo takes CPU tensors (a CUDA tensor goes
// through a CPU copy when the build has no NCCL).
class Distributed {
 public:
  // Connects to the store and the peers: throws IoError within about
  // `timeout` when that fails, naming MASTER_ADDR:MASTER_PORT and the rank.
  // Every collective after that also gives up after `timeout`.
  static std::unique_ptr<Distributed> connect(const DistributedEnv& env, c10::Device device,
                                              std::chrono::milliseconds timeout);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  const DistributedEnv& env() const;
  int rank() const { return env().rank; }
  int world_size() const { return env().world_size; }
  std::string backend() const;  // "gloo" or "nccl"

  // Sum over ranks, in place. One call for the tensor, whatever its size.
  void all_reduce_sum(at::Tensor& tensor);
  // Sums each tensor over ranks, in place: one all-reduce per tensor, all
  // started before the first is waited on.
  void all_reduce_sum_each(std::vector<at::Tensor>& tensors);
  // Sum of small values over ranks (float64 on the wire).
  std::vector<double> all_reduce_sum(const std::vector<double>& values);
  // Root's tensors into every rank's (same shapes and dtypes on every rank).
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  // Root's bytes to every rank (the others' `bytes` are replaced).
  void broadcast_bytes(std::string& bytes, int root = 0);
  void barrier();

 private:
  struct Impl;
  explicit Distributed(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sums gradients over ranks in buckets: the gradients of consecutive
// parameters are copied into one flat buffer per bucket (about bucket_bytes
// each; a parameter larger than that gets a bucket of its own), every
// bucket's all-reduce is started before the first is waited on, and the
// sums are copied back. Parameters without a gradient this step add zeros,
// so every rank sends the same buffers. With a world of one it does nothing.
class GradientReducer {
 public:
  static constexpr int64_t kDefaultBucketBytes = 25 << 20;  // as DistributedDataParallel's default

  GradientReducer(std::vector<at::Tensor> parameters, Distributed* group, int64_t bucket_bytes = kDefaultBucketBytes);
  void sum_gradients();
  size_t buckets() const { return buckets_.size(); }
  double seconds_total() const { return seconds_; }  // time spent in sum_gradients so far
  int64_t calls() const { return calls_; }
  double seconds_per_call() const { return calls_ > 0 ? seconds_ / double(calls_) : 0.0; }

 private:
  struct Bucket {
    std::vector<size_t> members;  // indices into parameters_
    int64_t numel = 0;
    at::Tensor buffer;
  };
  std::vector<at::Tensor> parameters_;
  Distributed* group_;
  std::vector<Bucket> buckets_;
  double seconds_ = 0;
  int64_t calls_ = 0;
};

}  // namespace agegate
