// Internal: per-thread, 64-byte aligned scratch buffers that grow on demand
// and are reused across calls (packing panels, attention tiles). `slot`
// separates independent users that are live at the same time.
#pragma once
#include <cstddef>

namespace sd {
namespace kern {

enum ScratchSlot { kSlotGemmA = 0, kSlotGemmB, kSlotOp0, kSlotOp1, kSlotOp2, kSlotOp3, kNumSlots };

// Valid until the next scratch() call for the same slot on this thread.
float* scratch(int slot, size_t floats);

}  // namespace kern
}  // namespace sd
