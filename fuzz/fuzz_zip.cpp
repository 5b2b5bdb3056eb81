// zip central directory reader (io/zip.h) used for PyTorch checkpoints. Every
// entry it hands out must lie inside the buffer: read all of it.
#include "fuzz_util.h"
#include "io/zip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An exact-size heap copy so a read one past the end is an ASan finding.
  std::vector<uint8_t> buf(data, data + size);
  sdfuzz::expect_typed([&] {
    sd::looks_like_zip(buf.data(), buf.size());
    for (const sd::ZipEntry& e : sd::read_zip_directory(buf.data(), buf.size(), "fuzz.zip")) {
      if (e.data_offset > buf.size() || e.size > buf.size() - e.data_offset) std::abort();
      sd::crc32(buf.data() + e.data_offset, e.size);
    }
  });
  return 0;
}
