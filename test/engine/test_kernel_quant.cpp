// Integer GEMM for block-quantized weights: the path under test (ctest runs
// this under every SD_NATIVE_CPU path) is bit-identical to the scalar
// reference on odd shapes, on extreme codes (where an i16 sum would
// saturate if the depth bounds were wrong) and on every format it takes; its
// result is within the activation-quantization error of x @ dequant(w)^T in
// double; linear and conv2d route quantized weights (integer GEMM where
// preferred, else dequantized) and stay within the same bound of the f32
// ops; results do not depend on threads.
#define SD_TEST_MAIN
#include <cmath>
#include <cstring>
#include <vector>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/exact_fma.h"
#include "kernels/gemm.h"
#include "kernels/ops.h"
#include "kernels/quant_gemm.h"
#include "kernels/quant_ops.h"
#include "kernels/quant_table.h"
#include "quant/blocks.h"
#include "tensor/arena.h"
#include "tensor/cpu_features.h"
#include "tensor/thread_pool.h"

using namespace sd;
using ktest::rand_tensor;

static int skip_ = ktest::skip_if_path_unsupported();

namespace {

const DType kIntFormats[] = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K};

Tensor quantized(const Tensor& f, DType t) {
  Tensor q = Tensor::empty(t, f.shape());
  const int64_t rows = f.size(0), cols = f.numel() / rows;
  for (int64_t r = 0; r < rows; ++r)
    quant::quantize_row(t, f.data_as<float>() + r * cols, cols, static_cast<uint8_t*>(q.data()) + r * dtype_bytes_for(t, cols));
  return q;
}

Tensor dequantized(const Tensor& q) {
  Tensor f = Tensor::empty(DType::F32, q.shape());
  quant::dequantize_row(q.dtype(), q.data(), q.numel(), f.data_as<float>());
  return f;
}

// y [M, N] = x [M, K] @ w^T in double with the dequantized weights.
std::vector<float> reference(const Tensor& x, const Tensor& wf, const Tensor* bias) {
  const int64_t K = x.size(-1), M = x.numel() / K, N = wf.size(0);
  std::vector<float> y(size_t(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = bias ? bias->data_as<float>()[n] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += double(x.data_as<float>()[m * K + k]) * wf.data_as<float>()[n * K + k];
      y[size_t(m * N + n)] = float(s);
    }
  return y;
}

// The integer GEMM itself (ops may route around it): y [M, N] = x @ w^T + bias.
Tensor int_linear(const Tensor& x, const Tensor& w, const Tensor* bias, ThreadPool* pool = nullptr) {
  const int64_t K = x.size(-1), M = x.numel() / K, N = w.size(0);
  Tensor y = Tensor::empty(DType::F32, {M, N});
  Compute c{pool, nullptr};
  kern::quant_gemm(c, M, N, K, x.data_as<float>(), K, 1, w.data(), w.dtype(), y.data_as<float>(), N, 1,
                   bias ? bias->data_as<float>() : nullptr);
  return y;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data(), b.data(), size_t(a.nbytes())) == 0;
}

// The integer GEMM under the scalar path and under the path being tested.
void check_matches_scalar(const Tensor& x, const Tensor& w, const Tensor* bias, const char* what) {
  const CpuPath path = cpu_path();
  set_cpu_path(CpuPath::Scalar);
  Tensor ref = int_linear(x, w, bias);
  set_cpu_path(path);
  Tensor got = int_linear(x, w, bias);
  CHECK_MSG(same_bits(got, ref), "%s %s M=%lld N=%lld K=%lld: %s differs from scalar (rel %g)", dtype_name(w.dtype()), what,
            (long long)x.size(0), (long long)w.size(0), (long long)x.size(1), cpu_path_name(path),
            sdtest::rel_l2(got.data_as<float>(), ref.data_as<float>(), size_t(ref.numel())));
}

}  // namespace

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("fma"))) float hardware_fma(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}
bool have_hardware_fma() { return cpu_features().fma; }
#elif defined(__aarch64__)
float hardware_fma(float a, float b, float c) { return std::fma(a, b, c); }  // one fmadd instruction on AArch64
bool have_hardware_fma() { return true; }
#else
float hardware_fma(float, float, float) { return 0.f; }
bool have_hardware_fma() { return false; }
#endif

