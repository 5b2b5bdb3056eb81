#include "tensor/thread_pool.h"

#include "tensor/cpu_features.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define SD_PAUSE() _mm_pause()
#else
#define SD_PAUSE() std::this_thread::yield()
#endif

namespace sd {

namespace {
thread_local bool tl_in_task = false;
// Spin this many pause iterations before sleeping: keeps dispatch latency
// low between back-to-back regions without burning a core when idle.
constexpr int kSpin = 20000;
}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = physical_cores();
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_main(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::do_tasks() {
  bool was = tl_in_task;
  tl_in_task = true;
  for (;;) {
    int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
    if (i >= n_) break;
    try {
      call_(ctx_, i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(err_mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(n_);  // skip the remaining tasks
    }
  }
  tl_in_task = was;
}

void ThreadPool::worker_main() {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int s = 0; g == seen && s < kSpin; ++s) {
      SD_PAUSE();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return generation_.load() != seen; });
      g = generation_.load();
    }
    seen = g;
    if (stop_.load()) return;
    do_tasks();
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run_raw(int64_t n, void (*call)(void*, int64_t), void* ctx) {
  if (n <= 0) return;
  if (workers_.empty() || tl_in_task || n == 1) {
    for (int64_t i = 0; i < n; ++i) call(ctx, i);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mu_);
  n_ = n;
  call_ = call;
  ctx_ = ctx;
  error_ = nullptr;
  next_.store(0, std::memory_order_relaxed);
  pending_.store(int(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  do_tasks();
  // Workers may be descheduled on a busy machine: pause first, then yield.
  for (int s = 0; pending_.load(std::memory_order_acquire) != 0; ++s) {
    if (s < kSpin) SD_PAUSE();
    else std::this_thread::yield();
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace sd
