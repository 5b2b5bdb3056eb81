#include "io/pickle.h"

#include <cstring>
#include <map>

#include "core/error.h"

namespace sd {

namespace {

// Bounds for untrusted input, far above what a state dict needs (about 20
// values per tensor) while keeping a hostile pickle's memory to a few
// hundred MB.
constexpr size_t kMaxStack = 1u << 21;
constexpr size_t kMaxDims = 16;
constexpr size_t kMaxValues = 1u << 21;

using Kind = PyValue::Kind;

bool storage_dtype(const std::string& name, DType* out) {
  static const std::map<std::string, DType> kTypes = {
      {"torch.FloatStorage", DType::F32},  {"torch.HalfStorage", DType::F16}, {"torch.BFloat16Storage", DType::BF16},
      {"torch.DoubleStorage", DType::F64}, {"torch.LongStorage", DType::I64}, {"torch.IntStorage", DType::I32},
      {"torch.ShortStorage", DType::I16},  {"torch.CharStorage", DType::I8},  {"torch.ByteStorage", DType::U8},
      {"torch.BoolStorage", DType::BOOL},
  };
  auto it = kTypes.find(name);
  if (it == kTypes.end()) return false;
  *out = it->second;
  return true;
}

bool tensor_global(const std::string& name) {
  DType dt;
  return name == "collections.OrderedDict" || name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_parameter" ||
         storage_dtype(name, &dt);
}

// Classes that training checkpoints pickle beside the state dict (PyTorch
// Lightning's ModelCheckpoint callback state, numpy scalars such as
// global_step, sets): known to be data, never needed for the weights, so
// they become inert Object values instead of refusing the file.
bool inert_global(const std::string& name) {
  static const char* const kInert[] = {
      "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
      "lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint",
      "numpy.core.multiarray.scalar",
      "numpy._core.multiarray.scalar",
      "numpy.core.multiarray._reconstruct",
      "numpy._core.multiarray._reconstruct",
      "numpy.dtype",
      "numpy.ndarray",
      "_codecs.encode",
      "__builtin__.set",
      "builtins.set",
  };
  for (const char* n : kInert)
    if (name == n) return true;
  return false;
}

class Unpickler {
 public:
  Unpickler(const uint8_t* data, uint64_t size, const std::string& where, PickleGraph* graph)
      : d_(data), n_(size), where_(where), graph_(graph) {}

