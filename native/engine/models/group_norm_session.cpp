#include "models/group_norm_session.h"

#include <string>
#include <utility>

#include "core/error.h"

namespace sd {

void GroupNormSession::begin_pass(bool record, bool apply) {
  if (apply && applied_.empty()) fail(ErrorCode::Internal, "GroupNormSession: nothing recorded to apply");
  record_ = record;
  apply_ = apply;
  recorded_.clear();
}

void GroupNormSession::end_pass() {
  if (record_) applied_ = std::move(recorded_);
  recorded_.clear();
}

void GroupNormSession::begin_tile(int64_t th, int64_t tw, const ops::Region2d& own) {
  th_ = th;
  tw_ = tw;
  own_ = own;
  call_ = 0;
}

const ops::GroupSums* GroupNormSession::next(Compute& c, const Tensor& x, int groups) {
  const size_t k = call_++;
  const int64_t n = x.size(0) * groups;
  if (record_) {
    // The map is f times the tile's latent in both directions (the decoder only upsamples by 2).
    const int64_t f = x.dim() == 4 && th_ ? x.size(2) / th_ : 0;
    if (f < 1 || x.size(2) != f * th_ || x.size(3) != f * tw_)
      fail(ErrorCode::Internal, "GroupNormSession: map " + shape_str(x.shape()) + " is not a multiple of the " + std::to_string(th_) + "x" +
                                    std::to_string(tw_) + " tile");
    if (recorded_.size() == k) recorded_.emplace_back(size_t(n));
    if (recorded_.size() <= k || int64_t(recorded_[k].size()) != n)
      fail(ErrorCode::Internal, "GroupNormSession: GroupNorm call " + std::to_string(k) + " differs between tiles");
    ops::group_sums(c, x, groups, {f * own_.y0, f * own_.y1, f * own_.x0, f * own_.x1}, recorded_[k].data());
  }
  if (!apply_) return nullptr;
  if (k >= applied_.size() || int64_t(applied_[k].size()) != n)
    fail(ErrorCode::Internal, "GroupNormSession: GroupNorm call " + std::to_string(k) + " differs from the recorded pass");
  return applied_[k].data();
}

}  // namespace sd
