#include "models/taesd.h"

#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "io/file_path.h"
#include "io/tensor_file.h"
#include "util/strings.h"

namespace sd {

namespace {

// Leading decimal index of `s` ("12.conv.0.weight" -> 12), -1 if none.
int leading_index(const std::string& s) {
  size_t i = 0;
  int v = 0;
  while (i < s.size() && i < 4 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (s[i++] - '0');
  return i > 0 && i < s.size() && s[i] == '.' ? v : -1;
}

// numel() walks the shape, so every loop over a tensor reads it once.
void relu_(Tensor& x) {
  float* p = x.data_as<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = p[i] > 0.0f ? p[i] : 0.0f;
}

Tensor conv3x3(Compute& c, const Tensor& x, const Tensor& w, const Tensor& b, int stride) {
  return ops::conv2d(c, x, w, b.data() ? &b : nullptr, stride, 1);
}

std::vector<TinyAutoencoder::Layer> bind_layers(const ModelWeights& wts, const std::string& prefix, bool decoder) {
  int max_index = -1;
  for (const auto& [name, t] : wts.all())
    if (starts_with(name, prefix)) max_index = std::max(max_index, leading_index(name.substr(prefix.size())));
  using Layer = TinyAutoencoder::Layer;
  std::vector<Layer> layers;
  for (int i = 0; i <= max_index; ++i) {
    const std::string p = prefix + std::to_string(i) + ".";
    Layer l;
    if (wts.has(p + "weight")) {
      l.kind = Layer::Kind::Conv;
      l.w[0] = wts.get(p + "weight");
      if (wts.has(p + "bias")) l.b[0] = wts.get(p + "bias");
      // Encoder convs without bias are the stride-2 downsamplers.
      l.stride = !decoder && !l.b[0].data() ? 2 : 1;
    } else if (wts.has(p + "conv.0.weight")) {
      l.kind = Layer::Kind::Block;
      for (int k = 0; k < 3; ++k) {
        l.w[k] = wts.get(p + "conv." + std::to_string(2 * k) + ".weight");
        l.b[k] = wts.get(p + "conv." + std::to_string(2 * k) + ".bias");
      }
      if (wts.has(p + "skip.weight")) l.skip = wts.get(p + "skip.weight");
    } else {
      if (!decoder || layers.empty()) fail(ErrorCode::ModelFormat, "TAESD: layer " + p + " has no weights");
      l.kind = layers.back().kind == Layer::Kind::Conv ? Layer::Kind::Relu : Layer::Kind::Upsample;
    }
    for (int k = 0; k < 3; ++k)
      if (l.w[k].data() && (l.w[k].dim() != 4 || l.w[k].size(2) != 3 || l.w[k].size(3) != 3))
        fail(ErrorCode::ModelFormat, "TAESD: " + p + " convolutions must be 3x3, got " + shape_str(l.w[k].shape()));
    layers.push_back(std::move(l));
  }
  return layers;
}

}  // namespace

void add_taesd_weights(LoadedModel* model, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string file = path;
  if (fs::is_directory(fs_path(path), ec)) {
    file = utf8_path(fs_path(path) / "diffusion_pytorch_model.safetensors");
    if (!fs::is_regular_file(fs_path(file), ec))
      fail(ErrorCode::ModelFormat, "taesd " + path + ": folder has no diffusion_pytorch_model.safetensors");
  } else if (!fs::is_regular_file(fs_path(path), ec)) {
    fail(ErrorCode::ModelNotFound, "taesd file not found: " + path);
  }
  TensorFile tf = read_tensor_file(file);
  // Original taesd_decoder: "1.weight" is the first conv [64, 4, 3, 3] (index 0 is the Clamp);
  // original taesd_encoder: "0.weight" [64, 3, 3, 3].
  const Tensor* first_dec = nullptr;
  const Tensor* first_enc = nullptr;
  for (const auto& [name, t] : tf.tensors) {
    if (name == "1.weight") first_dec = &t;
    if (name == "0.weight") first_enc = &t;
  }
  int added = 0;
  for (const auto& [name, t] : tf.tensors) {
    std::string canonical;
    if (starts_with(name, "encoder.layers.") || starts_with(name, "decoder.layers.")) {
      canonical = "taesd." + name;
    } else if (leading_index(name) >= 0 && first_enc && !first_dec) {
      canonical = "taesd.encoder.layers." + name;
    } else if (leading_index(name) >= 1 && first_dec && !first_enc) {
      const int n = leading_index(name);
      canonical = "taesd.decoder.layers." + std::to_string(n - 1) + name.substr(std::to_string(n).size());
    } else {
      fail(ErrorCode::ModelFormat, "taesd " + path + ": \"" + name + "\" is not a TAESD weight");
    }
    model->weights.set(canonical, t);
    ++added;
  }
  if (added == 0) fail(ErrorCode::ModelFormat, "taesd " + path + ": no tensors");
  TinyAutoencoder::bind(*model);  // validates now rather than at the first generate()
}

bool TinyAutoencoder::present(const LoadedModel& model) {
  return model.weights.has("taesd.decoder.layers.0.weight") || model.weights.has("taesd.encoder.layers.0.weight");
}

TinyAutoencoder TinyAutoencoder::bind(const LoadedModel& model) {
  TinyAutoencoder ae;
  ae.encoder_ = bind_layers(model.weights, "taesd.encoder.layers.", false);
  ae.decoder_ = bind_layers(model.weights, "taesd.decoder.layers.", true);
  if (ae.encoder_.empty() && ae.decoder_.empty()) fail(ErrorCode::ModelFormat, "the model has no TAESD weights (loadModel's taesd option)");
  if (!ae.decoder_.empty() && (ae.decoder_.front().kind != Layer::Kind::Conv || ae.decoder_.back().kind != Layer::Kind::Conv ||
                               ae.decoder_.back().w[0].size(0) != 3))
    fail(ErrorCode::ModelFormat, "TAESD decoder must start with a conv and end with a conv to 3 channels");
  if (!ae.encoder_.empty() && (ae.encoder_.front().w[0].size(1) != 3 || ae.encoder_.back().kind != Layer::Kind::Conv))
    fail(ErrorCode::ModelFormat, "TAESD encoder must start with a conv from 3 channels and end with a conv");
  return ae;
}

std::vector<Tensor> TinyAutoencoder::run(Compute& c, const std::vector<Layer>& layers, Tensor x, bool keep) const {
  std::vector<Tensor> outs;
  for (const Layer& l : layers) {
    switch (l.kind) {
      case Layer::Kind::Conv: x = conv3x3(c, x, l.w[0], l.b[0], l.stride); break;
      case Layer::Kind::Relu: relu_(x); break;
      case Layer::Kind::Upsample: x = ops::upsample_nearest2x(c, x); break;
      case Layer::Kind::Block: {
        Tensor h = conv3x3(c, x, l.w[0], l.b[0], 1);  // [B, out, H, W]
        relu_(h);
        h = conv3x3(c, h, l.w[1], l.b[1], 1);
        relu_(h);
        h = conv3x3(c, h, l.w[2], l.b[2], 1);
        if (l.skip.data()) {
          Tensor s = ops::conv2d(c, x, l.skip, nullptr, 1, 0);
          ops::add_(c, h, s);
        } else {
          ops::add_(c, h, x);
        }
        relu_(h);
        x = std::move(h);
        break;
      }
    }
    if (keep) {
      Tensor copy = Tensor::empty(DType::F32, x.shape());
      std::copy(x.data_as<float>(), x.data_as<float>() + x.numel(), copy.data_as<float>());
      outs.push_back(std::move(copy));
    }
  }
  if (!keep) outs.push_back(std::move(x));
  return outs;
}

Tensor TinyAutoencoder::decoder_input(const Tensor& z) const {
  if (decoder_.empty()) fail(ErrorCode::ModelUnsupported, "the TAESD has no decoder");
  if (z.dim() != 4 || z.size(1) != decoder_.front().w[0].size(1))
    fail(ErrorCode::InvalidOption,
         "TAESD decode: latents must be [B, " + std::to_string(decoder_.front().w[0].size(1)) + ", h, w], got " + shape_str(z.shape()));
  Tensor zf = z.to_f32();
  Tensor x = Tensor::empty(DType::F32, z.shape());  // [B, 4, h, w]: tanh(z / 3) * 3 (the original "Clamp")
  const float* zp = zf.data_as<float>();
  float* xp = x.data_as<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) xp[i] = std::tanh(zp[i] / 3.0f) * 3.0f;
  return x;
}

Tensor TinyAutoencoder::encoder_input(const Tensor& image) const {
  if (encoder_.empty()) fail(ErrorCode::ModelUnsupported, "the TAESD has no encoder");
  if (image.dim() != 4 || image.size(1) != 3 || image.size(2) % 8 || image.size(3) % 8)
    fail(ErrorCode::InvalidOption, "TAESD encode: image must be [B, 3, H, W] with H, W multiples of 8, got " + shape_str(image.shape()));
  Tensor src = image.to_f32();
  Tensor x = Tensor::empty(DType::F32, image.shape());  // [B, 3, H, W] in [0, 1]
  const float* sp = src.data_as<float>();
  float* xp = x.data_as<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) xp[i] = (sp[i] + 1.0f) / 2.0f;
  return x;
}

std::vector<Tensor> TinyAutoencoder::decode_layers(Compute& c, const Tensor& z) const { return run(c, decoder_, decoder_input(z), true); }

Tensor TinyAutoencoder::decode(Compute& c, const Tensor& z) const {
  Tensor y = run(c, decoder_, decoder_input(z), false).back();  // [B, 3, 8h, 8w] in [0, 1]
  float* p = y.data_as<float>();
  const int64_t n = y.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = 2.0f * p[i] - 1.0f;
  return y;
}

std::vector<Tensor> TinyAutoencoder::encode_layers(Compute& c, const Tensor& image) const {
  return run(c, encoder_, encoder_input(image), true);
}

Tensor TinyAutoencoder::encode(Compute& c, const Tensor& image) const {
  return run(c, encoder_, encoder_input(image), false).back();  // [B, 4, H/8, W/8]
}

}  // namespace sd
