#include "io/ckpt.h"

#include <cstring>
#include <map>

#include "core/error.h"
#include "io/mapped_file.h"
#include "io/pickle.h"
#include "io/zip.h"
#include "util/strings.h"

namespace sd {

namespace {

// Magic of torch.save's pre-1.6 (non-zip) format: pickled 0x1950a86a20f9469cfc6c.
bool looks_like_legacy_torch(const uint8_t* d, uint64_t n) {
  static const uint8_t kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return n >= sizeof kMagic && std::memcmp(d, kMagic, sizeof kMagic) == 0;
}

// Copies a strided tensor into a new contiguous one (elements of `esize` bytes).
Tensor gather_strided(const uint8_t* base, DType dtype, const Shape& sizes, const std::vector<int64_t>& strides, int64_t esize) {
  Tensor t = Tensor::empty(dtype, sizes);
  uint8_t* dst = static_cast<uint8_t*>(t.data());
  const int64_t n = t.numel();
  std::vector<int64_t> idx(sizes.size(), 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    for (size_t d = 0; d < sizes.size(); ++d) off += idx[d] * strides[d];
    std::memcpy(dst + e * esize, base + off * esize, static_cast<size_t>(esize));
    for (size_t d = sizes.size(); d-- > 0;) {
      if (++idx[d] < sizes[d]) break;
      idx[d] = 0;
    }
  }
  return t;
}

class CkptBuilder {
 public:
  CkptBuilder(std::shared_ptr<MappedFile> file, std::map<std::string, ZipEntry> storages)
      : file_(std::move(file)), storages_(std::move(storages)) {}

  Tensor tensor(const std::string& name, const PyValue& v) {
    const std::string where = file_->path() + ": tensor \"" + name + "\"";
    const PyValue& st = *v.storage;
    auto it = storages_.find(st.s);
    if (it == storages_.end()) fail(ErrorCode::ModelFormat, where + " refers to storage \"" + st.s + "\", which is not in the archive");
    const ZipEntry& ent = it->second;
    if (ent.method != 0)
      fail(ErrorCode::ModelUnsupported,
           where + ": storage entry \"" + ent.name + "\" is compressed (method " + std::to_string(ent.method) + ")");
    const int64_t esize = dtype_bytes_for(st.dtype, 1);
    const int64_t storage_bytes = dtype_bytes_for(st.dtype, st.i);
    if (storage_bytes < 0 || static_cast<uint64_t>(storage_bytes) != ent.size)
      fail(ErrorCode::ModelFormat, where + ": storage \"" + st.s + "\" declares " + std::to_string(st.i) +
                                       " elements but its entry holds " + std::to_string(ent.size) + " bytes");
    Shape sizes(v.sizes.begin(), v.sizes.end());
    const int64_t numel = shape_numel(sizes);
    if (numel < 0) fail(ErrorCode::ModelFormat, where + " has an invalid shape " + shape_str(sizes));
    // Highest element reached: offset + sum((size-1) * stride).
    bool contiguous = true;
    int64_t expect = 1, reach = v.offset;
    if (v.offset < 0) fail(ErrorCode::ModelFormat, where + " has a negative storage offset");
    for (size_t d = sizes.size(); d-- > 0;) {
      if (v.strides[d] < 0) fail(ErrorCode::ModelFormat, where + " has a negative stride");
      if (sizes[d] != 1 && v.strides[d] != expect) contiguous = false;
      expect *= sizes[d];
      if (sizes[d] > 0) {
        if (v.strides[d] > 0 && sizes[d] - 1 > (INT64_MAX - reach) / v.strides[d])
          fail(ErrorCode::ModelFormat, where + " strides overflow");
        reach += (sizes[d] - 1) * v.strides[d];
      }
    }
    if (numel > 0 && reach >= st.i)
      fail(ErrorCode::ModelFormat, where + " (shape " + shape_str(sizes) + ", offset " + std::to_string(v.offset) + ") reaches element " +
                                       std::to_string(reach) + " of a " + std::to_string(st.i) + "-element storage");
    const uint8_t* base = file_->data() + ent.data_offset;
    if (numel == 0) return Tensor::zeros(st.dtype, sizes);
    const uint8_t* first = base + v.offset * esize;
    // A strided copy never needs more elements than the storage holds, unless
    // strides of 0 broadcast it (not something a state dict contains).
    if (!contiguous && numel > st.i)
      fail(ErrorCode::ModelFormat, where + " (shape " + shape_str(sizes) + ") has more elements than its storage (broadcast strides)");
    // Views need element-aligned data; torch.save aligns entries to 64 bytes.
    if (contiguous && reinterpret_cast<uintptr_t>(first) % static_cast<uintptr_t>(esize) == 0)
      return Tensor(st.dtype, sizes, const_cast<uint8_t*>(first), file_);
    return gather_strided(first, st.dtype, sizes, v.strides, esize);
  }

