// Callbacks for engine tests that only look at the result: no progress, no
// previews, never aborted.
#pragma once
#include "pipeline/pipeline.h"

namespace sdtest {

class NullCallbacks : public sd::Callbacks {
 public:
  void progress(sd::Stage, int, int, float) override {}
  void preview(int, const sd::RgbImage&) override {}
  bool is_aborted() const override { return false; }
};

}  // namespace sdtest
