// Internal: the intrinsics header of the *_avx512.cpp files. A normal build
// uses the compiler's <immintrin.h> (those files get the AVX-512 flags). The
// test-only emulated build (CMake SD_NATIVE_EMULATE_AVX512=ON, which defines
// SD_EMULATE_AVX512 and builds these files with AVX2 flags only) maps the
// AVX-512 F/BW/VL/DQ/VNNI/BF16 intrinsics to SIMDe's portable versions so
// their logic runs on an AVX2 machine; never part of a shipped build.
#pragma once
#if defined(SD_EMULATE_AVX512)
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#else
#include <immintrin.h>
#endif
