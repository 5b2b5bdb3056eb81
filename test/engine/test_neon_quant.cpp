// arm64 only (test/engine/CMakeLists.txt builds test_neon* where SD_IS_ARM64):
// the NEON integer GEMM tables. The dot-product extension is detected (qemu's
// default CPU has it, so under emulation the SDOT kernels are the ones that
// run) and picked on the neon path; every entry of both NEON tables (SDOT and
// the baseline widening-multiply one) is bit-identical to the scalar
// reference on random and extreme operands, one entry at a time, and the
// panel packer decodes the published block layouts (legacy and k-quant). The GEMM
// driver on the neon path is covered by test_kernel_quant_neon.
#define SD_TEST_MAIN
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "kernel_test_util.h"
#include "kernels/quant_table.h"
#include "quant/block_codecs.h"
#include "tensor/cpu_features.h"

using sd::DType;
namespace kern = sd::kern;

namespace {

int rand_int(ktest::Rng& r, int lo, int hi) {
  r.uniform();
  return lo + int((r.s >> 33) % uint64_t(hi - lo + 1));
}

bool same_bits(const void* a, const void* b, size_t bytes) { return std::memcmp(a, b, bytes) == 0; }

// The NEON tables this CPU can run.
std::vector<const kern::QuantTable*> neon_tables() {
  std::vector<const kern::QuantTable*> v{kern::quant_neon_table()};
  if (const kern::QuantTable* t = kern::quant_neon_dotprod_table()) v.push_back(t);
  return v;
}

// One panel of nb blocks: codes [nb * 256], scales and offsets [nb * 8],
// corr = 128 * sum(codes) per column and block (the pack_panel contract).
struct Panel {
  std::vector<int8_t> q;
  std::vector<float> d, off;
  std::vector<int32_t> corr;
  Panel(int64_t nb, ktest::Rng& r, int lo, int hi) : q(size_t(nb * 256)), d(size_t(nb * 8)), off(size_t(nb * 8)), corr(size_t(nb * 8)) {
    for (auto& c : q) c = static_cast<int8_t>(rand_int(r, lo, hi));
    for (size_t i = 0; i < d.size(); ++i) {
      d[i] = std::fabs(r.uniform()) * 0.01f;
      off[i] = r.uniform() * 0.1f;
    }
    for (int64_t b = 0; b < nb; ++b)
      for (int c = 0; c < 8; ++c) {
        int sum = 0;
        for (int t = 0; t < 8; ++t)
          for (int k = 0; k < 4; ++k) sum += q[size_t(b * 256 + t * 32 + c * 4 + k)];
        corr[size_t(b * 8 + c)] = 128 * sum;
      }
  }
  kern::QPanel view(bool offsets) const { return {q.data(), d.data(), corr.data(), offsets ? off.data() : nullptr}; }
};

}  // namespace

TEST(dotprod_is_detected_and_the_neon_path_picks_its_table) {
#ifdef SD_TEST_EMULATED
  // qemu-aarch64's default CPU ("max") implements FEAT_DotProd: the SDOT kernels must be the ones exercised.
  CHECK_MSG(sd::cpu_features().neon_dotprod, "qemu's CPU has dotprod but cpu_features() does not report it");
#endif
  CHECK(kern::quant_neon_table() != nullptr);
  CHECK((kern::quant_neon_dotprod_table() != nullptr) == sd::cpu_features().neon_dotprod);
  const char* neon_name = sd::cpu_features().neon_dotprod ? "neon-dotprod" : "neon";
  const char* env = std::getenv("SD_NATIVE_CPU");
  const bool scalar = env && std::strcmp(env, "scalar") == 0;
  CHECK(std::strcmp(kern::quant_table().name, scalar ? "scalar" : neon_name) == 0);
  CHECK(sd::set_cpu_path(sd::CpuPath::Scalar));
  CHECK(std::strcmp(kern::quant_table().name, "scalar") == 0);
  CHECK(sd::set_cpu_path(sd::CpuPath::Neon));
  CHECK(std::strcmp(kern::quant_table().name, neon_name) == 0);
}