// The scalar table's products (exact_fma) are the hardware FMA's, bit for bit.
TEST(exact_fma_is_correctly_rounded) {
  // Exact value 1 + 3 * 2^-24 - 2^-70, just below a float midpoint: the
  // double sum rounds onto the midpoint, which rounding to even would take
  // up to 1 + 2^-22; the correct result is 1 + 2^-23.
  const float one_ulp = 1.f + std::ldexp(1.f, -23);
  const float a = one_ulp, b = std::ldexp(1.f - std::ldexp(1.f, -23), -24);
  CHECK(kern::exact_fma(a, b, one_ulp) == one_ulp);
  CHECK(kern::exact_fma(-a, b, -one_ulp) == -one_ulp);
  CHECK(kern::exact_fma(2.f, 3.f, 1.f) == 7.f && kern::exact_fma(1e30f, 1e30f, 0.f) == INFINITY);
  if (!have_hardware_fma()) return;
  uint32_t state = 12345;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  int differ = 0;
  for (int i = 0; i < 200000; ++i) {
    // Random signs, mantissas and exponents within +-40 (cancellation and wide exponent gaps included).
    auto r = [&] { return std::ldexp(float(next() >> 8) / 16777216.f + 0.5f, int(next() % 81) - 40) * (next() & 1 ? -1.f : 1.f); };
    const float x = r(), y = r(), z = i % 4 == 0 ? -x * y * (1.f + float(int(next() % 9) - 4) * 1e-7f) : r();
    differ += kern::exact_fma(x, y, z) != hardware_fma(x, y, z);
  }
  CHECK_MSG(differ == 0, "%d of 200000 differ from the hardware fma", differ);
}

TEST(integer_gemm_matches_scalar_reference_bit_for_bit) {
  struct Case {
    int64_t M, N, K;
  };
  // M tails of the 4-row kernels and the 64-row tile, N tails of the 8-column
  // panel and the 64-column tile; one to 24 blocks (k-quants: 1 and 3 super-blocks).
  const Case cases[] = {{1, 1, 32}, {3, 5, 96}, {5, 9, 256}, {7, 17, 320}, {67, 19, 288}, {130, 73, 768}};
  for (DType t : kIntFormats)
    for (const Case& cs : cases) {
      if (cs.K % dtype_block_size(t)) continue;
      Tensor x = rand_tensor({cs.M, cs.K}, 11), w = quantized(rand_tensor({cs.N, cs.K}, 12, 0.1f), t);
      Tensor bias = rand_tensor({cs.N}, 13);
      check_matches_scalar(x, w, &bias, "random");
    }
}

TEST(panel_kernels_do_not_saturate_on_extreme_codes) {
  // Every activation block at +-amax (codes +-qmax, u = 1 or 2*qmax+1) and
  // every weight code at its extreme (q8_0 -128 / 127, 4- and 5-bit codes
  // 0 / max), signs chosen so the 16-bit partial sums reach their bound.
  const int64_t M = 6, N = 11;
  for (DType t : kIntFormats) {
    const bool kquant = t == DType::Q4_K || t == DType::Q5_K;
    const int64_t K = kquant ? 512 : 96;
    Tensor x = Tensor::empty(DType::F32, {M, K});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = (i / 64) % 2 ? -3.f : 3.f;
    Tensor w = Tensor::empty(t, {N, K});
    const int64_t bytes = dtype_block_bytes(t), blocks = N * K / dtype_block_size(t);
    uint8_t* p = static_cast<uint8_t*>(w.data());
    for (int64_t b = 0; b < blocks; ++b) {
      uint8_t* blk = p + b * bytes;
      const bool low = b % 3 == 0;
      if (t == DType::Q8_0)
        std::memset(blk + 2, low ? 0x80 : 0x7F, 32);  // -128 or 127
      else
        std::memset(blk, low ? 0x00 : 0xFF, size_t(bytes));  // nibbles (and high bits) 0 or all ones
      blk[0] = 0x00;                                         // scale 1.0 (f16 0x3C00)
      blk[1] = 0x3C;
      if (t == DType::Q4_1 || t == DType::Q5_1 || kquant) blk[2] = blk[3] = 0x00;  // offset (k-quants: dmin) 0
      if (kquant) std::memset(blk + 4, 0x41, 12);  // sub-block scales 1 and 17 (never 0, which would hide a wrong sum)
    }
    check_matches_scalar(x, w, nullptr, "extreme");
  }
}

