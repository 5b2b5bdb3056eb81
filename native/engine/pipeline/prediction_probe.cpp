#include "pipeline/prediction_probe.h"

#include "models/unet.h"

namespace sd {

double sd2_v_probe(const LoadedModel& model) {
  const UNet unet = UNet::bind(model);
  Compute c;
  Tensor x = Tensor::empty(DType::F32, {1, unet.in_channels(), 8, 8});
  Tensor context = Tensor::empty(DType::F32, {1, 2, unet.context_dim()});
  Tensor t = Tensor::empty(DType::F32, {1});
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = 0.5f;
  for (int64_t i = 0; i < context.numel(); ++i) context.data_as<float>()[i] = 0.5f;
  t.data_as<float>()[0] = 999.0f;
  const Tensor out = unet.forward(c, x, t, context);
  double sum = 0;
  for (int64_t i = 0; i < out.numel(); ++i) sum += double(out.data_as<float>()[i]) - 0.5;
  return sum / double(out.numel());
}

void settle_prediction(LoadedModel* model) {
  ModelInfo& info = model->info;
  if (!info.prediction_guessed || info.family != "sd2") return;
  info.prediction = info.inpaint ? "epsilon" : (sd2_v_probe(*model) < -1.0 ? "v" : "epsilon");
  info.prediction_guessed = false;
}

}  // namespace sd
