// A restricted unpickler for PyTorch state dicts. It interprets the pickle
// opcodes that plain data needs (protocols 2-5: containers, strings, numbers,
// memo) and recognises exactly these globals:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2,
//   torch._utils._rebuild_parameter, torch.<Float|Half|BFloat16|Double|Long|
//   Int|Short|Char|Byte|Bool>Storage.
// and, as inert Object values, the training metadata Lightning checkpoints
// carry beside the state dict (ModelCheckpoint, numpy scalars/arrays/dtypes,
// _codecs.encode, set).
// Nothing is ever called or imported: a REDUCE of an allowed global builds
// our own value (an Object for the inert ones), and any other global
// (os.system, builtins.eval, ...) is refused by name with
// ERR_MODEL_UNSUPPORTED when it is first referenced.
// Stack, memo and value nesting are bounded.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/dtype.h"

namespace sd {

struct PyValue;
using PyRef = std::shared_ptr<PyValue>;

struct PyValue {
  // Object: an instance of an inert class (never a tensor); sets are Lists.
  enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Storage, Tensor, Object };
  Kind kind = Kind::None;
  int64_t i = 0;                              // Bool / Int; Storage: element count
  double f = 0;                               // Float
  std::string s;                              // String / Bytes; Global: "module.name"; Storage: key
  std::vector<PyRef> items;                   // Tuple / List
  std::vector<std::pair<PyRef, PyRef>> dict;  // Dict (insertion order)
  DType dtype = DType::F32;                   // Storage
  // Tensor: storage, element offset, sizes and strides (elements).
  PyRef storage;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

// Every value of one unpickled graph. Hostile pickles can build cycles (via
// the memo) or chains millions deep; owning all values here and unlinking
// them before release keeps destruction non-recursive and leak-free.
class PickleGraph {
 public:
  PickleGraph() = default;
  PickleGraph(const PickleGraph&) = delete;
  PickleGraph& operator=(const PickleGraph&) = delete;
  ~PickleGraph();
  PyRef make(PyValue::Kind kind);
  size_t size() const { return values_.size(); }
  PyRef root;

 private:
  std::vector<PyRef> values_;
};

// Unpickles `data[0, size)`. Throws ERR_MODEL_FORMAT (malformed pickle, with
// the byte offset) or ERR_MODEL_UNSUPPORTED (a refused global, named).
std::unique_ptr<PickleGraph> unpickle(const uint8_t* data, uint64_t size, const std::string& where);

}  // namespace sd
