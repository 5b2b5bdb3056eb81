// Shared helpers for the libFuzzer targets. A target may only end an input in
// one of two ways: success, or a typed rejection (sd::Error other than
// ERR_INTERNAL, or the JSON parser's std::invalid_argument). Any other
// exception escapes to libFuzzer and is reported as a crash, like a signal or
// a sanitizer finding.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "tensor/tensor.h"

namespace sdfuzz {

// SD_FUZZ_VERBOSE=1: print every rejection (to check what the seeds reach).
inline bool verbose() {
  static const bool v = std::getenv("SD_FUZZ_VERBOSE") != nullptr;
  return v;
}

// Runs `fn`, swallowing typed rejections. ERR_INTERNAL means the engine
// itself detected a bug, so it aborts like any other finding.
template <class Fn>
void expect_typed(Fn&& fn) {
  try {
    fn();
  } catch (const sd::Error& e) {
    if (e.code() == sd::ErrorCode::Internal) {
      std::fprintf(stderr, "ERR_INTERNAL: %s\n", e.what());
      std::abort();
    }
    if (verbose()) std::fprintf(stderr, "rejected (%s): %s\n", sd::error_code_name(e.code()), e.what());
  } catch (const std::invalid_argument& e) {
    // Json::parse's documented error for malformed text.
    if (verbose()) std::fprintf(stderr, "rejected (json): %s\n", e.what());
  }
}

// Reads every byte a tensor claims to span, so a view that reaches outside
// its buffer is an AddressSanitizer finding rather than a silent bug.
inline uint64_t touch(const sd::Tensor& t) {
  const int64_t n = t.nbytes();
  if (n < 0) std::abort();  // a reader handed out a tensor with an invalid size
  const auto* p = static_cast<const uint8_t*>(t.data());
  uint64_t sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += p[i];
  return sum;
}

}  // namespace sdfuzz
