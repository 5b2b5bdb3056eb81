#include "generate_params.h"

#include <cmath>
#include <cstring>
#include <string>

#include "js_errors.h"

namespace sdnode {
namespace {

[[noreturn]] void bad(Napi::Env env, const std::string& name, const std::string& what) {
  throw make_js_error(env, {"ERR_INVALID_OPTION", "generate: " + name + " " + what});
}

double get_number(Napi::Env env, const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) bad(env, name, "must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) bad(env, name, "must be finite");
  return d;
}

int get_int(Napi::Env env, const Napi::Object& o, const char* name, int lo, int hi) {
  double d = get_number(env, o, name);
  if (d != std::floor(d) || d < lo || d > hi) bad(env, name, "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<int>(d);
}

std::string get_string(Napi::Env env, const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (!v.IsString()) bad(env, name, "must be a string");
  return v.As<Napi::String>().Utf8Value();
}

template <typename T, napi_typedarray_type kType>
Napi::TypedArrayOf<T> get_typed(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) bad(env, name, "has the wrong array type");
  return v.As<Napi::TypedArrayOf<T>>();
}

// { ids: Int32Array [chunks*77], weights: Float32Array [chunks*77] }
sd::PromptTokens get_tokens(Napi::Env env, const Napi::Object& o, const char* name) {
  sd::PromptTokens out;
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return out;
  if (!v.IsObject()) bad(env, name, "must be an object");
  Napi::Object t = v.As<Napi::Object>();
  auto ids = get_typed<int32_t, napi_int32_array>(env, t.Get("ids"), std::string(name) + ".ids");
  auto weights = get_typed<float, napi_float32_array>(env, t.Get("weights"), std::string(name) + ".weights");
  const size_t n = ids.ElementLength();
  if (n == 0 || n % sd::kTokensPerChunk != 0 || weights.ElementLength() != n)
    bad(env, name, "must hold whole 77-token chunks of ids and weights");
  out.chunks.resize(n / sd::kTokensPerChunk);
  for (size_t c = 0; c < out.chunks.size(); ++c) {
    std::memcpy(out.chunks[c].ids.data(), ids.Data() + c * sd::kTokensPerChunk, sizeof(int32_t) * sd::kTokensPerChunk);
    std::memcpy(out.chunks[c].weights.data(), weights.Data() + c * sd::kTokensPerChunk, sizeof(float) * sd::kTokensPerChunk);
  }
  return out;
}

// { width, height, data: Uint8Array [height*width*channels] }
void get_pixels(Napi::Env env, const Napi::Object& o, const char* name, int channels, int* width, int* height, std::vector<uint8_t>* data) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return;
  if (!v.IsObject()) bad(env, name, "must be an image object");
  Napi::Object img = v.As<Napi::Object>();
  *width = get_int(env, img, "width", 1, 1 << 16);
  *height = get_int(env, img, "height", 1, 1 << 16);
  auto px = get_typed<uint8_t, napi_uint8_array>(env, img.Get("data"), std::string(name) + ".data");
  const size_t expected = static_cast<size_t>(*width) * static_cast<size_t>(*height) * channels;
  if (px.ElementLength() != expected) bad(env, name, "data length does not match width*height*" + std::to_string(channels));
  data->assign(px.Data(), px.Data() + expected);
}

// { dim: number, data: Float32Array [n*dim] } -> Tensor [n, dim]; undefined -> empty.
sd::Tensor get_extra_tokens(Napi::Env env, const Napi::Object& o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return sd::Tensor();
  if (!v.IsObject()) bad(env, name, "must be an object");
  Napi::Object t = v.As<Napi::Object>();
  const int dim = get_int(env, t, "dim", 1, 1 << 16);
  auto data = get_typed<float, napi_float32_array>(env, t.Get("data"), std::string(name) + ".data");
  const size_t n = data.ElementLength() / size_t(dim);
  if (n == 0 || n * size_t(dim) != data.ElementLength() || n > 4096) bad(env, name, "must hold whole rows of dim floats");
  sd::Tensor out = sd::Tensor::empty(sd::DType::F32, {int64_t(n), dim});
  std::memcpy(out.data(), data.Data(), n * size_t(dim) * sizeof(float));
  return out;
}

}  // namespace

