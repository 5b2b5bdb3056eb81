// Arena and op timers: blocks are reused by size, in-use bytes and their
// peak are exact, tensors may outlive the arena, ops allocating from an arena
// give the same bits as ops allocating from the heap, and Compute::timers
// counts calls per op family.
#define SD_TEST_MAIN
#include <string>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "tensor/arena.h"

TEST(released_blocks_are_reused_and_stats_track_the_peak) {
  sd::Arena arena;
  void* first;
  {
    sd::Tensor a = arena.empty(sd::DType::F32, {1000});     // 4000 B -> one 4 KiB page
    sd::Tensor b = arena.empty(sd::DType::F16, {3, 4096});  // 24576 B -> 6 pages
    first = a.data();
    CHECK(arena.stats().in_use == 4096 + 24576);
    CHECK(reinterpret_cast<uintptr_t>(b.data()) % 64 == 0);
  }
  CHECK(arena.stats().in_use == 0);
  CHECK(arena.stats().peak_in_use == 4096 + 24576);
  CHECK(arena.stats().reserved == 4096 + 24576);       // cached for reuse
  sd::Tensor c = arena.empty(sd::DType::F32, {1024});  // same 4 KiB class
  CHECK(c.data() == first);
  CHECK(arena.stats().reserved == 4096 + 24576);
  arena.reset_peak();
  CHECK(arena.stats().peak_in_use == 4096);
  arena.trim();
  CHECK(arena.stats().reserved == 4096);  // only the live block remains
}

TEST(tensors_outlive_their_arena) {
  sd::Tensor keep;
  {
    sd::Arena arena;
    keep = arena.empty(sd::DType::F32, {16});
    keep.data_as<float>()[15] = 3.f;
  }
  CHECK(keep.data_as<float>()[15] == 3.f);  // still valid; freed with `keep`
}

TEST(ops_on_an_arena_match_ops_on_the_heap) {
  sd::Arena arena;
  sd::Compute heap, ar;
  ar.arena = &arena;
  sd::Tensor x = ktest::rand_tensor({2, 8, 12, 12}, 1), w = ktest::rand_tensor({8, 8, 3, 3}, 2);
  for (int rep = 0; rep < 2; ++rep) {  // the second pass reuses blocks
    CHECK(ktest::bit_equal(sd::ops::conv2d(ar, x, w, nullptr, 1, 1), sd::ops::conv2d(heap, x, w, nullptr, 1, 1)));
    sd::Tensor q = ktest::rand_tensor({1, 70, 32}, 3);
    CHECK(ktest::bit_equal(sd::ops::attention(ar, q, q, q, 2, false, 0.3f), sd::ops::attention(heap, q, q, q, 2, false, 0.3f)));
  }
  CHECK(arena.stats().in_use == 0);
  CHECK(arena.stats().peak_in_use > 0);
}

TEST(op_timers_count_calls_per_op_family) {
  sd::OpTimers timers;
  sd::Compute c;
  c.timers = &timers;
  sd::Tensor x = ktest::rand_tensor({1, 4, 8, 8}, 4), w = ktest::rand_tensor({4, 4, 3, 3}, 5);
  sd::ops::conv2d(c, x, w, nullptr, 1, 1);
  sd::ops::conv2d(c, x, w, nullptr, 2, 1);
  sd::ops::silu_(c, x);
  CHECK(timers.calls[sd::OpTimers::Conv2d] == 2);
  CHECK(timers.calls[sd::OpTimers::Elementwise] == 1);
  CHECK(timers.calls[sd::OpTimers::Linear] == 0);
  CHECK(timers.seconds[sd::OpTimers::Conv2d] > 0);
  CHECK(std::string(sd::OpTimers::name(sd::OpTimers::Attention)) == "attention");
}
