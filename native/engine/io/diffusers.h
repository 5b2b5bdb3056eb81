// diffusers folder reader: model_index.json plus one sub-folder per component
// (unet/, vae/, text_encoder/, text_encoder_2/, tokenizer/, scheduler/), each
// with config.json and weights (*.safetensors, sharded via *.index.json;
// PyTorch *.bin through the ckpt reader). Weights are mapped to canonical
// names; config texts go to LoadedModel::configs.
#pragma once
#include <string>

#include "io/model_loader.h"

namespace sd {

// Fills weights, configs, tokenizer_dir and info.file_size of `out`.
// Throws ERR_MODEL_UNSUPPORTED when unet/ (or another required part) is
// missing, ERR_MODEL_FORMAT for malformed configs or weights.
void read_diffusers_folder(const std::string& dir, LoadedModel* out);

// Reads the component config files of a diffusers folder into `configs`
// ("unet", "vae", "te1", "te2", "scheduler"); absent files are skipped.
void read_diffusers_configs(const std::string& dir, std::map<std::string, std::string>* configs);

// Reads a small text file (config, index, tokenizer merges; at most 64 MB).
// Throws ERR_IO / ERR_MODEL_FORMAT.
std::string read_small_text_file(const std::string& path);
// read_small_text_file, checked to be a JSON object.
std::string read_json_object_file(const std::string& path);

}  // namespace sd
