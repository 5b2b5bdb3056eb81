#include "pipeline/weight_residency.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace sd {

namespace {

using Range = std::pair<uintptr_t, uintptr_t>;  // [begin, end)

#if defined(__linux__) && defined(MADV_PAGEOUT)
// Read-only, file-backed mappings of this process (from /proc/self/maps):
// their pages can never be dirty, so dropping them loses nothing.
std::vector<Range> read_only_file_mappings() {
  std::vector<Range> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string addr, perms, offset, dev;
    unsigned long long inode = 0;
    if (!(in >> addr >> perms >> offset >> dev >> inode) || inode == 0 || perms.size() < 4) continue;
    if (perms[1] == 'w' || perms[3] != 'p') continue;
    const size_t dash = addr.find('-');
    if (dash == std::string::npos) continue;
    out.emplace_back(uintptr_t(std::stoull(addr.substr(0, dash), nullptr, 16)), uintptr_t(std::stoull(addr.substr(dash + 1), nullptr, 16)));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// madvise(MADV_DONTNEED) on the parts of `r` that lie in `mappings` (sorted,
// disjoint); anything else (heap copies of weights) is left alone.
void unmap_file_pages(const std::vector<Range>& mappings, const Range& r) {
  auto it = std::upper_bound(mappings.begin(), mappings.end(), Range{r.first, UINTPTR_MAX});
  if (it != mappings.begin()) --it;
  for (; it != mappings.end() && it->first < r.second; ++it) {
    const uintptr_t b = std::max(r.first, it->first), e = std::min(r.second, it->second);
    if (b < e) madvise(reinterpret_cast<void*>(b), size_t(e - b), MADV_DONTNEED);  // best effort: errors ignored
  }
}
#endif

}  // namespace

WeightRelease weight_release_mode() {
  static const WeightRelease mode = [] {
    const char* v = std::getenv("SD_NATIVE_RELEASE_WEIGHTS");
    const std::string s = v ? v : "";
    if (s == "0") return WeightRelease::Keep;
    if (s == "1" || s == "pageout") return WeightRelease::PageOut;
    return WeightRelease::Unmap;
  }();
  return mode;
}

void release_weight_pages(const ModelWeights& weights, const std::string& prefix) {
#if defined(__linux__) && defined(MADV_PAGEOUT)
  const WeightRelease mode = weight_release_mode();
  if (mode == WeightRelease::Keep) return;
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  std::vector<Range> ranges;  // page-rounded outwards
  // Names are sorted: the prefix's weights are one contiguous run of the map.
  const auto& all = weights.all();
  for (auto it = all.lower_bound(prefix); it != all.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    const Tensor& t = it->second;
    if (!t.data() || t.nbytes() <= 0) continue;
    const uintptr_t b = uintptr_t(t.data()), e = b + uintptr_t(t.nbytes());
    ranges.emplace_back(b & ~(page - 1), (e + page - 1) & ~(page - 1));
  }
  std::sort(ranges.begin(), ranges.end());
  // Mappings are page-aligned, so rounding outwards stays inside the tensor's
  // mapping; neighbours sharing its edge pages just re-fault.
  const std::vector<Range> files = mode == WeightRelease::Unmap ? read_only_file_mappings() : std::vector<Range>{};
  // Merged runs: one call per contiguous stretch of the file.
  for (size_t i = 0; i < ranges.size();) {
    Range run = ranges[i];
    for (++i; i < ranges.size() && ranges[i].first <= run.second; ++i) run.second = std::max(run.second, ranges[i].second);
    if (mode == WeightRelease::PageOut)
      madvise(reinterpret_cast<void*>(run.first), size_t(run.second - run.first), MADV_PAGEOUT);  // best effort
    else
      unmap_file_pages(files, run);  // re-faulted from the page cache when next used
  }
#else
  (void)weights;
  (void)prefix;
#endif
}

}  // namespace sd
