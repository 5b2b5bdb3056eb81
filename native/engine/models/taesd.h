// TAESD, the tiny autoencoder (diffusers AutoencoderTiny; madebyollin/taesd),
// bound to canonical names taesd.encoder.layers.N.* / taesd.decoder.layers.N.*
// (diffusers names). It works on the pipeline's scaled latents directly: no
// scaling factor on either side.
//   decode(z): x = tanh(z / 3) * 3, the decoder layers, image = 2x - 1
//   encode(image): x = (image + 1) / 2, the encoder layers -> latents
// Layers: conv3x3 (pad 1; with bias: stride 1; encoder convs without bias:
// stride 2), Block(x) = ReLU(conv(ReLU(conv(ReLU(conv(x))))) + skip(x)), and in
// the decoder the parameter-free ReLU (after a conv) and nearest x2 upsample
// (after a block). The layer list is read from the weights.
#pragma once
#include <string>
#include <vector>

#include "io/model_loader.h"
#include "kernels/ops.h"

namespace sd {

// Adds a TAESD's weights to `model` as taesd.*: a diffusers AutoencoderTiny
// folder or file (encoder.layers.* / decoder.layers.*), or an original
// taesd_decoder / taesd_encoder file (N.* names). Throws ERR_MODEL_NOT_FOUND,
// ERR_MODEL_FORMAT (not a TAESD), reader errors.
void add_taesd_weights(LoadedModel* model, const std::string& path);

class TinyAutoencoder {
 public:
  bool has_decoder() const { return !decoder_.empty(); }
  bool has_encoder() const { return !encoder_.empty(); }
  // Whether `model` carries TAESD weights.
  static bool present(const LoadedModel& model);
  // Throws ERR_MODEL_FORMAT when weights are inconsistent or absent.
  static TinyAutoencoder bind(const LoadedModel& model);

  // z [B, 4, h, w] pipeline latents -> image [B, 3, 8h, 8w] in [-1, 1], unclamped.
  Tensor decode(Compute& c, const Tensor& z) const;
  // image [B, 3, H, W] in [-1, 1], H, W multiples of 8 -> latents [B, 4, H/8, W/8].
  Tensor encode(Compute& c, const Tensor& image) const;

  // Output of every layer (index = diffusers layers.N), for tests.
  std::vector<Tensor> decode_layers(Compute& c, const Tensor& z) const;
  std::vector<Tensor> encode_layers(Compute& c, const Tensor& image) const;

  struct Layer {
    enum class Kind { Conv, Block, Relu, Upsample } kind = Kind::Conv;
    Tensor w[3], b[3];  // Conv: w[0] [out, in, 3, 3], b[0] [out] or empty; Block: conv.0/2/4
    Tensor skip;        // Block with in != out: 1x1 conv [out, in, 1, 1], no bias
    int stride = 1;
  };

 private:
  // keep: every layer's output; else only the last.
  std::vector<Tensor> run(Compute& c, const std::vector<Layer>& layers, Tensor x, bool keep) const;
  Tensor decoder_input(const Tensor& z) const;      // checked, clamped copy
  Tensor encoder_input(const Tensor& image) const;  // checked, to [0, 1]
  std::vector<Layer> encoder_, decoder_;
};

}  // namespace sd