TEST(panel_4x8_matches_scalar_bit_for_bit) {
  // Random activations over the whole u range and q8_0-range codes; then the
  // extremes (u = 1 or 255 against codes -128 / 127) where a 16-bit pair sum
  // would overflow if the bound were wrong; with and without offsets.
  const kern::QuantTable& ref = kern::quant_scalar_table();
  struct Case {
    int64_t nb;
    int ulo, uhi, clo, chi;
  };
  const Case cases[] = {{1, 1, 255, -128, 127},    {3, 1, 255, -128, 127},  {9, 1, 255, -8, 7},  {2, 1, 1, -128, -128},
                        {2, 255, 255, -128, -128}, {2, 255, 255, 127, 127}, {5, 1, 255, -16, 15}};
  for (const kern::QuantTable* t : neon_tables())
    for (const Case& cs : cases)
      for (bool offsets : {false, true}) {
        ktest::Rng r(uint64_t(cs.nb * 31 + cs.ulo + cs.chi));
        const Panel p(cs.nb, r, cs.clo, cs.chi);
        std::vector<uint8_t> u(size_t(4 * cs.nb * 32));
        for (auto& v : u) v = static_cast<uint8_t>(rand_int(r, cs.ulo, cs.uhi));
        std::vector<float> xd(size_t(4 * 2 * cs.nb));  // per row: nb scales, nb block sums
        for (auto& v : xd) v = r.uniform();
        const uint8_t* xu[4];
        const float* xdr[4];
        for (int i = 0; i < 4; ++i) xu[i] = u.data() + i * cs.nb * 32, xdr[i] = xd.data() + i * 2 * cs.nb;
        float got[32], want[32];
        ref.panel_4x8(cs.nb, 0, xu, xdr, p.view(offsets), want);
        t->panel_4x8(cs.nb, 0, xu, xdr, p.view(offsets), got);
        CHECK_MSG(same_bits(got, want, sizeof got), "%s nb=%lld u [%d, %d] codes [%d, %d] offsets %d: got %g want %g", t->name,
                  (long long)cs.nb, cs.ulo, cs.uhi, cs.clo, cs.chi, int(offsets), double(got[0]), double(want[0]));
      }
}

TEST(quantize_act_matches_scalar_bit_for_bit) {
  // Random blocks, an all-zero block (d = 0, every u = qmax + 1) and a block
  // of exact halves of its step (round-half-to-even ties), for two qmax.
  const int64_t nb = 6;
  std::vector<float> x(size_t(nb * 32));
  ktest::Rng r(7);
  for (auto& v : x) v = r.uniform() * 3.f;
  for (int e = 0; e < 32; ++e) x[size_t(32 + e)] = 0.f;
  for (int e = 0; e < 32; ++e) x[size_t(64 + e)] = e == 0 ? 127.f : float(e % 9) - 3.5f;  // d = 1: x.5 ties
  const kern::QuantTable& ref = kern::quant_scalar_table();
  for (const kern::QuantTable* t : neon_tables())
    for (int qmax : {127, 63}) {
      std::vector<uint8_t> ug(x.size()), uw(x.size());
      float dg[nb], dw[nb];
      ref.quantize_act(x.data(), nb, qmax, uw.data(), dw);
      t->quantize_act(x.data(), nb, qmax, ug.data(), dg);
      CHECK_MSG(same_bits(ug.data(), uw.data(), ug.size()) && same_bits(dg, dw, sizeof dg), "%s qmax=%d", t->name, qmax);
    }
}

TEST(dequantize_matches_scalar_bit_for_bit) {
  const int64_t nb = 5;
  for (DType type : {DType::Q8_0, DType::Q4_0}) {
    const int64_t bytes = type == DType::Q8_0 ? 34 : 18;
    std::vector<uint8_t> src(size_t(nb * bytes));
    ktest::Rng r{uint64_t(bytes)};
    for (auto& v : src) v = static_cast<uint8_t>(rand_int(r, 0, 255));
    for (int64_t b = 0; b < nb; ++b) {  // finite f16 scales of both signs
      const uint16_t h = sd::f32_to_f16(r.uniform() * 0.05f);
      src[size_t(b * bytes)] = uint8_t(h & 0xFF);
      src[size_t(b * bytes + 1)] = uint8_t(h >> 8);
    }
    std::vector<float> got(size_t(nb * 32)), want(got.size());
    kern::quant_scalar_table().dequantize(type, src.data(), nb * 32, want.data());
    for (const kern::QuantTable* t : neon_tables()) {
      t->dequantize(type, src.data(), nb * 32, got.data());
      CHECK_MSG(same_bits(got.data(), want.data(), got.size() * 4), "%s %s", t->name, sd::dtype_name(type));
    }
  }
}

