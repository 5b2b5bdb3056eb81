// aligned_alloc64: every block is 64-byte aligned and writable; blocks of
// 1 MiB and more are mappings whose freed copies are reused for the same
// size, at most 32 MiB of them stay resident, and release_cached_blocks()
// returns them to the OS (checked through RssAnon on Linux). Builds with
// AddressSanitizer take every block from the heap (ASan checks them there).
#define SD_TEST_MAIN
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "harness.h"
#include "tensor/aligned_memory.h"

namespace {

constexpr size_t kMiB = size_t(1) << 20;

// Resident anonymous memory in MiB, or -1 where /proc is not there.
double rss_anon_mib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  double kb = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "RssAnon: %lf", &kb) == 1) break;
  std::fclose(f);
  return kb < 0 ? -1 : kb / 1024.0;
}

bool aligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

}  // namespace

TEST(blocks_of_every_size_are_aligned_and_writable) {
  for (size_t bytes : {size_t(0), size_t(1), size_t(4095), kMiB - 1, kMiB, 3 * kMiB + 7, 40 * kMiB}) {
    char* p = static_cast<char*>(sd::aligned_alloc64(bytes));
    CHECK_MSG(p && aligned(p), "%zu bytes", bytes);
    if (!p) continue;
    std::memset(p, 0x5A, bytes);
    CHECK(bytes == 0 || (p[0] == 0x5A && p[bytes - 1] == 0x5A));
    sd::aligned_free64(p);
  }
  sd::aligned_free64(nullptr);
}

TEST(a_freed_large_block_is_reused_for_the_same_size_only) {
  if (!sd::large_blocks_are_mappings()) return;  // ASan / Windows builds: heap blocks throughout
  sd::release_cached_blocks();
  void* a = sd::aligned_alloc64(5 * kMiB);
  sd::aligned_free64(a);
  void* b = sd::aligned_alloc64(5 * kMiB);
  CHECK(b == a);
  sd::aligned_free64(b);
  void* c = sd::aligned_alloc64(4 * kMiB);  // a smaller size does not take the cached 5 MiB block
  CHECK(c != a);
  sd::aligned_free64(c);
  sd::release_cached_blocks();
}

TEST(freed_large_blocks_stay_resident_up_to_the_cap_until_released) {
  if (!sd::large_blocks_are_mappings() || rss_anon_mib() < 0) return;  // heap blocks, or no /proc to measure
  sd::release_cached_blocks();
  const double base = rss_anon_mib();
  std::vector<void*> blocks;
  for (int i = 0; i < 24; ++i) {  // 96 MiB, every page touched
    void* p = sd::aligned_alloc64(4 * kMiB - 256);
    std::memset(p, 1, 4 * kMiB - 256);
    blocks.push_back(p);
  }
  const double live = rss_anon_mib() - base;
  CHECK_MSG(live > 90, "96 MiB touched, RssAnon grew by %.1f MiB", live);
  for (void* p : blocks) sd::aligned_free64(p);
  const double cached = rss_anon_mib() - base;
  CHECK_MSG(cached > 24 && cached < 36, "after the frees %.1f MiB stay resident, expected the 32 MiB cap", cached);
  sd::release_cached_blocks();
  const double released = rss_anon_mib() - base;
  CHECK_MSG(released < 4, "after release_cached_blocks %.1f MiB stay resident", released);
}
