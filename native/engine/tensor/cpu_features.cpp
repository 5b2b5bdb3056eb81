#include "tensor/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#if defined(SD_X86_DISPATCH) && (defined(__x86_64__) || defined(_M_X64))
#define SD_HAVE_CPUID 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)  // Linux arm64 uapi hwcap bit (older headers lack the name)
#endif
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace sd {

#ifdef SD_HAVE_CPUID
static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
#if defined(_MSC_VER)
  int v[4];
  __cpuidex(v, int(leaf), int(sub));
  for (int i = 0; i < 4; ++i) r[i] = unsigned(v[i]);
#else
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
#endif
}
static unsigned long long xgetbv0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}
#endif

static CpuFeatures detect() {
  CpuFeatures f;
#ifdef SD_HAVE_CPUID
  unsigned r[4];
  cpuid(0, 0, r);
  unsigned max_leaf = r[0];
  cpuid(1, 0, r);
  bool osxsave = (r[2] >> 27) & 1;
  bool fma = (r[2] >> 12) & 1, f16c = (r[2] >> 29) & 1, avx = (r[2] >> 28) & 1;
  if (!osxsave || !avx) return f;
  unsigned long long xcr0 = xgetbv0();
  bool ymm_os = (xcr0 & 0x6) == 0x6;    // SSE + AVX state saved by the OS
  bool zmm_os = (xcr0 & 0xe6) == 0xe6;  // plus opmask and ZMM state
  if (!ymm_os || max_leaf < 7) return f;
  cpuid(7, 0, r);
  f.avx2 = (r[1] >> 5) & 1;
  f.fma = fma;
  f.f16c = f16c;
  unsigned r1[4] = {0, 0, 0, 0};
  if (r[0] >= 1) cpuid(7, 1, r1);  // leaf 7 EAX: the highest sub-leaf
  f.avxvnni = (r1[0] >> 4) & 1;
  if (zmm_os) {
    f.avx512f = (r[1] >> 16) & 1;
    f.avx512dq = (r[1] >> 17) & 1;
    f.avx512bw = (r[1] >> 30) & 1;
    f.avx512vl = (r[1] >> 31) & 1;
    f.avx512vnni = (r[2] >> 11) & 1;
    f.avx512bf16 = (r1[0] >> 5) & 1;
  }
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
  f.neon = true;
#endif
#if defined(__aarch64__) && defined(__linux__)
  f.neon_dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__aarch64__) && defined(__APPLE__)
  int dp = 0;
  size_t len = sizeof(dp);
  f.neon_dotprod = sysctlbyname("hw.optional.arm.FEAT_DotProd", &dp, &len, nullptr, 0) == 0 && dp != 0;
#endif
#ifdef SD_EMULATE_AVX512
  if (f.avx2 && f.fma && f.f16c) f.avx512f = f.avx512bw = f.avx512vl = f.avx512dq = f.avx512bf16 = f.avx512vnni = f.avxvnni = true;
#endif
  return f;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool cpu_path_supported(CpuPath p) {
  const CpuFeatures& f = cpu_features();
  switch (p) {
    case CpuPath::Scalar: return true;
    case CpuPath::Avx2: return f.avx2 && f.fma && f.f16c;
    case CpuPath::Avx512: return f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
    case CpuPath::Neon: return f.neon;
  }
  return false;
}

const char* cpu_path_name(CpuPath p) {
  switch (p) {
    case CpuPath::Scalar: return "scalar";
    case CpuPath::Avx2: return "avx2";
    case CpuPath::Avx512: return "avx512";
    case CpuPath::Neon: return "neon";
  }
  return "?";
}

// {requested path (or -1), requested path supported}
static std::pair<int, bool> env_request() {
  const char* env = std::getenv("SD_NATIVE_CPU");
  if (!env || !*env) return {-1, true};
  for (CpuPath p : {CpuPath::Scalar, CpuPath::Avx2, CpuPath::Avx512, CpuPath::Neon})
    if (std::strcmp(env, cpu_path_name(p)) == 0) return {int(p), cpu_path_supported(p)};
  return {-1, false};  // unknown name: treat as unsatisfiable
}

static CpuPath best_path() {
  if (cpu_path_supported(CpuPath::Neon)) return CpuPath::Neon;
  if (cpu_path_supported(CpuPath::Avx512)) return CpuPath::Avx512;
  if (cpu_path_supported(CpuPath::Avx2)) return CpuPath::Avx2;
  return CpuPath::Scalar;
}

static std::atomic<int>& current_path() {
  static std::atomic<int> p([] {
    auto req = env_request();
    return req.first >= 0 && req.second ? req.first : int(best_path());
  }());
  return p;
}

CpuPath cpu_path() { return CpuPath(current_path().load(std::memory_order_relaxed)); }

bool set_cpu_path(CpuPath p) {
  if (!cpu_path_supported(p)) return false;
  current_path().store(int(p));
  return true;
}

bool cpu_path_request_satisfied() { return env_request().second; }

}  // namespace sd
