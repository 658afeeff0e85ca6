// c10d process groups for data-parallel training (see distributed.h). This is
// the one file that includes c10d's headers: CMake defines USE_DISTRIBUTED
// and USE_C10D_GLOO for it (the headers' layout depends on them and must
// match the LibTorch build), and AGEGATE_WITH_NCCL where the LibTorch build
// has CUDA and NCCL.
#include "agegate/train/distributed.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <glog/logging.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef AGEGATE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "agegate/core/error.h"
#include "agegate/core/log.h"

namespace agegate {
namespace {

std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// An integer variable in [lo, hi], or `fallback` when unset.
int env_int(const char* name, int fallback, long lo, long hi) {
  const std::string v = env_text(name);
  if (v.empty()) return fallback;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (errno != 0 || end == v.c_str() || *end != '\0' || x < lo || x > hi) {
    throw InvalidInput("environment variable " + std::string(name) + "='" + v + "': expected a whole number in " +
                       std::to_string(lo) + ".." + std::to_string(hi));
  }
  return static_cast<int>(x);
}

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr == "::1" || addr.rfind("127.", 0) == 0;
}

// The first line of an exception's text (c10's carry a C++ backtrace after it).
std::string first_line(const std::string& what) {
  const auto nl = what.find('\n');
  return nl == std::string::npos ? what : what.substr(0, nl);
}

// c10d logs a failed connection through glog before it throws; the IoError
// below says it once, in one line, so glog is quiet while connecting.
class QuietGlog {
 public:
  QuietGlog() : saved_(FLAGS_minloglevel) { FLAGS_minloglevel = google::GLOG_FATAL; }
  ~QuietGlog() { FLAGS_minloglevel = saved_; }
  QuietGlog(const QuietGlog&) = delete;
  QuietGlog& operator=(const QuietGlog&) = delete;

 private:
  int saved_;
};

}  // namespace

std::string DistributedEnv::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (store " + master_addr + ":" +
         std::to_string(master_port) + (agent_store ? ", torchrun's agent" : "") + ")";
}

DistributedEnv DistributedEnv::from_environment() {
  DistributedEnv e;
  e.world_size = env_int("WORLD_SIZE", 1, 1, 1 << 16);
  e.rank = env_int("RANK", 0, 0, e.world_size - 1);
  e.local_rank = env_int("LOCAL_RANK", 0, 0, 1 << 16);
  e.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, 0, std::numeric_limits<int>::max());
  e.agent_store = env_text("TORCHELASTIC_USE_AGENT_STORE") == "True";
  e.socket_ifname = env_text("GLOO_SOCKET_IFNAME");
  if (!e.active()) return e;
  e.master_addr = env_text("MASTER_ADDR");
  if (e.master_addr.empty()) {
    throw InvalidInput("environment variable MASTER_ADDR: must name the store's host when WORLD_SIZE=" +
                       std::to_string(e.world_size) + " (torchrun sets it)");
  }
  if (env_text("MASTER_PORT").empty()) {
    throw InvalidInput("environment variable MASTER_PORT: must be set when WORLD_SIZE=" +
                       std::to_string(e.world_size) + " (torchrun sets it)");
  }
  e.master_port = env_int("MASTER_PORT", 0, 1, 65535);
  return e;
}

struct Distributed::Impl {
  DistributedEnv env;
  c10::Device device = c10::kCPU;
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  bool nccl = false;

  // Collectives run on the group's device; Gloo without NCCL takes CPU copies.
  bool via_cpu(const at::Tensor& t) const { return !nccl && !t.device().is_cpu(); }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) const {
    try {
      work->wait(timeout);
    } catch (const std::exception& e) {
      throw IoError("distributed " + std::string(what) + " failed on " + env.describe() + ": " + first_line(e.what()) +
                    " (a peer stopped or cannot be reached; check the other ranks' logs)");
    }
  }
};

