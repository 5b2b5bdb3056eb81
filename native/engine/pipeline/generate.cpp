// txt2img / img2img / inpainting: the orchestration of one generate() call,
// in the reference's order (text encoding, latent preparation with the
// generator's draws in diffusers' order, the sampling loop with batched CFG,
// VAE decode). Models and samplers do the work; this file only wires them.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>

#include "lora/embedding_file.h"
#include "models/taesd.h"
#include "models/unet.h"
#include "models/vae.h"
#include "pipeline/conditioning.h"
#include "pipeline/generate_internal.h"
#include "pipeline/heap_policy.h"
#include "pipeline/image_tensors.h"
#include "pipeline/pipeline.h"
#include "pipeline/precision.h"
#include "pipeline/vae_decode.h"
#include "pipeline/weight_residency.h"
#include "sampling/denoiser.h"
#include "sampling/sampler_setup.h"
#include "sampling/scheduler_config.h"
#include "tensor/thread_pool.h"

namespace sd {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }
constexpr float kNoSigma = std::numeric_limits<float>::quiet_NaN();

// The training schedule and the spacing conventions of the model's scheduler
// config (the loader supplies the standard one for single files).
ModelSchedule model_schedule(const LoadedModel& model, SamplingOptions* opt) {
  auto it = model.configs.find("scheduler");
  SchedulerConfig cfg = it == model.configs.end() ? default_scheduler_config() : parse_scheduler_config(it->second);
  // A `ztsnr` marker: trained with zero terminal SNR (unless the config already rescaled).
  if (model.carried.count("ztsnr") && !cfg.zero_terminal_snr) cfg.schedule = cfg.schedule.zero_terminal_snr();
  opt->model_leading_spacing = cfg.leading_spacing;
  opt->model_trailing_spacing = cfg.trailing_spacing;
  opt->steps_offset = cfg.steps_offset;
  opt->ays = model.info.family == "sdxl" ? AysFamily::Sdxl : AysFamily::Sd1;
  return cfg.schedule;
}

Tensor randn(RandomSource& rng, const Shape& shape, DrawPurpose purpose) {
  Tensor t = Tensor::empty(DType::F32, shape);
  rng.randn(t, purpose);
  return t;
}

// [1, ...] -> [n, ...] by repeating the row.
Tensor repeat_rows(const Tensor& row, int64_t n) {
  Shape shape = row.shape();
  shape[0] = n;
  Tensor out = Tensor::empty(DType::F32, shape);
  const size_t bytes = size_t(row.numel()) * sizeof(float);
  for (int64_t i = 0; i < n; ++i) std::memcpy(static_cast<char*>(out.data()) + i * bytes, row.data(), bytes);
  return out;
}

// Image `index` of a batch, as a [1, ...] tensor (a view).
Tensor row_of(const Tensor& t, int64_t index) { return t.slice_rows(index, index + 1); }

// VAE posterior sample of `image` [1, 3, H, W], scaled into pipeline latents
// [1, L, h, w]. Draws one noise tensor from the generator (as diffusers does).
Tensor encode_image(Compute& c, const VAE& vae, const Tensor& image, RandomSource& rng) {
  VaePosterior post = vae.encode(c, image);
  Tensor z = post.sample(randn(rng, post.mean.shape(), DrawPurpose::VaePosterior));
  ops::scale_(c, z, vae.scaling_factor());
  return z;
}

// SD_NATIVE_OP_TIMERS=1: per-op-family timings in the result (bench/).
bool op_timers_requested() {
  const char* v = std::getenv("SD_NATIVE_OP_TIMERS");
  return v && std::strcmp(v, "1") == 0;
}

double cpu_seconds() { return double(std::clock()) / CLOCKS_PER_SEC; }

void check_finite(const Tensor& t, const char* stage) {
  if (has_non_finite(t))
    fail(ErrorCode::Numerical, std::string("NaN or infinite values appeared during ") + stage +
                                   " (the model weights or settings produce non-finite numbers; try another precision, "
                                   "scheduler or cfgScale)");
}

}  // namespace

