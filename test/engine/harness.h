// Minimal test harness for the engine's C++ tests: TEST cases register
// themselves; CHECK failures are counted and reported; main() runs them all
// and prints "N passed, N failed".
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace sdtest {

struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}
inline int& failures() {
  static int n = 0;
  return n;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

inline std::string fixtures_dir() {
  const char* env = std::getenv("SD_FIXTURES_DIR");
  return env ? env : SD_FIXTURES_DIR;
}

// A path under the fixtures folder, e.g. fixture("tiny-sd1/diffusers").
inline std::string fixture(const std::string& rel) { return fixtures_dir() + "/" + rel; }

// Relative L2 error ||a - b|| / ||b||.
inline double rel_l2(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

}  // namespace sdtest

#define SD_CAT2(a, b) a##b
#define SD_CAT(a, b) SD_CAT2(a, b)
#define TEST(name)                                                        \
  static void SD_CAT(test_, name)();                                      \
  static sdtest::Register SD_CAT(reg_, name)(#name, SD_CAT(test_, name)); \
  static void SD_CAT(test_, name)()

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "  CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++sdtest::failures();                                                             \
    }                                                                                   \
  } while (0)

#define CHECK_MSG(cond, ...)                                                            \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "  CHECK failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                                \
      std::fprintf(stderr, "\n");                                                       \
      ++sdtest::failures();                                                             \
    }                                                                                   \
  } while (0)

// Expects `expr` to throw sd::Error with the given ErrorCode.
#define CHECK_THROWS_CODE(expr, code_)                                                                 \
  do {                                                                                                 \
    bool threw_ = false;                                                                               \
    try {                                                                                              \
      (void)(expr);                                                                                    \
    } catch (const sd::Error& e_) {                                                                    \
      threw_ = true;                                                                                   \
      CHECK_MSG(e_.code() == (code_), "wrong code %s: %s", sd::error_code_name(e_.code()), e_.what()); \
    }                                                                                                  \
    CHECK_MSG(threw_, "%s did not throw", #expr);                                                      \
  } while (0)

// Each test executable defines SD_TEST_MAIN in exactly one file.
#ifdef SD_TEST_MAIN
int main() {
  int passed = 0, failed = 0;
  for (auto& c : sdtest::registry()) {
    int before = sdtest::failures();
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  uncaught exception: %s\n", e.what());
      ++sdtest::failures();
    }
    bool ok = sdtest::failures() == before;
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", c.name);
    ok ? ++passed : ++failed;
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
#endif
