// The contract between the product surface (addon, TypeScript API, CLI) and
// the generation pipeline: what one generate() call asks for, how the pipeline
// reports progress and learns about cancellation, and what it returns.
//
// Everything here is already validated by the TypeScript layer (lib/options.ts):
// sizes are multiples of 8, names are known, images have the requested size.
// The pipeline still throws sd::Error(InvalidOption) for anything it cannot do
// (e.g. a sampler it does not implement yet), never crashes.
#pragma once
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/model_loader.h"
#include "kernels/ops.h"
#include "lora/lora_merge.h"

namespace sd {

// CLIP context: BOS + 75 tokens + EOS/padding.
constexpr int kTokensPerChunk = 77;

// One 77-token window of a prompt, as produced by lib/prompt (weights are the
// per-token emphasis of the prompt syntax, 1.0 for plain text and padding).
struct TokenChunk {
  std::array<int32_t, kTokensPerChunk> ids{};    // [77] token ids incl. BOS/EOS/padding
  std::array<float, kTokensPerChunk> weights{};  // [77] emphasis per token
};

// A tokenized prompt: 1..N chunks, encoded separately and concatenated along
// the sequence axis (N*77 tokens of conditioning). Prompt and negative prompt
// of one call always have the same number of chunks (the TS layer pads).
struct PromptTokens {
  std::vector<TokenChunk> chunks;
};

// HxWx3 RGB (row-major, interleaved), 8 bits per channel.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> data;  // [height, width, 3]
};

// HxW single channel, 0 = keep, 255 = repaint (values in between blend).
struct MaskImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> data;  // [height, width]
};

// VAE decode in overlapping tiles (models/vae.h decode_tiled).
enum class VaeTiling {
  Auto,  // tiles when the untiled decode's activations would exceed kAutoTileActivationBytes
  On,
  Off,
};

// "Fast" may trade exactness for speed (bf16 GEMMs on CPUs with AVX-512
// BF16); Default keeps fp32 activations, the reference tests' numbers.
enum class Precision { Default, Fast };

inline const char* precision_name(Precision p) { return p == Precision::Fast ? "fast" : "default"; }

struct GenerateParams {
  // Text. te1 = the only encoder of SD 1.x/2.x, CLIP-L of SDXL (its ids are
  // padded with EOS). te2 = SDXL's OpenCLIP bigG encoder (padded with 0); empty
  // for SD 1.x/2.x.
  PromptTokens prompt;
  PromptTokens negative_prompt;
  PromptTokens prompt_te2;
  PromptTokens negative_prompt_te2;

  int width = 512;         // pixels, multiple of 8
  int height = 512;        // pixels, multiple of 8
  int steps = 20;          // >= 1 (ignored when `sigmas` is given)
  float cfg_scale = 7.0f;  // 1.0 skips the unconditional pass

  // One of: euler, euler_a, heun, dpm2, dpm++2m, dpm++2s_a, dpm++2m_sde, lms,
  // ddim, pndm, lcm, unipc, ipndm, tcd.
  std::string sampler = "euler_a";
  // One of: discrete, karras, exponential, sgm_uniform, simple, ays.
  std::string scheduler = "discrete";
  // Custom noise levels, descending, ending in 0 (steps = size - 1). Empty:
  // use `scheduler`.
  std::vector<float> sigmas;

  uint64_t seed = 0;
  // "cpu": the draws of torch.randn with a CPU torch.Generator seeded with
  // `seed`, in diffusers' order (initial latents, sampler noise, img2img noise).
  // "cuda": the draws of torch.randn on a CUDA generator (Philox), computed on CPU.
  std::string rng = "cpu";
  int clip_skip = 1;   // 1 = last layer; 2 = penultimate (SD 1.x convention)
  int batch_size = 1;  // images per call, one [B,4,h,w] noise draw

  // img2img / inpainting. Empty init_image (width 0): txt2img. Both images have
  // exactly width x height pixels (the TS layer resizes).
  RgbImage init_image;
  double strength = 0.75;  // (0, 1]: fraction of the schedule that is run (double: int(steps * 0.7) must be 7 of 10, as in Python)
  MaskImage mask;          // only with init_image

  // Final decoder: "vae" (the model's) or "taesd" (the tiny autoencoder given
  // to loadModel; fast, approximate). With a TAESD loaded, previews use it too.
  std::string decoder = "vae";

