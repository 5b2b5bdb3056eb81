// JSON parser (io/json.h): every header and config file goes through it.
#include <string_view>

#include "fuzz_util.h"
#include "io/json.h"

namespace {

// Visits every value without recursion (the parser bounds depth, but a walk
// must not rely on that) and reads each accessor.
size_t walk(const sd::Json& root) {
  std::vector<const sd::Json*> todo{&root};
  size_t seen = 0;
  while (!todo.empty()) {
    const sd::Json* v = todo.back();
    todo.pop_back();
    ++seen;
    int64_t i;
    if (v->is_number() && v->as_int64(&i) && static_cast<double>(i) != v->as_number()) std::abort();
    for (const auto& item : v->items()) todo.push_back(&item);
    // Duplicates are rejected, so find() returns each member itself (checked
    // on small objects only: find() is a linear scan).
    const bool check_find = v->members().size() <= 64;
    for (const auto& [key, member] : v->members()) {
      if (check_find && v->find(key) != &member) std::abort();
      todo.push_back(&member);
    }
  }
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  sdfuzz::expect_typed([&] { walk(sd::Json::parse(text)); });
  sdfuzz::expect_typed([&] { walk(sd::Json::parse(text, 4)); });
  return 0;
}
