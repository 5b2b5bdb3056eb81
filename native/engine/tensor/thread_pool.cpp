#include "tensor/thread_pool.h"

#include <cstdint>

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
    // next_ is the publication point of a region (see run_raw): claiming an
    // index with acquire ordering makes n_/call_/ctx_ of that region visible.
    int64_t i = next_.fetch_add(1, std::memory_order_acq_rel);
    if (i >= n_) break;
    if (!failed_.load(std::memory_order_relaxed)) {
      try {
        call_(ctx_, i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(err_mu_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);  // the remaining tasks are skipped
      }
    }
    done_.fetch_add(1, std::memory_order_acq_rel);
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
    // A worker that wakes late (descheduled on a busy machine) must not hold
    // the caller up: the caller waits for finished tasks, not for workers, and
    // a late worker only joins while its region is still the current one.
    active_.fetch_add(1, std::memory_order_acq_rel);
    if (generation_.load(std::memory_order_acquire) == seen) do_tasks();
    active_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::run_raw(int64_t n, void (*call)(void*, int64_t), void* ctx) {
  if (n <= 0) return;
  if (workers_.empty() || tl_in_task || n == 1) {
    for (int64_t i = 0; i < n; ++i) call(ctx, i);
    return;
  }
  std::lock_guard<std::mutex> submit(submit_mu_);
  // A straggler of the previous region may still be inside do_tasks (where it
  // can only find no work left); let it leave before the region state changes.
  for (int s = 0; active_.load(std::memory_order_acquire) != 0; ++s) {
    if (s < kSpin)
      SD_PAUSE();
    else
      std::this_thread::yield();
  }
  next_.store(INT64_MAX / 2, std::memory_order_relaxed);  // no claims while the state is rewritten
  n_ = n;
  call_ = call;
  ctx_ = ctx;
  error_ = nullptr;
  failed_.store(false, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  next_.store(0, std::memory_order_release);  // publish the region
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  do_tasks();
  // Only tasks someone already claimed can be outstanding here.
  for (int s = 0; done_.load(std::memory_order_acquire) < n; ++s) {
    if (s < kSpin)
      SD_PAUSE();
    else
      std::this_thread::yield();
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace sd
