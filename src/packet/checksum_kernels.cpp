#include "packet/checksum_kernels.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TUNKIT_DETAIL_HAVE_AVX2 1
#else
#define TUNKIT_DETAIL_HAVE_AVX2 0
#endif

namespace tunkit::detail {

namespace {

std::uint64_t load64(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

void store64(std::byte* p, std::uint64_t v) noexcept {
  std::memcpy(p, &v, sizeof v);
}

// One's-complement addition on 64-bit words (2^64 is congruent to 1 modulo 0xFFFF, so the carry
// out of bit 63 is added back at the bottom).
std::uint64_t add_eac(std::uint64_t a, std::uint64_t b) noexcept {
  a += b;
  return a + (a < b ? 1U : 0U);
}

// A partial sum folded to 16 bits, and byte-swapped on little-endian hosts: the sum was taken over
// native-order words (RFC 1071 section 2(B): byte order independence).
std::uint16_t finish(std::uint64_t s) noexcept {
  s = (s & 0xFFFFFFFFU) + (s >> 32);
  s = (s & 0xFFFFFFFFU) + (s >> 32);
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  const auto folded = static_cast<std::uint16_t>(s);
  if constexpr (std::endian::native == std::endian::little) {
    return static_cast<std::uint16_t>((folded >> 8) | (folded << 8));
  } else {
    return folded;
  }
}

// Sums `n` bytes as native-order words, copying them to `dst` on the way when `kCopy`; returns
// the unfolded one's-complement sum. The sum is taken over native-order words (RFC 1071 section
// 2(B): the sum of byte-swapped words is the byte-swapped sum, so no per-word swapping is needed;
// `finish` swaps once at the end).
//
// 64-bit words are summed into four independent accumulators, counting carries separately, so the
// loop has no dependency chain longer than one add (2^64 is congruent to 1 modulo 0xFFFF, so the
// carry counts are simply added at the end); the store rides along with the load. Loads go through
// memcpy: correct at any alignment, and as fast as aligned loads on the targets that matter
// (x86-64, arm64).
template <bool kCopy>
std::uint64_t sum_scalar(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  while (n >= 32) {
    const std::uint64_t w0 = load64(src), w1 = load64(src + 8), w2 = load64(src + 16),
                        w3 = load64(src + 24);
    if constexpr (kCopy) {
      store64(dst, w0);
      store64(dst + 8, w1);
      store64(dst + 16, w2);
      store64(dst + 24, w3);
      dst += 32;
    }
    a0 += w0;
    c0 += a0 < w0 ? 1U : 0U;
    a1 += w1;
    c1 += a1 < w1 ? 1U : 0U;
    a2 += w2;
    c2 += a2 < w2 ? 1U : 0U;
    a3 += w3;
    c3 += a3 < w3 ? 1U : 0U;
    src += 32;
    n -= 32;
  }
  std::uint64_t s = add_eac(add_eac(a0, a1), add_eac(a2, a3));
  s = add_eac(s, c0 + c1 + c2 + c3);
  while (n >= 8) {
    const std::uint64_t w = load64(src);
    if constexpr (kCopy) {
      store64(dst, w);
      dst += 8;
    }
    s = add_eac(s, w);
    src += 8;
    n -= 8;
  }
  if (n > 0) {
    // The last 1..7 bytes, zero-padded in place: an odd last byte stays the high-order byte of
    // its network-order word, as RFC 1071 requires. Fixed-size pieces, so that no call to memcpy
    // is made.
    std::array<std::byte, 8> word{};
    std::size_t i = 0;
    if ((n & 4U) != 0) {
      std::memcpy(word.data(), src, 4);
      if constexpr (kCopy) std::memcpy(dst, src, 4);
      i = 4;
    }
    if ((n & 2U) != 0) {
      std::memcpy(word.data() + i, src + i, 2);
      if constexpr (kCopy) std::memcpy(dst + i, src + i, 2);
      i += 2;
    }
    if ((n & 1U) != 0) {
      word[i] = src[i];
      if constexpr (kCopy) dst[i] = src[i];
    }
    s = add_eac(s, load64(word.data()));
  }
  return s;
}

std::uint64_t copy_sum_scalar(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
  return sum_scalar<true>(dst, src, n);
}

#if TUNKIT_DETAIL_HAVE_AVX2

// 32 bytes per step, three vector operations besides the load and the store. vpmaddwd adds
// adjacent 16-bit words into 32-bit lanes, but as signed numbers; flipping bit 15 of every word
// first turns word u into the signed u - 32768 exactly, so each pair sums to u0 + u1 - 65536 and
// the true sum is the lanes' sum plus 65536 per pair (8 pairs per vector). A lane grows by at
// most 65536 per vector, so 16384 vectors per accumulator (a block of 1 MiB) cannot overflow it.
// With `kCopy` false only sums (dst unused).
template <bool kCopy>
[[gnu::target("avx2")]] std::uint64_t sum_avx2(std::byte* dst, const std::byte* src,
                                               std::size_t n) noexcept {
  const __m256i flip = _mm256_set1_epi16(-32768);
  const __m256i ones = _mm256_set1_epi16(1);
  std::uint64_t sum = 0;
  while (n >= 32) {
    const std::size_t vectors = std::min<std::size_t>(n / 32, 32768);
    __m256i a0 = _mm256_setzero_si256();
    __m256i a1 = _mm256_setzero_si256();
    std::size_t i = 0;
    for (; i + 2 <= vectors; i += 2) {
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
      const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32));
      if constexpr (kCopy) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v0);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 32), v1);
        dst += 64;
      }
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_xor_si256(v0, flip), ones));
      a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_xor_si256(v1, flip), ones));
      src += 64;
    }
    if (i < vectors) {
      const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
      if constexpr (kCopy) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), v0);
        dst += 32;
      }
      a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_xor_si256(v0, flip), ones));
      src += 32;
    }
    n -= vectors * 32;
    // Widen the 32-bit lanes of both accumulators to 64 bits and add them up.
    const __m256i wide =
        _mm256_add_epi64(_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a0)),
                                          _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a0, 1))),
                         _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(a1)),
                                          _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a1, 1))));
    const __m128i half =
        _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
    const std::int64_t lanes = _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
    // The block's exact sum of 16-bit words: non-negative and below 2^36.
    const auto block =
        static_cast<std::uint64_t>(lanes + static_cast<std::int64_t>(vectors) * 8 * 65536);
    sum = add_eac(sum, block);
  }
  // Leave the upper halves of the ymm registers clean: GCC 12 does not insert vzeroupper here,
  // and legacy-SSE code in the caller would otherwise pay for the dirty state on every
  // instruction (measured: GRO coalesce twice as slow).
  _mm256_zeroupper();
  // The tail starts at an even offset (a multiple of 32), so its words line up with the sum's.
  return add_eac(sum, sum_scalar<kCopy>(dst, src, n));
}

