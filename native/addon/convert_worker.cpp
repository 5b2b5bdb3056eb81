#include "convert_worker.h"

#include <string>
#include <utility>

#include "js_errors.h"
#include "quant/convert_model.h"

namespace sdnode {
namespace {

using Progress = std::pair<size_t, size_t>;  // (tensors done, total)

class ConvertWorker : public Napi::AsyncProgressQueueWorker<Progress> {
 public:
  ConvertWorker(Napi::Function on_progress, std::string src, std::string out, std::string type)
      : Napi::AsyncProgressQueueWorker<Progress>(on_progress, "sd-native:convert"),
        deferred_(Napi::Promise::Deferred::New(on_progress.Env())),
        src_(std::move(src)),
        out_(std::move(out)),
        type_(std::move(type)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    ok_ = capture_errors(&error_, [&] {
      sd::quant::convert_to_gguf(src_, out_, type_, [&](size_t done, size_t total) {
        const Progress p{done, total};
        progress.Send(&p, 1);
      });
    });
  }
  void OnProgress(const Progress* p, size_t count) override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; ++i) {
      // A throwing callback must not fail the conversion.
      try {
        Callback().Call({Napi::Number::New(env, double(p[i].first)), Napi::Number::New(env, double(p[i].second))});
      } catch (const Napi::Error&) {
      }
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (ok_)
      deferred_.Resolve(env.Undefined());
    else
      deferred_.Reject(make_js_error(env, error_).Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string src_, out_, type_;
  CapturedError error_;
  bool ok_ = false;
};

}  // namespace

Napi::Value ConvertModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsFunction())
    throw make_js_error(env, {"ERR_INVALID_OPTION", "convertModel(src, out, type, onProgress)"});
  auto* worker =
      new ConvertWorker(info[3].As<Napi::Function>(), info[0].As<Napi::String>(), info[1].As<Napi::String>(), info[2].As<Napi::String>());
  Napi::Promise p = worker->Promise();
  worker->Queue();
  return p;
}

}  // namespace sdnode
