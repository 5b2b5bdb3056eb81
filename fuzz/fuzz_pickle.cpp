// Restricted unpickler (io/pickle.h). Beyond "no crash": whatever graph it
// accepts may only name the allowed globals, so nothing a pickle names
// outside the allow-list can ever reach the tensor builder.
#include <set>
#include <string>

#include "fuzz_util.h"
#include "io/pickle.h"

namespace {

bool allowed_global(const std::string& name) {
  static const std::set<std::string> kAllowed = {"collections.OrderedDict",
                                                 "torch._utils._rebuild_tensor_v2",
                                                 "torch._utils._rebuild_parameter",
                                                 "torch.FloatStorage",
                                                 "torch.HalfStorage",
                                                 "torch.BFloat16Storage",
                                                 "torch.DoubleStorage",
                                                 "torch.LongStorage",
                                                 "torch.IntStorage",
                                                 "torch.ShortStorage",
                                                 "torch.CharStorage",
                                                 "torch.ByteStorage",
                                                 "torch.BoolStorage"};
  return kAllowed.count(name) != 0;
}

// Non-recursive walk; graphs may contain cycles through the memo.
void check_graph(const sd::PyRef& root) {
  std::vector<const sd::PyValue*> todo{root.get()};
  std::set<const sd::PyValue*> seen;
  while (!todo.empty()) {
    const sd::PyValue* v = todo.back();
    todo.pop_back();
    if (!v || !seen.insert(v).second) continue;
    if (v->kind == sd::PyValue::Kind::Global && !allowed_global(v->s)) {
      std::fprintf(stderr, "unpickler accepted the global \"%s\"\n", v->s.c_str());
      std::abort();
    }
    if (v->kind == sd::PyValue::Kind::Tensor && (!v->storage || v->sizes.size() != v->strides.size())) std::abort();
    for (const auto& item : v->items) todo.push_back(item.get());
    for (const auto& [k, val] : v->dict) {
      todo.push_back(k.get());
      todo.push_back(val.get());
    }
    todo.push_back(v->storage.get());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> buf(data, data + size);
  sdfuzz::expect_typed([&] {
    auto graph = sd::unpickle(buf.data(), buf.size(), "fuzz.pkl");
    check_graph(graph->root);
  });
  return 0;
}