  PyRef run() {
    for (;;) {
      op_at_ = pos_;
      const uint8_t op = byte();
      switch (op) {
        case 0x80: byte(); break;                          // PROTO
        case 0x95: bytes(8); break;                        // FRAME: framing hint only
        case '.': return finish();                         // STOP
        case '(': marks_.push_back(stack_.size()); break;  // MARK
        case ')': push(make(Kind::Tuple)); break;
        case ']': push(make(Kind::List)); break;
        case '}': push(make(Kind::Dict)); break;
        case 'N': push(make(Kind::None)); break;
        case 0x88:
        case 0x89: {  // NEWTRUE / NEWFALSE
          auto v = make(Kind::Bool);
          v->i = op == 0x88;
          push(v);
          break;
        }
        case 'J': push_int(static_cast<int32_t>(le(4))); break;  // BININT
        case 'K': push_int(static_cast<int64_t>(le(1))); break;  // BININT1
        case 'M': push_int(static_cast<int64_t>(le(2))); break;  // BININT2
        case 0x8a: push_long(byte()); break;                     // LONG1
        case 'G': {                                              // BINFLOAT, big-endian
          const uint8_t* p = bytes(8);
          uint64_t u = 0;
          for (int k = 0; k < 8; ++k) u = (u << 8) | p[k];
          auto v = make(Kind::Float);
          std::memcpy(&v->f, &u, 8);
          push(v);
          break;
        }
        case 'X': push_str(Kind::String, le(4)); break;   // BINUNICODE
        case 0x8c: push_str(Kind::String, le(1)); break;  // SHORT_BINUNICODE
        case 0x8d: push_str(Kind::String, le(8)); break;  // BINUNICODE8
        case 'T': push_str(Kind::String, le(4)); break;   // BINSTRING
        case 'U': push_str(Kind::String, le(1)); break;   // SHORT_BINSTRING
        case 'B': push_str(Kind::Bytes, le(4)); break;    // BINBYTES
        case 'C': push_str(Kind::Bytes, le(1)); break;    // SHORT_BINBYTES
        case 0x8e: push_str(Kind::Bytes, le(8)); break;   // BINBYTES8
        case 't': {                                       // TUPLE
          auto v = make(Kind::Tuple);
          v->items = pop_to_mark();
          push(v);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          const size_t k = op - 0x84;
          need(k);
          auto v = make(Kind::Tuple);
          v->items.assign(stack_.end() - k, stack_.end());
          stack_.resize(stack_.size() - k);
          push(v);
          break;
        }
        case 'a': {  // APPEND
          PyRef x = pop();
          list_top()->items.push_back(x);
          break;
        }
        case 'e': {  // APPENDS
          auto xs = pop_to_mark();
          auto l = list_top();
          l->items.insert(l->items.end(), xs.begin(), xs.end());
          break;
        }
        case 's': {  // SETITEM
          PyRef v = pop(), k = pop();
          dict_top()->dict.emplace_back(k, v);
          break;
        }
        case 'u': {  // SETITEMS
          auto xs = pop_to_mark();
          if (xs.size() % 2) error("SETITEMS with an odd number of items");
          auto dct = dict_top();
          for (size_t k = 0; k < xs.size(); k += 2) dct->dict.emplace_back(xs[k], xs[k + 1]);
          break;
        }
        case 'q': put(le(1)); break;                    // BINPUT
        case 'r': put(le(4)); break;                    // LONG_BINPUT
        case 0x94: put(memo_.size()); break;            // MEMOIZE
        case 'h': get(le(1)); break;                    // BINGET
        case 'j': get(le(4)); break;                    // LONG_BINGET
        case '0': pop(); break;                         // POP
        case '1': pop_to_mark(); break;                 // POP_MARK
        case '2': need(1), push(stack_.back()); break;  // DUP
        case 'c': {                                     // GLOBAL "module\nname\n"
          std::string module = line(), name = line();
          push(global(module + "." + name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          PyRef name = pop(), module = pop();
          if (module->kind != Kind::String || name->kind != Kind::String) error("STACK_GLOBAL needs two strings");
          push(global(module->s + "." + name->s));
          break;
        }
        case 'R':
        case 0x81: {  // REDUCE / NEWOBJ: callable(*args), never executed
          PyRef args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x92: {  // NEWOBJ_EX: cls(*args, **kwargs), only for inert classes
          PyRef kwargs = pop(), args = pop(), cls = pop();
          if (cls->kind != Kind::Global || !inert_global(cls->s)) error("NEWOBJ_EX of something that is not an inert class");
          push(make(Kind::Object));
          break;
        }
        case 0x8f: push(make(Kind::List)); break;  // EMPTY_SET: kept as a list
        case 0x90: {                               // ADDITEMS
          auto xs = pop_to_mark();
          need(1);
          if (stack_.back()->kind != Kind::List) error("ADDITEMS to a non-set");
          stack_.back()->items.insert(stack_.back()->items.end(), xs.begin(), xs.end());
          break;
        }
        case 0x91: {  // FROZENSET
          auto v = make(Kind::List);
          v->items = pop_to_mark();
          push(v);
          break;
        }
        case 'b': {  // BUILD: object state (e.g. a state dict's _metadata) is not needed
          pop();
          need(1);
          break;
        }
        case 'Q': {  // BINPERSID
          PyRef pid = pop();
          push(persistent(pid));
          break;
        }
        default: {
          char buf[8];
          std::snprintf(buf, sizeof buf, "0x%02x", op);
          error(std::string("unsupported pickle opcode ") + buf);
        }
      }
    }
  }

 private:
  PyRef make(Kind k) {
    if (graph_->size() >= kMaxValues) error("more than " + std::to_string(kMaxValues) + " values");
    return graph_->make(k);
  }
  [[noreturn]] void error(const std::string& what) const {
    fail(ErrorCode::ModelFormat, where_ + ": invalid pickle at byte " + std::to_string(op_at_) + ": " + what);
  }
  uint8_t byte() {
    if (pos_ >= n_) error("unexpected end of data (no STOP opcode)");
    return d_[pos_++];
  }
  const uint8_t* bytes(uint64_t k) {
    if (k > n_ - pos_) error("a " + std::to_string(k) + "-byte argument runs past the end of the pickle");
    const uint8_t* p = d_ + pos_;
    pos_ += k;
    return p;
  }
  uint64_t le(int k) {
    const uint8_t* p = bytes(k);
    uint64_t v = 0;
    for (int b = k - 1; b >= 0; --b) v = (v << 8) | p[b];
    return v;
  }
  std::string line() {
    std::string s;
    for (;;) {
      char c = static_cast<char>(byte());
      if (c == '\n') return s;
      if (s.size() > 256) error("GLOBAL name too long");
      s += c;
    }
  }
  void push(PyRef v) {
    if (stack_.size() >= kMaxStack) error("pickle stack exceeds " + std::to_string(kMaxStack) + " items");
    stack_.push_back(std::move(v));
  }
  void push_int(int64_t x) {
    auto v = make(Kind::Int);
    v->i = x;
    push(v);
  }
  void push_long(uint8_t k) {
    if (k > 8) error("LONG1 wider than 64 bits");
    const uint8_t* p = bytes(k);
    uint64_t u = 0;
    for (int b = k - 1; b >= 0; --b) u = (u << 8) | p[b];
    if (k > 0 && k < 8 && (p[k - 1] & 0x80)) u |= ~uint64_t(0) << (8 * k);  // sign-extend
    push_int(static_cast<int64_t>(u));
  }
  void push_str(Kind k, uint64_t len) {
    const uint8_t* p = bytes(len);
    auto v = make(k);
    v->s.assign(reinterpret_cast<const char*>(p), len);
    push(v);
  }
  void need(size_t k) {
    size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + k) error("stack underflow");
  }
  PyRef pop() {
    need(1);
    PyRef v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  std::vector<PyRef> pop_to_mark() {
    if (marks_.empty()) error("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyRef> xs(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return xs;
  }
  PyRef list_top() {
    need(1);
    if (stack_.back()->kind != Kind::List) error("APPEND to a non-list");
    return stack_.back();
  }
  PyRef dict_top() {
    need(1);
    if (stack_.back()->kind != Kind::Dict) error("SETITEM on a non-dict");
    return stack_.back();
  }
  void put(uint64_t idx) {
    need(1);
    // Picklers number memo entries sequentially, so an index never exceeds
    // the number of values built; larger ones would only allocate.
    if (idx > graph_->size()) error("memo index " + std::to_string(idx) + " is out of sequence");
    if (idx >= memo_.size()) memo_.resize(idx + 1);
    memo_[idx] = stack_.back();
  }
  void get(uint64_t idx) {
    if (idx >= memo_.size() || !memo_[idx]) error("memo index " + std::to_string(idx) + " was never stored");
    push(memo_[idx]);
  }
  PyRef global(const std::string& name) {
    if (!tensor_global(name) && !inert_global(name))
      fail(ErrorCode::ModelUnsupported, where_ + ": refusing to load: the pickle references the global \"" + name + "\" (at byte " +
                                            std::to_string(op_at_) +
                                            "); only tensors, plain containers and known training metadata are allowed, and "
                                            "nothing was executed");
    auto v = make(Kind::Global);
    v->s = name;
    return v;
  }
  static bool int_tuple(const PyRef& t, std::vector<int64_t>* out) {
    if (t->kind != Kind::Tuple || t->items.size() > kMaxDims) return false;
    for (const auto& x : t->items) {
      if (x->kind != Kind::Int) return false;
      out->push_back(x->i);
    }
    return true;
  }
  PyRef reduce(const PyRef& fn, const PyRef& args) {
    if (fn->kind != Kind::Global || args->kind != Kind::Tuple) error("REDUCE of something that is not an allowed global");
    if (inert_global(fn->s)) return make(Kind::Object);
    const auto& a = args->items;
    if (fn->s == "collections.OrderedDict") {
      auto d = make(Kind::Dict);
      if (!a.empty()) error("OrderedDict with constructor arguments");
      return d;
    }
    if (fn->s == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != Kind::Tensor) error("_rebuild_parameter without a tensor");
      return a[0];
    }
    if (fn->s == "torch._utils._rebuild_tensor_v2") {
      auto t = make(Kind::Tensor);
      if (a.size() < 4 || a[0]->kind != Kind::Storage || a[1]->kind != Kind::Int || !int_tuple(a[2], &t->sizes) ||
          !int_tuple(a[3], &t->strides) || t->sizes.size() != t->strides.size())
        error("_rebuild_tensor_v2 arguments are not (storage, offset, sizes, strides, ...)");
      t->storage = a[0];
      t->offset = a[1]->i;
      t->dtype = a[0]->dtype;
      return t;
    }
    error("the global \"" + fn->s + "\" cannot be called");
  }
  PyRef persistent(const PyRef& pid) {
    // ('storage', <torch.XStorage>, key, location, numel)
    const auto& a = pid->items;
    if (pid->kind != Kind::Tuple || a.size() != 5 || a[0]->kind != Kind::String || a[0]->s != "storage" || a[1]->kind != Kind::Global ||
        a[2]->kind != Kind::String || a[4]->kind != Kind::Int)
      error("persistent id is not ('storage', type, key, location, numel)");
    auto s = make(Kind::Storage);
    if (!storage_dtype(a[1]->s, &s->dtype)) error("\"" + a[1]->s + "\" is not a storage type");
    s->s = a[2]->s;
    s->i = a[4]->i;
    if (s->i < 0) error("negative storage size");
    return s;
  }
  PyRef finish() {
    if (stack_.size() != 1 || !marks_.empty()) error("STOP with " + std::to_string(stack_.size()) + " items on the stack");
    return stack_.back();
  }

  const uint8_t* d_;
  uint64_t n_;
  std::string where_;
  uint64_t pos_ = 0, op_at_ = 0;
  std::vector<PyRef> stack_;
  std::vector<size_t> marks_;
  std::vector<PyRef> memo_;
  PickleGraph* graph_;
};

}  // namespace

PickleGraph::~PickleGraph() {
  root.reset();
  for (auto& v : values_) {
    v->items.clear();
    v->dict.clear();
    v->storage.reset();
  }
}

PyRef PickleGraph::make(PyValue::Kind kind) {
  auto v = std::make_shared<PyValue>();
  v->kind = kind;
  values_.push_back(v);
  return v;
}

std::unique_ptr<PickleGraph> unpickle(const uint8_t* data, uint64_t size, const std::string& where) {
  auto graph = std::make_unique<PickleGraph>();
  Unpickler u(data, size, where, graph.get());
  graph->root = u.run();
  return graph;
}

}  // namespace sd
