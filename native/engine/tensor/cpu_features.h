// Runtime CPU feature detection and kernel-path selection. One x86-64 binary
// carries scalar, AVX2 (+FMA+F16C) and AVX-512 kernels; the best supported
// path is picked at start-up. An arm64 binary carries scalar and NEON (NEON
// is baseline there). SD_NATIVE_CPU=scalar|avx2|avx512|neon forces one.
#pragma once

namespace sd {

enum class CpuPath { Scalar = 0, Avx2 = 1, Avx512 = 2, Neon = 3 };

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512bf16 = false, avx512vnni = false;
  bool avxvnni = false;       // AVX-VNNI: the VEX (256-bit) vpdpbusd, no AVX-512 needed (Alder Lake+, Zen 5)
  bool neon = false;          // AArch64 Advanced SIMD (always there on arm64)
  bool neon_dotprod = false;  // ARMv8.2 SDOT/UDOT (optional before ARMv8.4): the NEON integer GEMM kernels
};

// In the test-only emulated build (SD_EMULATE_AVX512) the AVX-512 features
// (incl. BF16 and VNNI) and AVX-VNNI are reported present whenever
// AVX2+FMA+F16C are: those kernels then run as SIMDe code compiled for AVX2.
const CpuFeatures& cpu_features();
bool cpu_path_supported(CpuPath p);
const char* cpu_path_name(CpuPath p);

// The path kernels use. Initially the SD_NATIVE_CPU request if supported,
// else the best supported path.
CpuPath cpu_path();
// Overrides the path (tests compare paths in one process). Returns false and
// changes nothing if the CPU lacks it.
bool set_cpu_path(CpuPath p);
// False when SD_NATIVE_CPU names a path this CPU cannot run (tests skip).
bool cpu_path_request_satisfied();

// Physical cores (not SMT siblings); at least 1.
int physical_cores();

}  // namespace sd
