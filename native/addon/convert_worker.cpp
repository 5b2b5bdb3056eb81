#include "convert_worker.h"

#include <atomic>
#include <memory>
#include <string>
#include <utility>

#include "abortable.h"
#include "core/error.h"
#include "js_errors.h"
#include "quant/convert_model.h"

namespace sdnode {
namespace {

using Progress = std::pair<size_t, size_t>;  // (tensors done, total)

class ConvertWorker : public Napi::AsyncProgressQueueWorker<Progress> {
 public:
  ConvertWorker(Napi::Function on_progress, std::string src, std::string out, std::string type, AbortFlag aborted)
      : Napi::AsyncProgressQueueWorker<Progress>(on_progress, "sd-native:convert"),
        deferred_(Napi::Promise::Deferred::New(on_progress.Env())),
        src_(std::move(src)),
        out_(std::move(out)),
        type_(std::move(type)),
        aborted_(std::move(aborted)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    ok_ = capture_errors(&error_, [&] {
      // An abort lands after the tensor being written: the writer then removes its partial file.
      sd::quant::convert_to_gguf(src_, out_, type_, [&](size_t done, size_t total) {
        if (aborted_->load(std::memory_order_relaxed)) sd::fail(sd::ErrorCode::Aborted, "the conversion was aborted");
        const Progress p{done, total};
        progress.Send(&p, 1);
      });  // an abort after the last tensor is too late: the file is complete and in place
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
  AbortFlag aborted_;
  CapturedError error_;
  bool ok_ = false;
};

}  // namespace

Napi::Value ConvertModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsString() || !info[1].IsString() || !info[2].IsString() || !info[3].IsFunction())
    throw make_js_error(env, {"ERR_INVALID_OPTION", "convertModel(src, out, type, onProgress)"});
  auto aborted = std::make_shared<std::atomic<bool>>(false);
  auto* worker = new ConvertWorker(info[3].As<Napi::Function>(), info[0].As<Napi::String>(), info[1].As<Napi::String>(),
                                   info[2].As<Napi::String>(), aborted);
  Napi::Object handle = abortable_handle(env, worker->Promise(), aborted);
  worker->Queue();
  return handle;
}

}  // namespace sdnode