void run_generate(const LoadedModel& model, const GenerateParams& p, Callbacks& cb, GenerateResult* result, LoraCache* lora_cache) {
  if (p.rng != "cpu") fail(ErrorCode::InvalidOption, "rng \"" + p.rng + "\" is not supported yet (use \"cpu\")");
  TorchRandomSource rng(p.seed);
  // LoRAs and textual-inversion vectors run on overlays that share the base
  // weights and hold the call's own tensors; the base model is never written.
  const LoadedModel* m = &model;
  LoraOverlay overlay;
  double load_ms = 0;
  if (!p.loras.empty()) {
    cb.progress(Stage::Load, 0, 1, kNoSigma);
    const auto t0 = Clock::now();
    overlay = lora_cache ? lora_cache->get(model, p.loras) : merge_loras(model, p.loras);
    load_ms = ms_since(t0);
    throw_if_aborted(cb);
    cb.progress(Stage::Load, 1, 1, kNoSigma);
    m = overlay.model.get();
  }
  std::shared_ptr<const LoadedModel> with_tokens;
  if (p.extra_tokens_te1.data() || p.extra_tokens_te2.data()) {
    with_tokens = with_extra_tokens(*m, p.extra_tokens_te1, p.extra_tokens_te2);
    m = with_tokens.get();
  }
  generate_with(*m, p, cb, rng, result);
  result->timings.load_ms += load_ms;
  result->timings.total_ms += load_ms;
  result->warnings.insert(result->warnings.begin(), overlay.warnings.begin(), overlay.warnings.end());
}