TEST(pack_panel_decodes_the_published_block_layouts) {
  // Blocks written here from known codes (ggml layouts: f16 d, f16 m for the
  // _1 formats, 32 fifth bits for q5, then 16 bytes of low / high nibbles for
  // values i / i + 16); 7 columns and one past N. The panel must hold codes
  // minus the bias in the interleaved order, d, corr = 128 * sum(codes) and
  // off = m + bias * d.
  const int64_t nb = 3;
  for (DType type : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1}) {
    const bool five = type == DType::Q5_0 || type == DType::Q5_1, one = type == DType::Q4_1 || type == DType::Q5_1;
    const int bias = five ? 16 : 8;
    const int64_t bytes = sd::dtype_block_bytes(type);
    ktest::Rng r{uint64_t(bytes)};
    std::vector<int> codes(size_t(7 * nb * 32));
    std::vector<uint16_t> dh(size_t(7 * nb)), mh(dh.size());
    std::vector<uint8_t> rows(size_t(7 * nb * bytes));
    for (int64_t cb = 0; cb < 7 * nb; ++cb) {  // column cb / nb, block cb % nb
      uint8_t* p = rows.data() + cb * bytes;
      dh[size_t(cb)] = sd::f32_to_f16(r.uniform() * 0.05f);
      mh[size_t(cb)] = sd::f32_to_f16(r.uniform() * 0.1f);
      std::memcpy(p, &dh[size_t(cb)], 2);
      if (one) std::memcpy(p + 2, &mh[size_t(cb)], 2);
      uint32_t qh = 0;
      int* n = codes.data() + cb * 32;
      for (int i = 0; i < 32; ++i) {
        n[i] = rand_int(r, 0, five ? 31 : 15);
        qh |= uint32_t(n[i] >> 4) << i;
      }
      if (five) std::memcpy(p + bytes - 20, &qh, 4);
      for (int i = 0; i < 16; ++i) p[bytes - 16 + i] = uint8_t((n[i] & 0xF) | ((n[i + 16] & 0xF) << 4));
    }
    const uint8_t* cols[8];
    for (int c = 0; c < 8; ++c) cols[c] = c < 7 ? rows.data() + c * nb * bytes : nullptr;
    std::vector<int8_t> q(size_t(nb * 256), 99);
    std::vector<float> d(size_t(nb * 8), -1.f), off(d.size(), -1.f);
    std::vector<int32_t> corr(d.size(), -1);
    kern::quant_neon_table()->pack_panel(type, cols, nb, q.data(), d.data(), corr.data(), one ? off.data() : nullptr);
    int bad = 0;
    for (int c = 0; c < 8; ++c)
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t cb = c * nb + b;
        int sum = 0;
        for (int e = 0; e < 32; ++e) {
          const int want = c < 7 ? codes[size_t(cb * 32 + e)] - bias : 0;
          sum += want;
          bad += q[size_t(b * 256 + (e / 4) * 32 + c * 4 + e % 4)] != want;
        }
        const float dd = c < 7 ? sd::f16_to_f32(dh[size_t(cb)]) : 0.f;
        const float oo = c < 7 ? sd::f16_to_f32(mh[size_t(cb)]) + float(bias) * dd : 0.f;
        bad += d[size_t(b * 8 + c)] != dd || corr[size_t(b * 8 + c)] != 128 * sum;
        if (one) bad += !same_bits(&off[size_t(b * 8 + c)], &oo, 4);
      }
    CHECK_MSG(bad == 0, "%s: %d mismatches", sd::dtype_name(type), bad);
  }
}