TEST(integer_gemm_is_within_activation_quantization_error) {
  // Activations are rounded to amax/127 per 32 values: ~0.3-0.5 % relative.
  for (DType t : kIntFormats) {
    const int64_t M = 37, N = 23, K = 512;
    Tensor x = rand_tensor({M, K}, 21), w = quantized(rand_tensor({N, K}, 22, 0.05f), t);
    Tensor bias = rand_tensor({N}, 23, 0.01f);
    Tensor y = int_linear(x, w, &bias);
    Tensor wf = dequantized(w);
    std::vector<float> ref = reference(x, wf, &bias);
    const double err = sdtest::rel_l2(y.data_as<float>(), ref.data(), ref.size());
    CHECK_MSG(err <= 0.01, "%s: rel %g", dtype_name(t), err);
    CHECK_MSG(err > 1e-5, "%s: rel %g, activations are not quantized?", dtype_name(t), err);
  }
}

TEST(ops_route_preferred_shapes_to_the_integer_gemm) {
  // Any K of whole blocks (the k-quants' are 256 values); q8_0 only with
  // exact 8-bit products: AVX-512 VNNI, AVX-VNNI or NEON.
  const bool x86_simd = cpu_path() == CpuPath::Avx2 || cpu_path() == CpuPath::Avx512;
  const bool exact = (kern::quant_avx512_table() && cpu_path() == CpuPath::Avx512) || (kern::quant_avxvnni_table() && x86_simd) ||
                     cpu_path() == CpuPath::Neon;
  CHECK(kern::quant_gemm_preferred(DType::Q8_0, 320) == exact && kern::quant_gemm_preferred(DType::Q4_0, 320));
  CHECK(kern::quant_gemm_preferred(DType::Q4_1, 320) && kern::quant_gemm_preferred(DType::Q5_1, 96));
  CHECK(kern::quant_gemm_preferred(DType::Q4_K, 512) && !kern::quant_gemm_preferred(DType::Q4_K, 768 + 32));
  CHECK(kern::quant_gemm_preferred(DType::Q5_K, 256) && !kern::quant_gemm_preferred(DType::Q6_K, 256));
  for (DType t : {DType::Q4_0, DType::Q5_0, DType::Q4_1, DType::Q4_K}) {
    Tensor x = rand_tensor({9, 512}, 61), w = quantized(rand_tensor({13, 512}, 62, 0.1f), t);
    Compute c;
    CHECK_MSG(same_bits(ops::linear(c, x, w, nullptr), int_linear(x, w, nullptr)), "%s", dtype_name(t));
  }
}

TEST(dequantize_weight_matches_the_block_decoder_bit_for_bit) {
  // q8_0, the 4- and 5-bit formats (and on AVX2 q6_K) take the path's vector decoder.
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::Q5_K, DType::Q6_K}) {
    for (int64_t cols : {32, 288, 1280}) {
      if (cols % dtype_block_size(t)) continue;
      Tensor w = quantized(rand_tensor({7, cols}, 71, 0.3f), t);
      Compute c;
      Tensor got = kern::dequantize_weight(c, w);
      CHECK_MSG(same_bits(got, dequantized(w)), "%s cols=%lld on %s", dtype_name(t), (long long)cols, cpu_path_name(cpu_path()));
    }
  }
}

