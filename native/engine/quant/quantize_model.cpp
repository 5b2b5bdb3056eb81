#include "quant/quantize_model.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "core/error.h"
#include "pipeline/weight_residency.h"
#include "quant/blocks.h"
#include "quant/spill_file.h"
#include "tensor/thread_pool.h"
#include "util/strings.h"

namespace sd {
namespace quant {
namespace {

// "unet" / "te" / "vae" for a canonical name.
std::string component_of(const std::string& name) {
  const std::string prefix = name.substr(0, name.find('.'));
  return prefix == "te1" || prefix == "te2" ? "te" : prefix;
}

DType parse_type(const std::string& s, const std::string& what) {
  DType t;
  if (!dtype_from_name(s, &t) || !(t == DType::F32 || t == DType::F16 || t == DType::BF16 || is_block_format(t)))
    fail(ErrorCode::InvalidOption,
         what + " \"" + s + "\" is not a weight type (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K, q6_K)");
  return t;
}

// New tensor of dtype t holding src's values (rows along the first dim).
Tensor convert(const Tensor& src, DType t, ThreadPool& pool) {
  Tensor out = Tensor::empty(t, src.shape());
  const int64_t rows = src.dim() >= 2 ? src.size(0) : 1, cols = rows ? src.numel() / rows : 0;
  const int64_t in_bytes = dtype_bytes_for(src.dtype(), cols), out_bytes = dtype_bytes_for(t, cols);
  parallel_for(&pool, rows, 8, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r)
      convert_row(src.dtype(), static_cast<const uint8_t*>(src.data()) + r * in_bytes, t, cols,
                  static_cast<uint8_t*>(out.data()) + r * out_bytes, row.data());
  });
  return out;
}

}  // namespace

bool is_matmul_weight(const std::string& name, const Shape& shape, DType t) {
  if (!ends_with(name, ".weight") || (shape.size() != 2 && shape.size() != 4)) return false;
  if (name.find("embeddings.") != std::string::npos) return false;  // CLIP token / position tables
  const int64_t rows = shape[0];
  if (rows <= 0) return false;
  int64_t cols = 1;
  for (size_t i = 1; i < shape.size(); ++i) cols *= shape[i];
  return cols % dtype_block_size(t) == 0;
}

void apply_weight_types(LoadedModel* model, const WeightTypePlan& plan) {
  const DType none = DType::BOOL;  // marker: keep as stored
  std::map<std::string, DType> target = {{"unet", none}, {"te", none}, {"vae", none}};
  if (!plan.all.empty()) target["unet"] = target["te"] = parse_type(plan.all, "weightType");
  for (const auto& [comp, type] : plan.component) {
    if (!target.count(comp)) fail(ErrorCode::InvalidOption, "weight type component \"" + comp + "\" is not one of unet, te, vae");
    target[comp] = type.empty() ? none : parse_type(type, "weight type for " + comp);
  }

  std::unique_ptr<ThreadPool> pool;  // created on the first conversion
  auto convert_to = [&](const Tensor& t, DType d) {
    if (!pool) pool = std::make_unique<ThreadPool>(0);
    return convert(t, d, *pool);
  };
  std::vector<std::pair<std::string, Tensor>> changed;  // heap copies
  struct Spilled {
    std::string name;
    DType dtype;
    Shape shape;
    int64_t offset;
  };
  std::vector<Spilled> spilled;      // copies written to the spill file
  std::unique_ptr<SpillFile> spill;  // opened on the first conversion
  bool spill_opened = false;
  for (const auto& [name, t] : model->weights.all()) {
    auto it = target.find(component_of(name));
    const DType want = it == target.end() ? none : it->second;
    DType to = none;
    if (want != none && is_matmul_weight(name, t.shape(), want)) {
      if (t.dtype() != want) to = want;  // a quantized source goes through f32 once (no compounding beyond that)
    } else if (dtype_is_quantized(t.dtype()) && !is_matmul_weight(name, t.shape(), t.dtype())) {
      to = DType::F32;
    }
    if (to == none) continue;
    Tensor copy = convert_to(t, to);
    // The source was read once; its file pages need not stay resident next
    // to the copy (the pipeline's rule: only read-only file mappings are
    // touched, so heap sources are left alone).
    release_weight_pages(model->weights, name);
    if (!spill_opened) {
      spill = SpillFile::open();
      spill_opened = true;
    }
    const int64_t at = spill ? spill->append(copy) : -1;
    if (at >= 0)
      spilled.push_back({name, copy.dtype(), copy.shape(), at});
    else
      changed.emplace_back(name, std::move(copy));
  }
  if (!spilled.empty()) {
    std::shared_ptr<void> base = spill->map();
    if (!base) fail(ErrorCode::OutOfMemory, "could not map the converted weights written to " + spill->directory());
    for (const Spilled& s : spilled)
      changed.emplace_back(s.name, Tensor(s.dtype, s.shape, static_cast<uint8_t*>(base.get()) + s.offset, base));
  }
  for (auto& [name, t] : changed) model->weights.set(name, std::move(t));

  std::map<std::string, std::map<DType, int64_t>> counts;
  for (const auto& [name, t] : model->weights.all()) counts[name.substr(0, name.find('.'))][t.dtype()] += t.numel();
  for (auto& [comp, info] : model->info.components) {
    const auto& c = counts[comp];
    auto best = std::max_element(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
    if (best != c.end()) info.dtype = dtype_name(best->first);
  }
}

}  // namespace quant
}  // namespace sd