TEST(pack_panel_decodes_the_kquant_layouts) {
  // q4_K / q5_K super-blocks written here from known codes (ggml layouts: f16
  // d, f16 dmin, 12 bytes of 6-bit sub-block scales and mins, for q5_K 32
  // bytes whose bit j is the fifth bit of value l of sub-block j, then 128
  // bytes: sub-blocks 2i / 2i + 1 in the low / high nibbles of bytes
  // 32i..32i + 31); 7 columns of 2 super-blocks and one past N. Each 32-value
  // sub-block is a panel block: codes minus the bias, d = d_super * sc,
  // o = bias * d - dmin * mn.
  const int64_t supers = 2, nb = supers * 8;
  for (DType type : {DType::Q4_K, DType::Q5_K}) {
    const bool five = type == DType::Q5_K;
    const int bias = five ? 16 : 8;
    const int64_t bytes = sd::dtype_block_bytes(type);
    ktest::Rng r{uint64_t(bytes)};
    std::vector<int> codes(size_t(7 * nb * 32));
    std::vector<uint8_t> rows(size_t(7 * supers * bytes));
    for (int64_t cs = 0; cs < 7 * supers; ++cs) {  // column cs / supers, super-block cs % supers
      uint8_t* p = rows.data() + cs * bytes;
      const uint16_t dh = sd::f32_to_f16(r.uniform() * 0.05f), mh = sd::f32_to_f16(std::fabs(r.uniform()) * 0.01f);
      std::memcpy(p, &dh, 2);
      std::memcpy(p + 2, &mh, 2);
      for (int i = 4; i < 16; ++i) p[i] = static_cast<uint8_t>(rand_int(r, 0, 255));
      uint8_t* qh = p + 16;
      uint8_t* qs = p + (five ? 48 : 16);
      if (five) std::memset(qh, 0, 32);
      for (int j = 0; j < 8; ++j)
        for (int l = 0; l < 32; ++l) {
          const int n = rand_int(r, 0, five ? 31 : 15);
          codes[size_t((cs * 8 + j) * 32 + l)] = n;
          uint8_t& q = qs[32 * (j / 2) + l];
          q = uint8_t(j % 2 ? (q & 0x0F) | ((n & 0xF) << 4) : (n & 0xF));
          if (five) qh[l] = uint8_t(qh[l] | ((n >> 4) << j));
        }
    }
    const uint8_t* cols[8];
    for (int c = 0; c < 8; ++c) cols[c] = c < 7 ? rows.data() + c * supers * bytes : nullptr;
    std::vector<int8_t> q(size_t(nb * 256), 99);
    std::vector<float> d(size_t(nb * 8), -1.f), off(d.size(), -1.f);
    std::vector<int32_t> corr(d.size(), -1);
    for (const kern::QuantTable* t : neon_tables()) {
      t->pack_panel(type, cols, nb, q.data(), d.data(), corr.data(), off.data());
      int bad = 0;
      for (int c = 0; c < 8; ++c)
        for (int64_t b = 0; b < nb; ++b) {
          int sum = 0;
          for (int e = 0; e < 32; ++e) {
            const int want = c < 7 ? codes[size_t(((c * supers + b / 8) * 8 + b % 8) * 32 + e)] - bias : 0;
            sum += want;
            bad += q[size_t(b * 256 + (e / 4) * 32 + c * 4 + e % 4)] != want;
          }
          float dd = 0.f, oo = 0.f;
          if (c < 7) {
            const uint8_t* p = rows.data() + (c * supers + b / 8) * bytes;
            int sc, mn;
            sd::quant::k_scale_min(p + 4, int(b % 8), &sc, &mn);
            dd = sd::quant::rd_half(p) * float(sc);
            oo = float(bias) * dd - sd::quant::rd_half(p + 2) * float(mn);
          }
          bad += !same_bits(&d[size_t(b * 8 + c)], &dd, 4) || corr[size_t(b * 8 + c)] != 128 * sum;
          bad += !same_bits(&off[size_t(b * 8 + c)], &oo, 4);
        }
      CHECK_MSG(bad == 0, "%s %s: %d mismatches", t->name, sd::dtype_name(type), bad);
    }
  }
}
