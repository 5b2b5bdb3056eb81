// Persistent worker pool. parallel_for() splits [0, n) into a fixed set of
// chunks that depends only on n and the grain (never on the thread count or
// timing), and kernels give every output element to exactly one chunk with a
// fixed reduction order, so results are bit-identical for any thread count.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace sd {

class ThreadPool {
 public:
  // threads <= 0: one per physical core. The calling thread is one of them.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(i) once for every i in [0, n), spread over all threads; returns
  // when all are done. Rethrows the first exception a task threw. Called from
  // inside a task it runs inline (no nested parallelism).
  template <typename F>
  void run(int64_t n, F&& fn) {
    using Fn = typename std::remove_reference<F>::type;
    run_raw(
        n, [](void* ctx, int64_t i) { (*static_cast<Fn*>(ctx))(i); }, const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  void run_raw(int64_t n, void (*call)(void*, int64_t), void* ctx);
  void worker_main();
  void do_tasks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> done_{0};  // tasks of the current region finished
  std::atomic<int> active_{0};    // workers inside do_tasks
  std::atomic<bool> failed_{false};
  std::atomic<bool> stop_{false};
  int64_t n_ = 0;
  void (*call_)(void*, int64_t) = nullptr;
  void* ctx_ = nullptr;
  std::mutex err_mu_;
  std::exception_ptr error_;
  std::mutex submit_mu_;  // one parallel region at a time per pool
};

// Splits [0, n) into ceil(n / grain) chunks and calls fn(begin, end) for each,
// on the pool when there is one (and more than one chunk), else inline.
template <typename F>
void parallel_for(ThreadPool* pool, int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t chunks = (n + grain - 1) / grain;
  if (!pool || pool->size() == 1 || chunks == 1) {
    for (int64_t c = 0; c < chunks; ++c) fn(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
  pool->run(chunks, [&](int64_t c) { fn(c * grain, std::min(n, (c + 1) * grain)); });
}

// A grain that gives each thread a few chunks (load balance) without making
// chunks smaller than `min_grain`. Depends on n only, so results never depend
// on the thread count.
inline int64_t balanced_grain(int64_t n, int64_t min_grain) {
  int64_t g = (n + 63) / 64;
  return g < min_grain ? min_grain : g;
}

}  // namespace sd
