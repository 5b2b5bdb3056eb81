// ThreadPool: every task runs exactly once, exceptions reach the caller,
// nested regions run inline, and parallel_for chunks depend only on n/grain.
#define SD_TEST_MAIN
#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <thread>
#include <vector>

#include "harness.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

TEST(every_task_runs_exactly_once_for_1_2_and_4_threads) {
  for (int threads : {1, 2, 4}) {
    sd::ThreadPool pool(threads);
    CHECK(pool.size() == threads);
    for (int64_t n : {1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (auto& h : hits) h = 0;
      for (int rep = 0; rep < 50; ++rep) pool.run(n, [&](int64_t i) { hits[size_t(i)]++; });
      bool ok = true;
      for (auto& h : hits) ok &= h.load() == 50;
      CHECK_MSG(ok, "threads %d n %lld", threads, (long long)n);
    }
  }
}

TEST(exceptions_propagate_to_the_caller) {
  sd::ThreadPool pool(2);
  bool caught = false;
  try {
    pool.run(100, [](int64_t i) {
      if (i == 37) throw std::runtime_error("boom");
    });
  } catch (const std::runtime_error&) {
    caught = true;
  }
  CHECK(caught);
  std::atomic<int> after{0};
  pool.run(10, [&](int64_t) { after++; });  // the pool still works
  CHECK(after == 10);
}

TEST(nested_regions_run_inline) {
  sd::ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.run(4, [&](int64_t) { pool.run(3, [&](int64_t) { inner++; }); });
  CHECK(inner == 12);
}

TEST(parallel_for_chunks_depend_only_on_n_and_grain) {
  for (sd::ThreadPool* p : {static_cast<sd::ThreadPool*>(nullptr), new sd::ThreadPool(3)}) {
    std::vector<int64_t> starts(100, -1);
    sd::parallel_for(p, 100, 7, [&](int64_t b, int64_t e) {
      CHECK(e - b == 7 || (b == 98 && e == 100));
      starts[size_t(b)] = e;
    });
    for (int64_t b = 0; b < 100; b += 7) CHECK(starts[size_t(b)] == std::min<int64_t>(100, b + 7));
    delete p;
  }
}

TEST(default_size_is_the_physical_core_count) {
  sd::ThreadPool pool;
  CHECK(pool.size() == sd::physical_cores());
  CHECK(sd::physical_cores() >= 1);
  // Cores, not SMT siblings: never more than the logical CPUs (the OS query,
  // sysfs / GetLogicalProcessorInformationEx / hw.physicalcpu, counts cores).
  const unsigned logical = std::thread::hardware_concurrency();
  CHECK(logical == 0 || sd::physical_cores() <= int(logical));
  std::printf("  %d physical cores, %u logical CPUs\n", sd::physical_cores(), logical);
}