// Where the integer GEMM is not taken (q8_0 without exact 8-bit products,
// q2_K/q3_K/q6_K, k-quants on K not a multiple of 256, stride-2 convs), the
// f32 GEMM decodes the blocks inside its packing: bit for bit the GEMM on
// the dequantized weight, including depth blocks that start inside a
// quantization block (K = 2560 runs in 7 blocks of 366), with 1 and 2
// threads; as the B operand (linear) and the A operand (conv2d).
TEST(f32_gemm_decodes_quantized_operands_inside_its_packing) {
  ThreadPool two(2);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q6_K}) {
    for (int64_t K : {256, 2560}) {
      const int64_t M = 13, N = 37;
      Tensor x = rand_tensor({M, K}, 81), w = quantized(rand_tensor({N, K}, 82, 0.2f), t), wf = dequantized(w);
      for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two}) {
        std::vector<float> got(size_t(M * N)), ref(size_t(M * N));
        kern::gemm(pool, M, N, K, {x.data(), DType::F32, K, 1}, {w.data(), t, 1, K}, got.data(), N);
        kern::gemm(pool, M, N, K, {x.data(), DType::F32, K, 1}, {wf.data(), DType::F32, 1, K}, ref.data(), N);
        CHECK_MSG(std::memcmp(got.data(), ref.data(), got.size() * 4) == 0, "%s K=%lld as B", dtype_name(t), (long long)K);
        kern::gemm(pool, N, M, K, {w.data(), t, K, 1}, {x.data(), DType::F32, 1, K}, got.data(), M);
        kern::gemm(pool, N, M, K, {wf.data(), DType::F32, K, 1}, {x.data(), DType::F32, 1, K}, ref.data(), M);
        CHECK_MSG(std::memcmp(got.data(), ref.data(), got.size() * 4) == 0, "%s K=%lld as A", dtype_name(t), (long long)K);
      }
    }
  }
  // Through the ops: a q8_0 linear that does not take the integer GEMM, and a stride-2 conv.
  Tensor x = rand_tensor({6, 320}, 83), w = quantized(rand_tensor({40, 320}, 84, 0.2f), DType::Q8_0);
  Compute c;
  if (!kern::quant_gemm_preferred(DType::Q8_0, 320))
    CHECK(same_bits(ops::linear(c, x, w, nullptr), ops::linear(c, x, dequantized(w), nullptr)));
  // q6_K (16-value sub-blocks) never takes the integer GEMM, so its stride-2 conv is the f32 im2col GEMM.
  Tensor xi = rand_tensor({1, 256, 9, 11}, 85), wc = quantized(rand_tensor({16, 256, 3, 3}, 86, 0.1f), DType::Q6_K);
  CHECK(same_bits(ops::conv2d(c, xi, wc, nullptr, 2, 1), ops::conv2d(c, xi, dequantized(wc), nullptr, 2, 1)));
  // Rows that are not whole blocks never reach the packer.
  const kern::MatView a{x.data(), DType::F32, 48, 1}, partial{w.data(), DType::Q8_0, 1, 48};
  CHECK_THROWS_CODE(kern::gemm(nullptr, 2, 2, 48, a, partial, nullptr, 2), ErrorCode::Internal);
}

TEST(linear_with_16_value_subblock_formats_dequantizes) {
  for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q6_K}) {
    Tensor x = rand_tensor({5, 256}, 31), w = quantized(rand_tensor({9, 256}, 32), t);
    Compute c;
    Tensor y = ops::linear(c, x, w, nullptr);
    std::vector<float> ref = reference(x, dequantized(w), nullptr);
    CHECK_MSG(sdtest::rel_l2(y.data_as<float>(), ref.data(), ref.size()) <= 1e-5, "%s", dtype_name(t));
  }
}

TEST(conv2d_with_quantized_weights_matches_f32_conv_of_dequantized_weights) {
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q6_K}) {
    for (int k : {1, 3}) {
      Tensor x = rand_tensor({2, 256, 9, 7}, 41);
      Tensor wf32 = rand_tensor({24, 256, k, k}, 42, 0.1f);
      Tensor w = quantized(wf32, t);
      Tensor b = rand_tensor({24}, 43);
      Compute c;
      Tensor y = ops::conv2d(c, x, w, &b, 1, k / 2);
      Tensor ref = ops::conv2d(c, x, dequantized(w), &b, 1, k / 2);
      const double err = sdtest::rel_l2(y.data_as<float>(), ref.data_as<float>(), size_t(ref.numel()));
      // 1x1 may run the integer GEMM (activation rounding); 3x3 decodes the same values; q6_K 1x1 dequantizes.
      const double bound = (k == 1 && t != DType::Q6_K) ? 0.01 : 1e-5;
      CHECK_MSG(err <= bound, "%s k=%d: rel %g > %g", dtype_name(t), k, err, bound);
    }
  }
}

