#include "model_wrap.h"

#include <cstring>

#include "addon_state.h"
#include "generate_worker.h"
#include "js_errors.h"
#include "lora/embedding_file.h"
#include "models/taesd.h"
#include "pipeline/memory_estimate.h"
#include "pipeline/prediction_probe.h"

namespace sdnode {

Napi::Function ModelWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         InstanceMethod<&ModelWrap::Info>("info"),
                         InstanceMethod<&ModelWrap::Dispose>("dispose"),
                         InstanceMethod<&ModelWrap::Generate>("generate"),
                         InstanceMethod<&ModelWrap::ReadEmbedding>("readEmbedding"),
                         InstanceMethod<&ModelWrap::EstimateMemory>("estimateMemory"),
                         InstanceMethod<&ModelWrap::Vocabulary>("vocabulary"),
                     });
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {}

Napi::Object ModelWrap::Wrap(Napi::Env env, std::shared_ptr<sd::LoadedModel> model) {
  Napi::Object obj = AddonState::Get(env).model_ctor.Value().New({});
  ModelWrap::Unwrap(obj)->model_ = std::move(model);
  return obj;
}

Napi::Value ModelWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_) throw make_js_error(env, {"ERR_DISPOSED", "the model has been disposed"});
  const sd::ModelInfo& mi = model_->info;
  Napi::Object o = Napi::Object::New(env);
  o.Set("family", mi.family);
  o.Set("format", mi.format);
  o.Set("path", mi.path);
  o.Set("fileSize", Napi::Number::New(env, static_cast<double>(mi.file_size)));
  o.Set("parameterCount", Napi::Number::New(env, static_cast<double>(mi.parameter_count)));
  o.Set("prediction", mi.prediction);
  o.Set("inpaint", mi.inpaint);
  Napi::Object comps = Napi::Object::New(env);
  for (const auto& [name, c] : mi.components) {
    Napi::Object co = Napi::Object::New(env);
    co.Set("dtype", c.dtype);
    co.Set("parameterCount", Napi::Number::New(env, static_cast<double>(c.parameter_count)));
    comps.Set(name, co);
  }
  o.Set("components", comps);
  return o;
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  model_.reset();
  lora_cache_->clear();
  return info.Env().Undefined();
}

Napi::Value ModelWrap::Generate(const Napi::CallbackInfo& info) {
  if (!model_) throw make_js_error(info.Env(), {"ERR_DISPOSED", "the model has been disposed"});
  return StartGenerate(info, model_, lora_cache_);
}

Napi::Value ModelWrap::ReadEmbedding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw make_js_error(env, {"ERR_INVALID_OPTION", "readEmbedding(path): path must be a string"});
  sd::EmbeddingFile e;
  CapturedError error;
  const std::string path = info[0].As<Napi::String>();
  if (!capture_errors(&error, [&] { e = sd::read_embedding_file(path); })) throw make_js_error(env, error);
  Napi::Object o = Napi::Object::New(env);
  o.Set("token", e.token);
  auto rows = [&](const sd::Tensor& t, const char* data, const char* dim) {
    if (!t.data()) return;
    Napi::Float32Array a = Napi::Float32Array::New(env, size_t(t.numel()));
    std::memcpy(a.Data(), t.data(), size_t(t.numel()) * sizeof(float));
    o.Set(data, a);
    o.Set(dim, Napi::Number::New(env, double(t.size(1))));
  };
  rows(e.te1, "te1", "dim1");
  rows(e.te2, "te2", "dim2");
  // The model's text-encoder widths, to tell an embedding made for another family.
  if (model_)
    for (const auto& [te, key] : {std::pair<const char*, const char*>{"te1", "modelDim1"}, {"te2", "modelDim2"}})
      if (const sd::Tensor* w = model_->weights.find(std::string(te) + ".text_model.embeddings.token_embedding.weight"))
        o.Set(key, Napi::Number::New(env, double(w->size(1))));
  return o;
}

Napi::Value ModelWrap::EstimateMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_) throw make_js_error(env, {"ERR_DISPOSED", "the model has been disposed"});
  if (info.Length() < 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsBoolean())
    throw make_js_error(env, {"ERR_INVALID_OPTION", "estimateMemory(width, height, batch, guided): bad arguments"});
  int64_t bytes = 0;
  CapturedError error;
  if (!capture_errors(&error, [&] {
        bytes = sd::estimate_activation_bytes(*model_, info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(),
                                              info[2].As<Napi::Number>().Int32Value(), info[3].As<Napi::Boolean>().Value());
      }))
    throw make_js_error(env, error);
  return Napi::Number::New(env, double(bytes));
}

Napi::Value ModelWrap::Vocabulary(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!model_) throw make_js_error(env, {"ERR_DISPOSED", "the model has been disposed"});
  const sd::ClipVocab& v = model_->vocab;
  if (v.empty()) return env.Undefined();
  auto strings = [&](const std::vector<std::string>& items) {
    Napi::Array a = Napi::Array::New(env, items.size());
    for (size_t i = 0; i < items.size(); ++i) a.Set(uint32_t(i), Napi::String::New(env, items[i]));
    return a;
  };
  Napi::Object o = Napi::Object::New(env);
  o.Set("tokens", strings(v.tokens));
  o.Set("merges", strings(v.merges));
  return o;
}

namespace {

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, sd::LoadOptions options, std::string taesd)
      : Napi::AsyncWorker(env, "sd-native:load"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        options_(std::move(options)),
        taesd_(std::move(taesd)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    ok_ = capture_errors(&error_, [&] {
      model_ = sd::load_model(path_, options_);
      sd::settle_prediction(model_.get());
      if (!taesd_.empty()) sd::add_taesd_weights(model_.get(), taesd_);
    });
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!ok_) {
      deferred_.Reject(make_js_error(env, error_).Value());
      return;
    }
    deferred_.Resolve(ModelWrap::Wrap(env, std::move(model_)));
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  sd::LoadOptions options_;
  std::string taesd_;  // optional TAESD file/folder (models/taesd.h)
  std::shared_ptr<sd::LoadedModel> model_;
  CapturedError error_;
  bool ok_ = false;
};

}  // namespace

Napi::Value LoadModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw make_js_error(env, {"ERR_INVALID_OPTION", "loadModel: path must be a string"});
  sd::LoadOptions opts;
  std::string taesd;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (o.Has("config") && o.Get("config").IsString()) opts.config_path = o.Get("config").As<Napi::String>();
    if (o.Has("vae") && o.Get("vae").IsString()) opts.vae_path = o.Get("vae").As<Napi::String>();
    if (o.Has("taesd") && o.Get("taesd").IsString()) taesd = o.Get("taesd").As<Napi::String>();
    // Validated in lib/model.ts: a type name, and an object of component -> type name.
    if (o.Has("weightType") && o.Get("weightType").IsString()) opts.weight_type = o.Get("weightType").As<Napi::String>();
    if (o.Has("weightTypes") && o.Get("weightTypes").IsObject()) {
      Napi::Object per = o.Get("weightTypes").As<Napi::Object>();
      Napi::Array keys = per.GetPropertyNames();
      for (uint32_t i = 0; i < keys.Length(); ++i) {
        std::string k = keys.Get(i).As<Napi::String>();
        if (per.Get(k).IsString()) opts.component_weight_types[k] = per.Get(k).As<Napi::String>();
      }
    }
  }
  auto* worker = new LoadWorker(env, info[0].As<Napi::String>(), std::move(opts), std::move(taesd));
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace sdnode
