// What load_model does with a single file's tensors after reading them:
// name mapping, architecture detection, standard configs. Shared by the
// safetensors and ckpt targets so a fuzzed file goes as deep as a real one.
#pragma once
#include "fuzz_util.h"
#include "io/detect.h"
#include "io/model_loader.h"
#include "io/name_map.h"

namespace sdfuzz {

inline void load_like_load_model(const sd::TensorFile& file) {
  for (const auto& [name, t] : file.tensors) touch(t);
  expect_typed([&] {
    sd::LoadedModel model;
    sd::DetectHints hints;
    hints.te1_openclip = sd::map_single_file(file.tensors, &model.weights).te1_openclip;
    for (const auto& [name, t] : model.weights.all()) touch(t);
    sd::detect_model(&model, hints);
    sd::add_standard_configs(&model);
  });
}

}  // namespace sdfuzz