TEST(winograd_on_quantized_blocks_is_bit_identical_to_the_dequantized_weights) {
  // 3x3 stride-1 convs decode each weight-transform block themselves; the
  // values and the sums are those of the f32 copy. Shapes: F(4x4) and
  // F(2x2) maps; depth blocks whose first value is not on a block boundary
  // (Cin 416: F4 blocks of 208 channels = 1872 values; Cin 160: F2 blocks
  // of 80 = 720; q6_K Cin 256: F2 blocks of 128 = 1152, not a 256 multiple);
  // Cout past one 32-channel task and not a panel multiple. Maps of at most
  // 32 output pixels per batch may take the integer GEMM over im2col
  // instead (q8_0 too, where it has exact 8-bit products), so only q6_K,
  // which never does, runs one here.
  struct Case {
    DType t;
    int64_t B, Cin, H, W, Cout;
  };
  const Case cases[] = {{DType::Q4_0, 2, 416, 13, 11, 37}, {DType::Q8_0, 1, 160, 6, 6, 45}, {DType::Q5_0, 2, 416, 8, 8, 33},
                        {DType::Q4_1, 2, 64, 17, 9, 8},    {DType::Q6_K, 2, 256, 4, 4, 35}, {DType::Q6_K, 2, 256, 12, 12, 9},
                        {DType::Q5_1, 3, 160, 3, 7, 40}};
  for (const Case& cs : cases) {
    Tensor x = rand_tensor({cs.B, cs.Cin, cs.H, cs.W}, 81);
    Tensor w = quantized(rand_tensor({cs.Cout, cs.Cin, 3, 3}, 82, 0.1f), cs.t);
    Tensor b = rand_tensor({cs.Cout}, 83);
    ThreadPool two(2);
    Compute c{&two, nullptr};
    Tensor y = ops::conv2d(c, x, w, &b, 1, 1);
    Tensor ref = ops::conv2d(c, x, dequantized(w), &b, 1, 1);
    CHECK_MSG(same_bits(y, ref), "%s B=%lld Cin=%lld %lldx%lld Cout=%lld: rel %g", dtype_name(cs.t), (long long)cs.B, (long long)cs.Cin,
              (long long)cs.H, (long long)cs.W, (long long)cs.Cout,
              sdtest::rel_l2(y.data_as<float>(), ref.data_as<float>(), size_t(ref.numel())));
  }
}

TEST(quantized_3x3_conv_makes_no_f32_copy_of_its_weight) {
  // 1280 -> 1280 3x3 in q4_0: an f32 copy would be 59 MB of arena; the
  // Winograd buffers for a 2 x 8x8 map are ~1 MB.
  Tensor x = rand_tensor({2, 1280, 8, 8}, 91);
  Tensor w = quantized(rand_tensor({1280, 1280, 3, 3}, 92, 0.05f), DType::Q4_0);
  Arena arena;
  Compute c{nullptr, &arena};
  Tensor y = ops::conv2d(c, x, w, nullptr, 1, 1);
  const int64_t f32_bytes = w.numel() * 4, peak = arena.stats().peak_in_use;
  CHECK_MSG(peak < f32_bytes / 8, "arena peak %lld bytes vs an f32 weight copy of %lld", (long long)peak, (long long)f32_bytes);
}

