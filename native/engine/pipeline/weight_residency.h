// Keeps the resident set of one generate() call to the weights of the stage
// that runs: after a stage, the pages of its weights are handed back to the
// OS (they stay in the page cache, so the next use is a minor fault, not a
// disk read). Peak RSS becomes max(U-Net, VAE) + activations instead of the
// whole checkpoint.
#pragma once
#include <string>

#include "io/model_loader.h"

namespace sd {

// Linux: madvise(MADV_PAGEOUT) over the storage of every weight whose name
// starts with `prefix` ("te", "unet.", "vae."). Never changes contents (clean
// file pages are dropped; heap copies may go to swap if there is one).
// Elsewhere, or on kernels without MADV_PAGEOUT: nothing.
void release_weight_pages(const ModelWeights& weights, const std::string& prefix);

}  // namespace sd
