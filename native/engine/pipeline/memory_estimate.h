// A rough upper estimate of the activation memory one generate() call needs,
// so that absurd requests are refused up front (ERR_OUT_OF_MEMORY from the
// TypeScript layer, which compares it with the memory available) instead of
// being ended by the kernel's OOM killer halfway through.
#pragma once
#include <cstdint>

#include "io/model_loader.h"

namespace sd {

// Peak activation bytes of a `width` x `height` call with `batch` images
// (doubled U-Net rows when `guided`, i.e. cfgScale != 1). Weights are not
// included (they are already resident or mapped). Throws what UNet::bind /
// VAE::bind throw for an unusable model.
int64_t estimate_activation_bytes(const LoadedModel& model, int width, int height, int batch, bool guided);

}  // namespace sd