sd::GenerateParams parse_generate_params(Napi::Env env, const Napi::Object& o) {
  sd::GenerateParams p;
  p.prompt = get_tokens(env, o, "prompt");
  p.negative_prompt = get_tokens(env, o, "negativePrompt");
  p.prompt_te2 = get_tokens(env, o, "prompt2");
  p.negative_prompt_te2 = get_tokens(env, o, "negativePrompt2");
  if (p.prompt.chunks.empty()) bad(env, "prompt", "is required");
  p.width = get_int(env, o, "width", 8, 1 << 14);
  p.height = get_int(env, o, "height", 8, 1 << 14);
  p.steps = get_int(env, o, "steps", 1, 10000);
  p.cfg_scale = static_cast<float>(get_number(env, o, "cfgScale"));
  p.sampler = get_string(env, o, "sampler");
  p.scheduler = get_string(env, o, "scheduler");
  if (o.Has("sigmas") && !o.Get("sigmas").IsUndefined()) {
    auto s = get_typed<float, napi_float32_array>(env, o.Get("sigmas"), "sigmas");
    p.sigmas.assign(s.Data(), s.Data() + s.ElementLength());
  }
  // Seeds are JS numbers (safe integers, checked in TS), so a double holds them exactly.
  const double seed = get_number(env, o, "seed");
  if (seed < 0 || seed != std::floor(seed) || seed > 9007199254740991.0) bad(env, "seed", "must be a safe integer >= 0");
  p.seed = static_cast<uint64_t>(seed);
  p.rng = get_string(env, o, "rng");
  p.clip_skip = get_int(env, o, "clipSkip", 1, 12);
  p.batch_size = get_int(env, o, "batchSize", 1, 64);
  get_pixels(env, o, "initImage", 3, &p.init_image.width, &p.init_image.height, &p.init_image.data);
  get_pixels(env, o, "mask", 1, &p.mask.width, &p.mask.height, &p.mask.data);
  p.strength = get_number(env, o, "strength");
  p.preview_every = get_int(env, o, "previewEvery", 0, 10000);
  p.threads = get_int(env, o, "threads", 0, 1024);
  if (o.Has("decoder") && !o.Get("decoder").IsUndefined()) p.decoder = get_string(env, o, "decoder");
  if (o.Has("vaeTiling") && !o.Get("vaeTiling").IsUndefined()) {
    const std::string t = get_string(env, o, "vaeTiling");
    if (t != "auto" && t != "on" && t != "off") bad(env, "vaeTiling", "must be \"auto\", \"on\" or \"off\"");
    p.vae_tiling = t == "on" ? sd::VaeTiling::On : t == "off" ? sd::VaeTiling::Off : sd::VaeTiling::Auto;
  }
  if (o.Has("vaeTileSize") && !o.Get("vaeTileSize").IsUndefined()) p.vae_tile_size = get_int(env, o, "vaeTileSize", 8, 1 << 14);
  if (o.Has("vaeTileOverlap") && !o.Get("vaeTileOverlap").IsUndefined()) p.vae_tile_overlap = get_int(env, o, "vaeTileOverlap", 0, 1 << 13);
  if (p.vae_tile_overlap * 2 >= p.vae_tile_size) bad(env, "vaeTileOverlap", "must be less than half of vaeTileSize");
  if (o.Has("precision") && !o.Get("precision").IsUndefined()) {
    const std::string prec = get_string(env, o, "precision");
    if (prec != "default" && prec != "fast") bad(env, "precision", "must be \"default\" or \"fast\"");
    p.precision = prec == "fast" ? sd::Precision::Fast : sd::Precision::Default;
  }
  p.extra_tokens_te1 = get_extra_tokens(env, o, "extraTokens1");
  p.extra_tokens_te2 = get_extra_tokens(env, o, "extraTokens2");
  // loras: [{ path: string, scale: number }]
  Napi::Value loras = o.Get("loras");
  if (!loras.IsUndefined()) {
    if (!loras.IsArray()) bad(env, "loras", "must be an array");
    Napi::Array arr = loras.As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      const std::string name = "loras[" + std::to_string(i) + "]";
      if (!v.IsObject()) bad(env, name, "must be an object");
      Napi::Object l = v.As<Napi::Object>();
      p.loras.push_back({get_string(env, l, "path"), static_cast<float>(get_number(env, l, "scale"))});
    }
  }
  return p;
}

}  // namespace sdnode
