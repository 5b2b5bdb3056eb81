// PyTorch zip checkpoint reader (io/ckpt.h: zip + restricted unpickler +
// tensor views) and then the load_model path. read_ckpt() takes a path, so
// each input is written to one temp file (tmpfs where available) first.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "fuzz_model_weights.h"
#include "io/ckpt.h"

namespace {

std::string temp_path() {
  const char* dir = std::getenv("SD_FUZZ_TMPDIR");
  std::string base = dir ? dir : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  return base + "/sd-fuzz-ckpt-" + std::to_string(getpid()) + ".ckpt";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = temp_path();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  sdfuzz::expect_typed([&] { sdfuzz::load_like_load_model(sd::read_ckpt(path)); });
  std::remove(path.c_str());
  return 0;
}
