// The default thread count: physical cores, not SMT siblings. Compute-bound
// kernels gain nothing from a core's second hardware thread (they share its
// vector units) and lose to the extra synchronisation, so each OS is asked
// for its core count; the logical count is only the last resort.
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tensor/cpu_features.h"

#if defined(_WIN32)
#ifndef NOMINMAX
#define NOMINMAX
#endif
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#else
#include <fstream>
#endif

namespace sd {
namespace {

#if defined(_WIN32)
// One RelationProcessorCore record per physical core, across all processor groups.
int os_physical_cores() {
  DWORD len = 0;
  if (GetLogicalProcessorInformationEx(RelationProcessorCore, nullptr, &len) || GetLastError() != ERROR_INSUFFICIENT_BUFFER) return 0;
  std::vector<char> buf(len);
  if (!GetLogicalProcessorInformationEx(RelationProcessorCore, reinterpret_cast<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buf.data()),
                                        &len))
    return 0;
  int cores = 0;
  for (DWORD at = 0; at < len;) {
    const auto* r = reinterpret_cast<const SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX*>(buf.data() + at);
    if (r->Size == 0) break;
    cores += r->Relationship == RelationProcessorCore;
    at += r->Size;
  }
  return cores;
}
#elif defined(__APPLE__)
int os_physical_cores() {
  int n = 0;
  size_t len = sizeof n;
  return sysctlbyname("hw.physicalcpu", &n, &len, nullptr, 0) == 0 ? n : 0;
}
#else
// Linux: distinct (package, core) pairs in sysfs.
int os_physical_cores() {
  std::set<std::pair<std::string, std::string> > cores;
  const unsigned logical = std::thread::hardware_concurrency();
  for (unsigned i = 0; i < (logical ? logical : 1024); ++i) {
    const std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(i) + "/topology/";
    std::ifstream core(base + "core_id"), pkg(base + "physical_package_id");
    std::string c, p;
    if (!(core >> c) || !(pkg >> p)) break;
    cores.insert({p, c});
  }
  return int(cores.size());
}
#endif

}  // namespace

int physical_cores() {
  static const int n = [] {
    const int cores = os_physical_cores();
    const int logical = int(std::thread::hardware_concurrency());
    return cores > 0 ? cores : logical > 0 ? logical : 1;
  }();
  return n;
}

}  // namespace sd
