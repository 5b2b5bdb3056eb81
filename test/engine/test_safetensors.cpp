// safetensors reader: valid files parse to the right views; every malformed
// header field is refused with ERR_MODEL_FORMAT.
#define SD_TEST_MAIN
#include <cstring>
#include <memory>
#include <string>

#include "core/error.h"
#include "harness.h"
#include "io/safetensors.h"

using namespace sd;

static std::string make_file(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  out += header;
  out += std::string(data_bytes, '\x01');
  return out;
}

static TensorFile parse(const std::string& bytes) {
  auto keep = std::make_shared<std::string>(bytes);
  return parse_safetensors(reinterpret_cast<const uint8_t*>(keep->data()), keep->size(), keep, "test.safetensors");
}

TEST(valid_file_parses) {
  auto f = parse(make_file(R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"__metadata__":{"k":"v"}})", 12));
  CHECK(f.tensors.size() == 1);
  CHECK(f.tensors[0].first == "a");
  CHECK(f.tensors[0].second.dtype() == DType::F16);
  CHECK(f.tensors[0].second.numel() == 6);
  CHECK(f.metadata.at("k") == "v");
}

TEST(malformed_headers_are_refused) {
  const char* cases[] = {
      R"([])",                                                                                                            // not an object
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]})",                                                      // truncated JSON
      R"({"a":{"shape":[2,3],"data_offsets":[0,12]}})",                                                                   // missing dtype
      R"({"a":{"dtype":"F17","shape":[2,3],"data_offsets":[0,12]}})",                                                     // unknown dtype
      R"({"a":{"dtype":"F16","shape":[2,4],"data_offsets":[0,12]}})",                                                     // shape vs span
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,14]}})",                                                     // end beyond data
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[12,0]}})",                                                     // begin > end
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":["0",12]}})",                                                   // not numbers
      R"({"a":{"dtype":"F16","shape":[-2,3],"data_offsets":[0,12]}})",                                                    // negative dim
      R"({"a":{"dtype":"F16","shape":[4294967296,4294967296,4],"data_offsets":[0,12]}})",                                 // overflow
      R"({"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"F16","shape":[3],"data_offsets":[4,10]}})",  // overlap
      R"({"a":1})",                   // entry not object
      R"({"__metadata__":{"k":1}})",  // metadata value not string
  };
  for (const char* h : cases) CHECK_THROWS_CODE(parse(make_file(h, 12)), ErrorCode::ModelFormat);
}

TEST(header_scanner_edge_cases) {
  // Escaped names are decoded; unknown fields are skipped; space padding is allowed.
  auto f = parse(make_file(R"({"a\u00e9\"b":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12],"extra":{"x":[1,{}]}}}   )", 12));
  CHECK(f.tensors.size() == 1 && f.tensors[0].first == "a\xc3\xa9\"b");
  const char* cases[] = {
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}})",  // duplicate
                                                                                                                               // name
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}} x)",                  // trailing garbage
      R"({"a":{"dtype":"F16","shape":[2.0,3],"data_offsets":[0,12]}})",                  // non-integer dim
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12,14]}})",                 // three offsets
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,99999999999999999999]}})",  // beyond int64
      R"({"a":{"dtype":"F16","dtype":"F32","shape":[2,3],"data_offsets":[0,12]}})",      // duplicate field
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12],"x":[}})",              // malformed unknown field
      R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]})",                     // unterminated
      R"({"a\q":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}})",                  // bad escape
      "",                                                                                // empty header
  };
  for (const char* h : cases) CHECK_THROWS_CODE(parse(make_file(h, 12)), ErrorCode::ModelFormat);
}

TEST(short_and_truncated_files_are_refused) {
  CHECK_THROWS_CODE(parse(""), ErrorCode::ModelFormat);
  CHECK_THROWS_CODE(parse("abc"), ErrorCode::ModelFormat);
  std::string f = make_file(R"({"a":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}})", 12);
  CHECK_THROWS_CODE(parse(f.substr(0, 20)), ErrorCode::ModelFormat);            // header length beyond file
  CHECK_THROWS_CODE(parse(f.substr(0, f.size() - 1)), ErrorCode::ModelFormat);  // data truncated
}

TEST(fixture_checkpoint_reads) {
  auto f = read_safetensors(sdtest::fixture("tiny-sd1/tiny-sd1.safetensors"));
  CHECK(f.tensors.size() == 996);
  CHECK_THROWS_CODE(read_safetensors(sdtest::fixture("does-not-exist.safetensors")), ErrorCode::ModelNotFound);
}
