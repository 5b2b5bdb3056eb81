#include "pipeline/weight_residency.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace sd {

void release_weight_pages(const ModelWeights& weights, const std::string& prefix) {
#if defined(__linux__) && defined(MADV_PAGEOUT)
  static const bool enabled = [] {
    const char* v = std::getenv("SD_NATIVE_RELEASE_WEIGHTS");
    return v && std::string(v) == "1";
  }();
  if (!enabled) return;
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;  // [begin, end), page-rounded outwards
  for (const auto& [name, t] : weights.all()) {
    if (name.compare(0, prefix.size(), prefix) != 0 || !t.data() || t.nbytes() <= 0) continue;
    const uintptr_t b = uintptr_t(t.data()), e = b + uintptr_t(t.nbytes());
    ranges.emplace_back(b & ~(page - 1), (e + page - 1) & ~(page - 1));
  }
  std::sort(ranges.begin(), ranges.end());
  // Merged runs: one call per contiguous stretch of the file. Rounding
  // outwards is safe because paging out never changes what a page holds.
  for (size_t i = 0; i < ranges.size();) {
    uintptr_t b = ranges[i].first, e = ranges[i].second;
    for (++i; i < ranges.size() && ranges[i].first <= e; ++i) e = std::max(e, ranges[i].second);
    madvise(reinterpret_cast<void*>(b), size_t(e - b), MADV_PAGEOUT);  // best effort: errors ignored
  }
#else
  (void)weights;
  (void)prefix;
#endif
}

}  // namespace sd
