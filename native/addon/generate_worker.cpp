#include "generate_worker.h"

#include <atomic>
#include <cmath>
#include <utility>
#include <vector>

#include "abortable.h"
#include "generate_params.h"
#include "js_errors.h"
#include "pipeline/pipeline.h"

namespace sdnode {
namespace {

// One progress event on its way to the JS thread. The preview is shared so
// that queueing the event does not copy pixels.
struct NativeEvent {
  sd::Stage stage = sd::Stage::Denoise;
  int step = 0;
  int steps = 0;
  float sigma = NAN;
  std::shared_ptr<const sd::RgbImage> preview;
};

using EventWorker = Napi::AsyncProgressQueueWorker<NativeEvent>;

// The pipeline's view of this call: forwards events into the worker's queue
// (never blocks on JS) and reads the abort flag.
class QueueCallbacks : public sd::Callbacks {
 public:
  QueueCallbacks(const EventWorker::ExecutionProgress& progress, const std::atomic<bool>& aborted)
      : progress_(progress), aborted_(aborted) {}

  void progress(sd::Stage stage, int step, int steps, float sigma) override {
    NativeEvent e{stage, step, steps, sigma, nullptr};
    if (stage == sd::Stage::Denoise && pending_preview_ && pending_step_ == step) e.preview = std::move(pending_preview_);
    pending_preview_.reset();
    progress_.Send(&e, 1);
  }
  void preview(int step, const sd::RgbImage& image) override {
    pending_preview_ = std::make_shared<const sd::RgbImage>(image);
    pending_step_ = step;
  }
  bool is_aborted() const override { return aborted_.load(std::memory_order_relaxed); }

 private:
  const EventWorker::ExecutionProgress& progress_;
  const std::atomic<bool>& aborted_;
  std::shared_ptr<const sd::RgbImage> pending_preview_;
  int pending_step_ = -1;
};

Napi::Object image_to_js(Napi::Env env, const sd::RgbImage& img) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("width", img.width);
  o.Set("height", img.height);
  o.Set("data", Napi::Buffer<uint8_t>::Copy(env, img.data.data(), img.data.size()));
  return o;
}

class GenerateWorker : public EventWorker {
 public:
  GenerateWorker(Napi::Env env, std::shared_ptr<const sd::LoadedModel> model, std::shared_ptr<sd::LoraCache> lora_cache,
                 sd::GenerateParams params, Napi::Function on_event, std::shared_ptr<std::atomic<bool>> aborted)
      : EventWorker(env, "sd-native:generate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        lora_cache_(std::move(lora_cache)),
        params_(std::move(params)),
        on_event_(Napi::Persistent(on_event)),
        aborted_(std::move(aborted)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    QueueCallbacks cb(progress, *aborted_);
    ok_ = capture_errors(&error_, [&] {
      sd::throw_if_aborted(cb);  // abort() may have run before the thread started
      sd::run_generate(*model_, params_, cb, &result_, lora_cache_.get());
      // An abort that came during the last stage still wins: the caller was promised an AbortError.
      sd::throw_if_aborted(cb);
    });
    if (!ok_) result_ = sd::GenerateResult();  // free partial results now
    model_.reset();                            // a disposed model's memory goes now, not when JS collects us
    lora_cache_.reset();
  }

  void OnProgress(const NativeEvent* events, size_t count) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; ++i) {
      const NativeEvent& e = events[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("stage", sd::stage_name(e.stage));
      o.Set("step", e.step);
      o.Set("steps", e.steps);
      if (!std::isnan(e.sigma)) o.Set("sigma", e.sigma);
      if (e.preview) o.Set("preview", image_to_js(env, *e.preview));
      // lib/generate.ts wraps the user's callback so it never throws; a throw
      // here would only come from the environment shutting down.
      try {
        on_event_.Call({o});
      } catch (const Napi::Error&) {
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!ok_) {
      deferred_.Reject(make_js_error(env, error_).Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    Napi::Array images = Napi::Array::New(env, result_.images.size());
    for (size_t i = 0; i < result_.images.size(); ++i) images.Set(static_cast<uint32_t>(i), image_to_js(env, result_.images[i]));
    out.Set("images", images);
    const sd::GenerateTimings& t = result_.timings;
    Napi::Object timings = Napi::Object::New(env);
    timings.Set("loadMs", t.load_ms);
    timings.Set("textEncodeMs", t.text_encode_ms);
    timings.Set("denoiseMs", t.denoise_ms);
    Napi::Array per_step = Napi::Array::New(env, t.per_step_ms.size());
    for (size_t i = 0; i < t.per_step_ms.size(); ++i) per_step.Set(static_cast<uint32_t>(i), t.per_step_ms[i]);
    timings.Set("perStepMs", per_step);
    timings.Set("vaeDecodeMs", t.vae_decode_ms);
    timings.Set("totalMs", t.total_ms);
    if (t.op_timers) {  // SD_NATIVE_OP_TIMERS=1 (bench/): { encode|denoise|decode: { family: seconds }, cpuSeconds: { stage: s } }
      Napi::Object ops = Napi::Object::New(env);
      const std::pair<const char*, const sd::OpTimers*> stages[] = {
          {"encode", &t.encode_ops}, {"denoise", &t.denoise_ops}, {"decode", &t.decode_ops}};
      for (const auto& [name, timers] : stages) {
        Napi::Object families = Napi::Object::New(env);
        for (int op = 0; op < sd::OpTimers::kCount; ++op) families.Set(sd::OpTimers::name(op), timers->seconds[op]);
        ops.Set(name, families);
      }
      Napi::Object cpu = Napi::Object::New(env);
      cpu.Set("encode", t.encode_cpu_s);
      cpu.Set("denoise", t.denoise_cpu_s);
      cpu.Set("decode", t.decode_cpu_s);
      ops.Set("cpuSeconds", cpu);
      timings.Set("ops", ops);
    }
    out.Set("timings", timings);
    Napi::Array warnings = Napi::Array::New(env, result_.warnings.size());
    for (size_t i = 0; i < result_.warnings.size(); ++i) warnings.Set(static_cast<uint32_t>(i), result_.warnings[i]);
    out.Set("warnings", warnings);
    out.Set("precision", sd::precision_name(result_.precision));
    deferred_.Resolve(out);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<const sd::LoadedModel> model_;
  std::shared_ptr<sd::LoraCache> lora_cache_;
  sd::GenerateParams params_;
  Napi::FunctionReference on_event_;
  std::shared_ptr<std::atomic<bool>> aborted_;
  sd::GenerateResult result_;
  CapturedError error_;
  bool ok_ = false;
};

}  // namespace

Napi::Value StartGenerate(const Napi::CallbackInfo& info, std::shared_ptr<const sd::LoadedModel> model,
                          std::shared_ptr<sd::LoraCache> lora_cache) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction())
    throw make_js_error(env, {"ERR_INVALID_OPTION", "generate(params, onEvent): bad arguments"});
  sd::GenerateParams params = parse_generate_params(env, info[0].As<Napi::Object>());
  auto aborted = std::make_shared<std::atomic<bool>>(false);
  auto* worker = new GenerateWorker(env, std::move(model), std::move(lora_cache), std::move(params), info[1].As<Napi::Function>(), aborted);
  Napi::Object handle = abortable_handle(env, worker->Promise(), aborted);
  worker->Queue();
  return handle;
}

}  // namespace sdnode
