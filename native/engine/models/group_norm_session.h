// Shared GroupNorm statistics for a decoder run in tiles (VAE::decode_tiled).
// Every GroupNorm layer asks the session reachable from its Compute
// (Compute::group_norm_stats) which statistics to normalise with. A decoder
// calls its norms in a fixed order, so the k-th call within a tile is the same
// layer k in every tile and every pass.
//  - recording: layer k adds the sums of its input over the tile's OWN region
//    (the part of the map no other tile owns) to accumulator k, so over all
//    tiles accumulator k holds the whole map's sums;
//  - applying: layer k normalises with the statistics the previous pass
//    recorded instead of the tile's own.
// A pass can do both (apply the last pass's statistics while recording new).
#pragma once
#include <vector>

#include "kernels/ops.h"

namespace sd {

class GroupNormSession {
 public:
  // Starts a pass: record and/or apply (apply needs a finished pass before).
  void begin_pass(bool record, bool apply);
  // Ends a pass: what it recorded becomes what the next pass applies.
  void end_pass();
  // Starts a tile whose latent input is th x tw and which owns latent rows
  // own.y0..y1 and columns own.x0..x1 of it (tile coordinates). At a layer
  // whose map is f times the latent's size the region scales by f.
  void begin_tile(int64_t th, int64_t tw, const ops::Region2d& own);
  // Called by a GroupNorm about to normalise x [B, C, H, W] in `groups`
  // groups: records when recording; returns the statistics to normalise with
  // (B*groups entries), or nullptr for x's own.
  const ops::GroupSums* next(Compute& c, const Tensor& x, int groups);

 private:
  bool record_ = false, apply_ = false;
  int64_t th_ = 0, tw_ = 0;
  ops::Region2d own_{0, 0, 0, 0};
  size_t call_ = 0;                                    // GroupNorm calls so far in this tile
  std::vector<std::vector<ops::GroupSums>> recorded_;  // [layer][B*groups]: this pass
  std::vector<std::vector<ops::GroupSums>> applied_;   // [layer][B*groups]: the previous pass
};

}  // namespace sd