// Stride-2 3x3 convs, and stride-1 ones on maps of at most 32 output pixels
// per batch, run one integer GEMM over the batch's im2col matrix: within
// the activation rounding of the dequantized conv (and not equal to it, so
// the route is taken), each image as if alone, any thread count.
TEST(small_and_strided_3x3_convs_take_the_integer_gemm_over_im2col) {
  struct Case {
    DType t;
    int64_t B, H, W;
    int stride;
  };
  const Case cases[] = {{DType::Q4_0, 2, 9, 11, 2},
                        {DType::Q4_K, 2, 8, 8, 2},
                        {DType::Q4_0, 2, 4, 4, 1},
                        {DType::Q5_1, 1, 3, 5, 1},
                        {DType::Q4_K, 3, 3, 3, 1}};
  ThreadPool two(2);
  for (const Case& cs : cases) {
    Tensor x = rand_tensor({cs.B, 256, cs.H, cs.W}, 101), w = quantized(rand_tensor({21, 256, 3, 3}, 102, 0.1f), cs.t);
    Tensor b = rand_tensor({21}, 103);
    Compute c1, c2{&two, nullptr};
    Tensor y = ops::conv2d(c1, x, w, &b, cs.stride, 1);
    Tensor ref = ops::conv2d(c1, x, dequantized(w), &b, cs.stride, 1);
    const double err = sdtest::rel_l2(y.data_as<float>(), ref.data_as<float>(), size_t(ref.numel()));
    CHECK_MSG(err <= 0.01 && err > 1e-5, "%s B=%lld %lldx%lld stride %d: rel %g", dtype_name(cs.t), (long long)cs.B, (long long)cs.H,
              (long long)cs.W, cs.stride, err);
    CHECK_MSG(same_bits(y, ops::conv2d(c2, x, w, &b, cs.stride, 1)), "%s: 1 vs 2 threads", dtype_name(cs.t));
    const int64_t per_image = y.numel() / cs.B;
    for (int64_t n = 0; n < cs.B; ++n) {
      Tensor xn = Tensor::empty(DType::F32, {1, 256, cs.H, cs.W});
      std::memcpy(xn.data(), x.data_as<float>() + n * xn.numel(), size_t(xn.numel() * 4));
      Tensor yn = ops::conv2d(c1, xn, w, &b, cs.stride, 1);
      CHECK_MSG(std::memcmp(yn.data(), y.data_as<float>() + n * per_image, size_t(per_image * 4)) == 0, "%s image %lld", dtype_name(cs.t),
                (long long)n);
    }
  }
}

TEST(batched_1x1_conv_equals_the_per_image_convs) {
  // The weight is unpacked once for all images; each image's rows are
  // computed as alone.
  for (DType t : {DType::Q4_0, DType::Q4_1}) {
    Tensor x = rand_tensor({3, 256, 5, 7}, 95), w = quantized(rand_tensor({19, 256, 1, 1}, 96, 0.1f), t), b = rand_tensor({19}, 97);
    Compute c;
    Tensor y = ops::conv2d(c, x, w, &b, 1, 0);
    for (int64_t n = 0; n < 3; ++n) {
      Tensor xn = Tensor::empty(DType::F32, {1, 256, 5, 7});
      std::memcpy(xn.data(), x.data_as<float>() + n * 256 * 35, size_t(256 * 35 * 4));
      Tensor yn = ops::conv2d(c, xn, w, &b, 1, 0);
      CHECK_MSG(std::memcmp(yn.data(), y.data_as<float>() + n * 19 * 35, size_t(19 * 35 * 4)) == 0, "%s image %lld", dtype_name(t),
                (long long)n);
    }
  }
}

TEST(quantized_ops_that_fall_back_are_timed_once) {
  // q6_K has no integer path: linear and 1x1 conv dequantize and run the float op body.
  OpTimers timers;
  Compute c{nullptr, nullptr, &timers};
  Tensor w = quantized(rand_tensor({9, 256}, 98), DType::Q6_K), wc = quantized(rand_tensor({9, 256, 1, 1}, 98), DType::Q6_K);
  ops::linear(c, rand_tensor({5, 256}, 99), w, nullptr);
  ops::conv2d(c, rand_tensor({1, 256, 3, 3}, 99), wc, nullptr, 1, 0);
  ops::conv2d(c, rand_tensor({1, 256, 3, 3}, 99), quantized(rand_tensor({4, 256, 3, 3}, 98), DType::Q6_K), nullptr, 1, 1);
  CHECK_MSG(timers.calls[OpTimers::Linear] == 1, "linear counted %lld times", (long long)timers.calls[OpTimers::Linear]);
  CHECK_MSG(timers.calls[OpTimers::Conv2d] == 2, "2 convs counted %lld times", (long long)timers.calls[OpTimers::Conv2d]);
}

TEST(integer_gemm_is_independent_of_thread_count) {
  ThreadPool one(1), two(2), three(3);
  for (DType t : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    Tensor x = rand_tensor({300, 640}, 51), w = quantized(rand_tensor({70, 640}, 52, 0.1f), t);
    Tensor ref = int_linear(x, w, nullptr, &one);
    CHECK_MSG(same_bits(int_linear(x, w, nullptr, &two), ref), "%s 2 threads", dtype_name(t));
    CHECK_MSG(same_bits(int_linear(x, w, nullptr, &three), ref), "%s 3 threads", dtype_name(t));
  }
}