 private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, ZipEntry> storages_;
};

// Adds the tensors of `dict` (and, below `depth_left` > 0, of nested dicts) to `out`.
void collect_tensors(const PyValue& dict, const std::string& prefix, int depth_left, CkptBuilder& builder, TensorFile& out) {
  for (const auto& [k, v] : dict.dict) {
    if (v->kind != PyValue::Kind::Tensor && (v->kind != PyValue::Kind::Dict || depth_left == 0)) continue;  // step counters, ...
    if (k->kind != PyValue::Kind::String) fail(ErrorCode::ModelFormat, out.path + ": a tensor has a non-string name");
    if (v->kind == PyValue::Kind::Dict)
      collect_tensors(*v, prefix + k->s + ".", depth_left - 1, builder, out);
    else
      out.tensors.emplace_back(prefix + k->s, builder.tensor(prefix + k->s, *v));
  }
}

TensorFile read_ckpt_impl(const std::string& path, int nested_depth) {
  auto file = MappedFile::open(path);
  const uint8_t* d = file->data();
  const uint64_t n = file->size();
  if (n == 0) fail(ErrorCode::ModelFormat, path + ": file is empty");
  if (looks_like_legacy_torch(d, n))
    fail(ErrorCode::ModelUnsupported,
         path + ": legacy (pre-1.6, non-zip) PyTorch checkpoint; re-save it with a current torch or convert it to .safetensors");
  if (!looks_like_zip(d, n)) fail(ErrorCode::ModelFormat, path + ": not a PyTorch zip checkpoint (no zip header)");
  std::vector<ZipEntry> entries = read_zip_directory(d, n, path);

  // torch.save writes <archive>/data.pkl and <archive>/data/<key> per storage.
  const ZipEntry* pkl = nullptr;
  for (const auto& e : entries) {
    const std::string& nm = e.name;
    if (nm.size() >= 9 && nm.compare(nm.size() - 9, 9, "/data.pkl") == 0 && nm.find('/') == nm.size() - 9) {
      if (pkl) fail(ErrorCode::ModelFormat, path + ": more than one data.pkl in the archive");
      pkl = &e;
    }
  }
  if (!pkl) fail(ErrorCode::ModelFormat, path + ": zip archive has no <name>/data.pkl (not a torch.save checkpoint)");
  if (pkl->method != 0) fail(ErrorCode::ModelUnsupported, path + ": data.pkl is compressed (method " + std::to_string(pkl->method) + ")");
  const uint8_t* pkl_data = d + pkl->data_offset;
  if (crc32(pkl_data, pkl->size) != pkl->crc32) fail(ErrorCode::ModelFormat, path + ": data.pkl fails its CRC-32 check (corrupted file)");
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - 8) + "data/";
  std::map<std::string, ZipEntry> storages;
  for (const auto& e : entries)
    if (starts_with(e.name, prefix)) storages[e.name.substr(prefix.size())] = e;

  auto graph = unpickle(pkl_data, pkl->size, path + " (data.pkl)");
  const PyValue* root = graph->root.get();
  if (root->kind != PyValue::Kind::Dict) fail(ErrorCode::ModelFormat, path + ": checkpoint is not a dict of tensors");
  // Lightning checkpoints wrap the weights: {"state_dict": {...}, "epoch": ...}.
  for (const auto& [k, v] : root->dict) {
    if (k->kind == PyValue::Kind::String && k->s == "state_dict" && v->kind == PyValue::Kind::Dict) {
      root = v.get();
      break;
    }
  }

  TensorFile out;
  out.path = path;
  out.format = "ckpt";
  out.file_size = n;
  CkptBuilder builder(file, std::move(storages));
  collect_tensors(*root, "", nested_depth, builder, out);
  if (out.tensors.empty()) fail(ErrorCode::ModelUnsupported, path + ": the checkpoint holds no tensors");
  return out;
}

}  // namespace

TensorFile read_ckpt(const std::string& path) { return read_ckpt_impl(path, 0); }

TensorFile read_ckpt_nested(const std::string& path) { return read_ckpt_impl(path, 8); }

}  // namespace sd
