// Weight residency between pipeline stages. After a stage, the pages of its
// weights are unmapped from the process, so peak RSS is the current stage's
// weights plus activations instead of the whole checkpoint (SD 1.5 f16: the
// text encoder's ~240 MB leave before denoising, the U-Net's 1.72 GB before
// the VAE decode).
//
// SD_NATIVE_RELEASE_WEIGHTS selects how:
//   unset / "unmap" (default): madvise(MADV_DONTNEED) on the read-only file
//     mapping. The pages stay in the page cache, so the next generate()
//     re-faults them without disk reads (minor faults only).
//   "pageout" (or "1"): madvise(MADV_PAGEOUT): the pages also leave the page
//     cache (lowest memory, but the next call re-reads the checkpoint).
//   "0": weights stay mapped.
#pragma once
#include <string>

#include "io/model_loader.h"

namespace sd {

enum class WeightRelease { Keep, Unmap, PageOut };

// The mode SD_NATIVE_RELEASE_WEIGHTS selects (read once per process).
WeightRelease weight_release_mode();

// Linux: releases the pages of every weight whose name starts with `prefix`
// ("te", "unet.", "vae."). Never changes contents: Unmap touches only ranges
// inside read-only private file mappings (heap copies, e.g. LoRA overlays or
// converted weights, are skipped), PageOut only reclaims. Elsewhere: nothing.
void release_weight_pages(const ModelWeights& weights, const std::string& prefix);

}  // namespace sd
