#include "packet/checksum_kernels.hpp"

#include <algorithm>
#include <random>
#include <span>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"

namespace {

using Bytes = std::vector<std::byte>;
using tunkit_test::reference_checksum;

}  // namespace

TEST_CASE("copy_and_sum copies and sums like the reference at every length and alignment",
          "[offload][checksum]") {
  std::mt19937 rng(17);
  Bytes src(600 + 16);
  for (auto& b : src)
    b = static_cast<std::byte>(rng() & 0xFFU);
  Bytes dst(600 + 16);
  for (std::size_t align = 0; align < 8; ++align) {
    for (std::size_t len = 0; len <= 600; ++len) {
      const auto data = std::span<const std::byte>(src).subspan(align, len);
      const auto want = static_cast<std::uint16_t>(~reference_checksum(data) & 0xFFFFU);
      std::fill(dst.begin(), dst.end(), std::byte{0xA5});
      const std::size_t at = (align * 3) % 8;
      const std::uint16_t got = tunkit::detail::copy_and_sum(dst.data() + at, data.data(), len);
      const std::uint16_t portable =
          tunkit::detail::copy_and_sum_portable(dst.data() + at, data.data(), len);
      // An empty or all-zero sum folds to 0 in the reference and may be 0 or 0xFFFF here: the
      // two zeros of one's complement.
      const auto same = [&](std::uint16_t v) {
        return v == want || (len == 0 && v == 0 && want == 0);
      };
      // The summing loop alone (behind Checksum::add; vectorised from 128 bytes where the CPU
      // has AVX2, as copy_and_sum): the same sum.
      const std::uint16_t summed = tunkit::detail::ones_sum(data.data(), len);
      if (!same(got) || !same(portable) || summed != portable ||
          !std::equal(data.begin(), data.end(), dst.begin() + static_cast<std::ptrdiff_t>(at)) ||
          dst[at + len] != std::byte{0xA5}) {
        FAIL("align " << align << " len " << len << " got " << got << " portable " << portable
                      << " summed " << summed << " want " << want);
      }
    }
  }
  // Long runs of 0xFF exercise the carries.
  const Bytes ones(70000, std::byte{0xFF});
  Bytes out(70000);
  CHECK(tunkit::detail::copy_and_sum(out.data(), ones.data(), ones.size()) == 0xFFFF);
  CHECK(out == ones);
  CHECK(tunkit::detail::ones_sum(ones.data(), ones.size()) == 0xFFFF);
  // Beyond one vector block (1 MiB per accumulator) and at an odd length.
  Bytes big(3 * 1024 * 1024 + 5);
  for (auto& b : big)
    b = static_cast<std::byte>(rng() & 0xFFU);
  const auto want = static_cast<std::uint16_t>(~reference_checksum(big) & 0xFFFFU);
  CHECK(tunkit::detail::ones_sum(big.data(), big.size()) == want);
  Bytes big_out(big.size());
  CHECK(tunkit::detail::copy_and_sum(big_out.data(), big.data(), big.size()) == want);
}