  // LoRAs merged into the weights for this call only (lora/lora_merge.h).
  std::vector<LoraRequest> loras;
  // Textual-inversion vectors of this call: token id V + j of te1/te2 (V = the
  // encoder's vocabulary size) embeds row j. [n, D] f32, or empty.
  Tensor extra_tokens_te1;
  Tensor extra_tokens_te2;

  VaeTiling vae_tiling = VaeTiling::Auto;
  int vae_tile_size = 512;     // tile side in image pixels (multiple of the VAE's factor)
  int vae_tile_overlap = 128;  // pixels shared by neighbouring tiles, < vae_tile_size / 2
  Precision precision = Precision::Default;

  int preview_every = 0;  // 0: no previews; n: a preview after every n-th step
  int threads = 0;        // compute threads; 0 = the engine default
};

enum class Stage { Load, Encode, Denoise, Decode };

inline const char* stage_name(Stage s) {
  switch (s) {
    case Stage::Load: return "load";
    case Stage::Encode: return "encode";
    case Stage::Denoise: return "denoise";
    case Stage::Decode: return "decode";
  }
  return "denoise";
}

// Per-call observer, implemented by the addon. Called from the worker thread
// that runs the pipeline; implementations must be cheap and thread-safe (the
// addon queues events to the JS thread, it never blocks on JS).
class Callbacks {
 public:
  virtual ~Callbacks() = default;

  // Stage boundaries and steps. Per call, in this order:
  //   (load 0/n .. n/n)?  encode 0/1, encode 1/1,
  //   denoise 0/steps (before the first step), denoise k/steps after step k,
  //   decode 0/batch .. batch/batch.
  // `sigma` is the noise level the step ended at (NaN outside denoise).
  virtual void progress(Stage stage, int step, int steps, float sigma) = 0;

  // A cheap RGB rendering of the current latents (a fixed linear map of the
  // 4 latent channels, per family, at latent resolution; or, when the model
  // has a TAESD, its decode at full resolution), after denoise step
  // `step` when step % preview_every == 0. Batch: the first image. Call it
  // just BEFORE progress(Denoise, step, ...): the addon attaches the image to
  // that progress event.
  virtual void preview(int step, const RgbImage& image) = 0;

  // True once the caller asked to cancel. The pipeline polls it at least once
  // per sampler step (sooner where cheap: between U-Net blocks, VAE tiles)
  // and between stages, and then throws via throw_if_aborted().
  virtual bool is_aborted() const = 0;
};

// The single way the pipeline stops on cancellation: an sd::Error with code
// Aborted, which the addon turns into a JS AbortError (code ABORT_ERR).
inline void throw_if_aborted(const Callbacks& cb) {
  if (cb.is_aborted()) fail(ErrorCode::Aborted, "the generation was aborted");
}

struct GenerateTimings {
  double load_ms = 0;  // lazy weight preparation done by this call (0 if none)
  double text_encode_ms = 0;
  double denoise_ms = 0;
  std::vector<double> per_step_ms;  // [steps actually run]
  double vae_decode_ms = 0;
  double total_ms = 0;
  // Per-op-family wall time of each stage; filled only when the environment
  // variable SD_NATIVE_OP_TIMERS=1 is set (benchmarks; timing costs a clock
  // read per op).
  // With them, the process CPU time of each stage (std::clock: on a shared
  // machine CPU seconds measure the work, wall time also the waiting).
  bool op_timers = false;
  OpTimers encode_ops, denoise_ops, decode_ops;
  double encode_cpu_s = 0, denoise_cpu_s = 0, decode_cpu_s = 0;
};

struct GenerateResult {
  std::vector<RgbImage> images;  // [batch_size], each width x height
  GenerateTimings timings;
  std::vector<std::string> warnings;         // for the caller's logger (e.g. LoRA keys that were ignored)
  Precision precision = Precision::Default;  // what ran (Default when Fast has no path on this CPU)
};

// Runs one txt2img / img2img / inpaint generation on `model`. Reports through
// `cb`; throws sd::Error (Aborted on cancellation, InvalidOption, OutOfMemory,
// Numerical, ...). All memory it allocated is released when it returns or throws.
// `model` is shared and read-only: several calls may run on different models at
// once (calls on one model are serialized by the TS layer).
// `lora_cache` (optional, one per model) keeps the merged weights of the last
// LoRA set across calls; without it every call with `loras` merges anew.
void run_generate(const LoadedModel& model, const GenerateParams& params, Callbacks& cb, GenerateResult* result,
                  LoraCache* lora_cache = nullptr);

}  // namespace sd