Distributed::Distributed(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Distributed::~Distributed() = default;
const DistributedEnv& Distributed::env() const { return impl_->env; }
std::string Distributed::backend() const { return impl_->nccl ? "nccl" : "gloo"; }

std::unique_ptr<Distributed> Distributed::connect(const DistributedEnv& env, c10::Device device,
                                                  std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->device = device;
  impl->timeout = timeout;
  if (!env.active()) return std::unique_ptr<Distributed>(new Distributed(std::move(impl)));
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const QuietGlog quiet;
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = !env.agent_store && env.rank == 0;
    so.numWorkers = env.world_size;
    so.waitWorkers = false;  // the process group's own rendezvous waits, under the timeout
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    // torchrun's agent keys each attempt under this prefix; by hand there is one attempt.
    impl->store = c10::make_intrusive<c10d::PrefixStore>(
        env.agent_store ? "/worker/attempt_" + std::to_string(env.restart_count) : "agegate", tcp);
  } catch (const std::exception& e) {
    throw IoError("distributed: " + env.describe() + " cannot " +
                  (env.rank == 0 && !env.agent_store ? "serve" : "reach") + " the store at " + where + " within " +
                  std::to_string(timeout.count() / 1000) + " s: " + first_line(e.what()) +
                  " (check MASTER_ADDR/MASTER_PORT, that rank 0 or torchrun runs there, and the firewall)");
  }
  try {
#ifdef AGEGATE_WITH_NCCL
    if (device.is_cuda()) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, opts);
      impl->nccl = true;
    }
#endif
    if (!impl->nccl) {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      if (!env.socket_ifname.empty()) {
        size_t from = 0;
        while (from <= env.socket_ifname.size()) {
          const size_t comma = std::min(env.socket_ifname.find(',', from), env.socket_ifname.size());
          opts->devices.push_back(
              c10d::ProcessGroupGloo::createDeviceForInterface(env.socket_ifname.substr(from, comma - from)));
          from = comma + 1;
        }
      } else if (is_loopback(env.master_addr)) {
        // Every rank is on this machine: nothing listens beyond the loopback.
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = 2;
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, opts);
    }
  } catch (const std::exception& e) {
    throw IoError("distributed: " + env.describe() + " could not connect to its " +
                  std::to_string(env.world_size - 1) + " peer(s) through the store at " + where + " within " +
                  std::to_string(timeout.count() / 1000) + " s: " + first_line(e.what()) +
                  " (check that every rank was started with the same WORLD_SIZE and MASTER_ADDR/MASTER_PORT, "
                  "and GLOO_SOCKET_IFNAME on machines with several interfaces)");
  }
  log().info("distributed: {} joined its group ({}, timeout {} s)", env.describe(), impl->nccl ? "nccl" : "gloo",
             timeout.count() / 1000);
  return std::unique_ptr<Distributed>(new Distributed(std::move(impl)));
}

void Distributed::all_reduce_sum(at::Tensor& tensor) {
  std::vector<at::Tensor> one{tensor};  // the same tensor: the sum lands in it
  all_reduce_sum_each(one);
}

void Distributed::all_reduce_sum_each(std::vector<at::Tensor>& tensors) {
  if (!impl_->env.active()) return;
  std::vector<at::Tensor> wires;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  for (at::Tensor& t : tensors) {
    wires.push_back(impl_->via_cpu(t) || !t.is_contiguous() ? t.cpu().contiguous() : t);
    std::vector<at::Tensor> v{wires.back()};
    works.push_back(impl_->group->allreduce(v, o));
  }
  for (auto& w : works) impl_->wait(w, "all-reduce");
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!wires[i].is_same(tensors[i])) tensors[i].copy_(wires[i]);
  }
}