void generate_with(const LoadedModel& model, const GenerateParams& p, Callbacks& cb, RandomSource& rng, GenerateResult* result,
                   Tensor* final_latents) {
  const auto t_start = Clock::now();
  throw_if_aborted(cb);
  if (p.batch_size < 1) fail(ErrorCode::InvalidOption, "batchSize must be >= 1");
  result->precision = resolve_precision(p.precision, &result->warnings);
  ThreadPool pool(p.threads);
  // Activations come from aligned_alloc64 (blocks of 1 MiB and more are
  // mappings with a 32 MiB reuse cache, tensor/aligned_memory), not an
  // Arena: the Arena caches blocks by exact size without a bound, and the
  // U-Net's many sizes kept 4.5x its live bytes reserved (256x256: 65 MB
  // live, 293 MB reserved) for no measurable speed-up.
  Compute c;
  c.pool = &pool;
  c.bf16 = result->precision == Precision::Fast;
  GenerateTimings& tm = result->timings;
  tm.op_timers = op_timers_requested();
  if (tm.op_timers) c.timers = &tm.encode_ops;
  double cpu0 = cpu_seconds();

  const UNet unet = UNet::bind(model);
  const VAE vae = VAE::bind(model);
  const int factor = vae.downsample_factor();
  if (p.width % factor || p.height % factor)
    fail(ErrorCode::InvalidOption, "width and height must be multiples of " + std::to_string(factor) + " for this model");
  const bool guided = guidance_applies(p.cfg_scale);
  const bool img2img = p.init_image.width > 0;
  const bool inpaint = img2img && p.mask.width > 0;
  if (unet.is_inpaint() && !inpaint) fail(ErrorCode::InvalidOption, "this is an inpainting model: pass initImage and mask");
  if (p.decoder != "vae" && p.decoder != "taesd")
    fail(ErrorCode::InvalidOption, "decoder must be \"vae\" or \"taesd\", got \"" + p.decoder + "\"");
  const bool taesd_decode = p.decoder == "taesd";
  if (taesd_decode && !TinyAutoencoder::present(model))
    fail(ErrorCode::InvalidOption, "decoder \"taesd\" needs a TAESD: the `taesd` load option (--taesd on the command line)");
  std::optional<TinyAutoencoder> tiny;  // final decoder and/or preview source
  if (TinyAutoencoder::present(model) && (taesd_decode || p.preview_every > 0)) tiny = TinyAutoencoder::bind(model);
  if (taesd_decode && !tiny->has_decoder()) fail(ErrorCode::InvalidOption, "the TAESD given to loadModel has no decoder");
  if ((img2img || unet.is_inpaint()) && !vae.has_encoder())
    fail(ErrorCode::ModelUnsupported, "the checkpoint has no VAE encoder, needed for initImage");

  // 1. Text conditioning.
  cb.progress(Stage::Encode, 0, 1, kNoSigma);
  auto t0 = Clock::now();
  Conditioning cond = encode_conditioning(c, model, p, guided);
  result->timings.text_encode_ms = ms_since(t0);
  if (tm.op_timers) c.timers = &tm.denoise_ops;
  release_weight_pages(model.weights, "te");  // not needed again in this call
  release_free_heap();
  tm.encode_cpu_s = cpu_seconds() - cpu0;
  cpu0 = cpu_seconds();
  throw_if_aborted(cb);
  cb.progress(Stage::Encode, 1, 1, kNoSigma);

  // 2. Schedule and initial latents, drawing from the generator in diffusers' order.
  SamplingOptions opt;
  const ModelSchedule train = model_schedule(model, &opt);
  const Sampler sampler = parse_sampler(p.sampler);
  opt.kind = parse_schedule_kind(p.scheduler);
  opt.steps = p.steps;
  opt.custom_sigmas = p.sigmas;
  SamplingSetup setup = setup_sampling(train, sampler, opt);
  Schedule sched = setup.schedule;
  const int64_t B = p.batch_size, L = vae.latent_channels();
  const Shape latent_shape = {B, L, p.height / factor, p.width / factor};  // [B, L, h, w]

  Tensor image_latents;   // [B, L, h, w] init image (img2img, ordinary-model inpainting)
  Tensor mask_latent;     // [1, 1, h, w] 1 = repaint
  Tensor masked_latents;  // [1, L, h, w] inpainting models' extra conditioning
  Tensor x;               // [B, L, h, w] k-diffusion latent
  Tensor unit_noise;      // [B, L, h, w] the initial N(0,1) draw
  if (img2img) {
    if (!inpaint || p.strength < 1.0) sched = truncate_for_strength(setup.schedule, p.strength);
    Tensor image = rgb_to_tensor(p.init_image);  // [1, 3, H, W]
    Tensor mask;
    if (inpaint) {
      mask = mask_to_tensor(p.mask);  // [1, 1, H, W]
      mask_latent = mask_to_latent(mask, factor);
    }
    const bool need_image_latents = !unet.is_inpaint() || p.strength < 1.0;
    if (need_image_latents) image_latents = repeat_rows(encode_image(c, vae, image, rng), B);
    unit_noise = randn(rng, latent_shape, DrawPurpose::InitialNoise);
    if (inpaint) masked_latents = encode_image(c, vae, masked_image(image, mask), rng);
    release_weight_pages(model.weights, "vae.encoder.");
    x = Tensor::empty(DType::F32, latent_shape);
    if (inpaint && p.strength >= 1.0) {
      std::memcpy(x.data(), unit_noise.data(), size_t(x.nbytes()));
      ops::scale_(c, x, setup.init_noise_sigma);
    } else {
      noise_latents(x, image_latents, unit_noise, sched.sigmas[0]);
    }
  } else {
    x = randn(rng, latent_shape, DrawPurpose::InitialNoise);
    ops::scale_(c, x, setup.init_noise_sigma);
  }
  throw_if_aborted(cb);

  // 3. Sampling: one U-Net call per denoiser evaluation on the CFG batch.
  const int64_t R = guided ? 2 * B : B;
  Tensor extra;  // [R, 1 + L, h, w] inpainting model: mask and masked-image latents per row
  if (unet.is_inpaint()) extra = repeat_rows(ops::concat(c, mask_latent, masked_latents, 1), R);
  ModelFn run_unet = [&](const Tensor& x_in, float t, Tensor& out) {
    throw_if_aborted(cb);
    Tensor tt = Tensor::empty(DType::F32, {1});
    tt.data_as<float>()[0] = t;
    Tensor input = unet.is_inpaint() ? ops::concat(c, x_in, extra, 1) : x_in;  // [R, Cin, h, w]
    Tensor y = unet.forward(c, input, tt, cond.context, cond.added ? &*cond.added : nullptr);
    std::memcpy(out.data(), y.data(), size_t(out.nbytes()));
  };
  const Prediction prediction = model.info.prediction == "v" ? Prediction::V : Prediction::Epsilon;
  Denoiser denoiser(run_unet, train, prediction, p.cfg_scale);
  NoiseFn noise = [&](Tensor& z) { rng.randn(z, DrawPurpose::SamplerNoise); };

  const int steps = sched.steps();
  auto step_start = Clock::now();
  const auto t_denoise = step_start;
  cb.progress(Stage::Denoise, 0, steps, sched.sigmas[0]);
  StepCallback on_step = [&](const StepInfo& s) {
    if (!s.step_done) return !cb.is_aborted();
    if (inpaint && !unet.is_inpaint()) {
      // Ordinary model: keep the unmasked region on the init image's noise path.
      const bool last = s.step + 1 == s.steps;
      const float sigma = s.sigma;
      const float keep_scale = last ? std::sqrt(sigma * sigma + 1.0f) : 1.0f;
      const int64_t hw = x.size(2) * x.size(3);
      float* xp = s.x.data_as<float>();
      const float* init = image_latents.data_as<float>();
      const float* n = unit_noise.data_as<float>();
      const float* m = mask_latent.data_as<float>();
      for (int64_t i = 0; i < s.x.numel(); ++i) {
        const float keep = last ? init[i] * keep_scale : init[i] + sigma * n[i];
        const float mi = m[i % hw];
        xp[i] = (1.0f - mi) * keep + mi * xp[i];
      }
    }
    result->timings.per_step_ms.push_back(ms_since(step_start));
    step_start = Clock::now();
    const int done = s.step + 1;
    if (p.preview_every > 0 && done % p.preview_every == 0)
      cb.preview(done, tiny && tiny->has_decoder() ? tensor_to_rgb(tiny->decode(c, row_of(s.denoised, 0)), 0)
                                                   : latent_preview(s.denoised, 0, model.info.family));
    cb.progress(Stage::Denoise, done, s.steps, s.sigma);
    return !cb.is_aborted();
  };
  sampler_fn(sampler)(denoiser, x, sched, noise, on_step);
  finish_latents(x, sched);
  result->timings.denoise_ms = ms_since(t_denoise);
  check_finite(x, "denoising");
  if (final_latents) {
    *final_latents = Tensor::empty(DType::F32, x.shape());
    std::memcpy(final_latents->data(), x.data(), size_t(x.nbytes()));
  }

  // 4. VAE decode, one image at a time (peak memory of one decode), in tiles
  // when asked or when a whole decode would need too much memory.
  release_weight_pages(model.weights, "unet.");
  release_free_heap();
  if (tm.op_timers) c.timers = &tm.decode_ops;
  tm.denoise_cpu_s = cpu_seconds() - cpu0;
  cpu0 = cpu_seconds();
  t0 = Clock::now();
  cb.progress(Stage::Decode, 0, int(B), kNoSigma);
  // TAESD decodes the pipeline latents as they are; the VAE the unscaled ones.
  if (!taesd_decode) ops::scale_(c, x, 1.0f / vae.scaling_factor());
  result->images.clear();
  for (int64_t b = 0; b < B; ++b) {
    throw_if_aborted(cb);
    Tensor image = taesd_decode ? tiny->decode(c, row_of(x, b)) : decode_latent(c, vae, row_of(x, b), p, &cb);  // [1, 3, H, W]
    check_finite(image, "VAE decoding");
    result->images.push_back(tensor_to_rgb(image, 0));
    cb.progress(Stage::Decode, int(b + 1), int(B), kNoSigma);
  }
  result->timings.vae_decode_ms = ms_since(t0);
  release_weight_pages(model.weights, "vae.");
  release_free_heap();
  tm.decode_cpu_s = cpu_seconds() - cpu0;
  result->timings.total_ms = ms_since(t_start);
}

}  // namespace sd
