#include "detail/checksum_copy.hpp"

#include <bit>
#include <cstring>

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

// A 64-bit partial sum folded to 16 bits, and byte-swapped on little-endian hosts: the sum was
// taken over native-order words (RFC 1071 section 2(B): byte order independence).
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

}  // namespace

std::uint16_t copy_and_sum_portable(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
  // As in checksum.cpp: four independent accumulators with separate carry counts, so each add
  // depends only on its own previous value; the store rides along with the load.
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  while (n >= 32) {
    const std::uint64_t w0 = load64(src), w1 = load64(src + 8), w2 = load64(src + 16),
                        w3 = load64(src + 24);
    store64(dst, w0);
    store64(dst + 8, w1);
    store64(dst + 16, w2);
    store64(dst + 24, w3);
    a0 += w0;
    c0 += a0 < w0 ? 1U : 0U;
    a1 += w1;
    c1 += a1 < w1 ? 1U : 0U;
    a2 += w2;
    c2 += a2 < w2 ? 1U : 0U;
    a3 += w3;
    c3 += a3 < w3 ? 1U : 0U;
    src += 32;
    dst += 32;
    n -= 32;
  }
  std::uint64_t s = add_eac(add_eac(a0, a1), add_eac(a2, a3));
  s = add_eac(s, c0 + c1 + c2 + c3);
  while (n >= 8) {
    const std::uint64_t w = load64(src);
    store64(dst, w);
    s = add_eac(s, w);
    src += 8;
    dst += 8;
    n -= 8;
  }
  if (n > 0) {
    // The last 1..7 bytes, zero-padded in place: an odd last byte stays the high-order byte of
    // its network-order word.
    std::uint64_t tail = 0;
    std::memcpy(&tail, src, n);
    std::memcpy(dst, src, n);
    s = add_eac(s, tail);
  }
  return finish(s);
}

std::uint16_t copy_and_sum(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
  return copy_and_sum_portable(dst, src, n);
}

}  // namespace tunkit::detail