std::vector<double> Distributed::all_reduce_sum(const std::vector<double>& values) {
  if (!impl_->env.active() || values.empty()) return values;
  at::Tensor t = at::tensor(values, at::kDouble);
  if (impl_->nccl) t = t.to(impl_->device);
  all_reduce_sum(t);
  t = t.cpu();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

void Distributed::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (!impl_->env.active() || tensors.empty()) return;
  for (at::Tensor& t : tensors) {
    at::Tensor wire = impl_->via_cpu(t) || !t.is_contiguous() ? t.cpu().contiguous() : t;
    std::vector<at::Tensor> v{wire};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    impl_->wait(impl_->group->broadcast(v, o), "broadcast");
    if (!wire.is_same(t)) t.copy_(wire);
  }
}

void Distributed::broadcast_bytes(std::string& bytes, int root) {
  if (!impl_->env.active()) return;
  const c10::Device dev = impl_->nccl ? impl_->device : c10::Device(c10::kCPU);
  std::vector<at::Tensor> size{at::tensor({static_cast<int64_t>(bytes.size())}, at::kLong).to(dev)};
  broadcast(size, root);
  const int64_t n = size[0].cpu().item<int64_t>();
  std::vector<at::Tensor> data{at::empty({n}, at::kByte)};
  if (rank() == root && n > 0) std::memcpy(data[0].data_ptr(), bytes.data(), static_cast<size_t>(n));
  data[0] = data[0].to(dev);
  broadcast(data, root);
  if (rank() != root) {
    const at::Tensor host = data[0].cpu();
    bytes.assign(reinterpret_cast<const char*>(host.data_ptr()), static_cast<size_t>(n));
  }
}

void Distributed::barrier() {
  if (!impl_->env.active()) return;
  impl_->wait(impl_->group->barrier(), "barrier");
}

GradientReducer::GradientReducer(std::vector<at::Tensor> parameters, Distributed* group, int64_t bucket_bytes)
    : parameters_(std::move(parameters)), group_(group) {
  if (bucket_bytes < 1) throw InvalidInput("gradient buckets: size must be positive");
  if (!group_ || group_->world_size() < 2) return;
  // Consecutive parameters of one dtype and device share a bucket up to bucket_bytes.
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& p = parameters_[i];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
    bool fits = !buckets_.empty();
    if (fits) {
      const at::Tensor& first = parameters_[buckets_.back().members.front()];
      fits = first.scalar_type() == p.scalar_type() && first.device() == p.device() &&
             (buckets_.back().numel * static_cast<int64_t>(p.element_size()) + bytes) <= bucket_bytes;
    }
    if (!fits) buckets_.emplace_back();
    buckets_.back().members.push_back(i);
    buckets_.back().numel += p.numel();
  }
  for (Bucket& b : buckets_) b.buffer = at::empty({b.numel}, parameters_[b.members.front()].options());
}

void GradientReducer::sum_gradients() {
  if (buckets_.empty()) return;
  const auto start = std::chrono::steady_clock::now();
  auto slices = [&](Bucket& b, auto&& f) {
    int64_t offset = 0;
    for (size_t i : b.members) {
      at::Tensor& p = parameters_[i];
      f(p, b.buffer.narrow(0, offset, p.numel()));
      offset += p.numel();
    }
  };
  for (Bucket& b : buckets_) {
    slices(b, [](at::Tensor& p, at::Tensor slice) {
      if (p.grad().defined()) slice.view(p.sizes()).copy_(p.grad());
      else slice.zero_();
    });
  }
  // All buckets are sent before any is waited on: the group works through
  // them in order while this thread waits on the first.
  std::vector<at::Tensor> buffers;
  for (Bucket& b : buckets_) buffers.push_back(b.buffer);
  group_->all_reduce_sum_each(buffers);
  for (Bucket& b : buckets_) {
    slices(b, [](at::Tensor& p, at::Tensor slice) {
      if (p.grad().defined()) p.mutable_grad().copy_(slice.view(p.sizes()));
      else p.mutable_grad() = slice.view(p.sizes()).clone();
    });
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++calls_;
}

}  // namespace agegate