using CopySum = std::uint64_t (*)(std::byte*, const std::byte*, std::size_t) noexcept;

CopySum pick_copy() noexcept {
  return __builtin_cpu_supports("avx2") ? sum_avx2<true> : copy_sum_scalar;
}

// Summing alone: the vector loop pays for itself from a few vectors on (measured: below 64 bytes
// the scalar loop is as fast), so short inputs such as headers stay scalar.
CopySum pick_sum() noexcept {
  return __builtin_cpu_supports("avx2") ? sum_avx2<false> : sum_scalar<false>;
}

#endif

}  // namespace

std::uint16_t ones_sum(const std::byte* p, std::size_t n) noexcept {
#if TUNKIT_DETAIL_HAVE_AVX2
  if (n >= 128) {
    static const CopySum impl = pick_sum();
    return finish(impl(nullptr, p, n));
  }
#endif
  return finish(sum_scalar<false>(nullptr, p, n));
}

std::uint16_t copy_and_sum_portable(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
  return finish(copy_sum_scalar(dst, src, n));
}

std::uint16_t copy_and_sum(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
#if TUNKIT_DETAIL_HAVE_AVX2
  static const CopySum impl = pick_copy();
  return finish(impl(dst, src, n));
#else
  return finish(copy_sum_scalar(dst, src, n));
#endif
}

}  // namespace tunkit::detail
