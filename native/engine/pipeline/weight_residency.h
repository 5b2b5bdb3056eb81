// Low-memory mode (opt-in: SD_NATIVE_RELEASE_WEIGHTS=1): after a stage, the
// pages of its weights are handed back to the OS, so peak RSS becomes
// max(U-Net, VAE) + activations instead of the whole checkpoint. The price:
// clean file pages are reclaimed, not kept in the page cache, so the next
// generate() reads the checkpoint from disk again (measured: ~2 GB of reads
// per call for SD 1.5 f16). Off by default for that reason.
#pragma once
#include <string>

#include "io/model_loader.h"

namespace sd {

// Linux: madvise(MADV_PAGEOUT) over the storage of every weight whose name
// starts with `prefix` ("te", "unet.", "vae."). Never changes contents (clean
// file pages are dropped; heap copies may go to swap if there is one).
// Elsewhere, on kernels without MADV_PAGEOUT, or when the mode is off: nothing.
void release_weight_pages(const ModelWeights& weights, const std::string& prefix);

}  // namespace sd
