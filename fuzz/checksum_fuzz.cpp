// Fuzzes the internet checksum against a byte-at-a-time reference: every start alignment, pieces
// of arbitrary (odd) lengths chained through one Checksum, add_u16/add_u32, and the RFC 1624
// incremental update against full recomputation.
//
// Input: the data to sum; its first bytes also steer the split points and the word updated.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "tunkit/packet/checksum.hpp"

#include "fuzz_check.hpp"

namespace {

std::uint16_t reference(std::span<const std::byte> data) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto b = std::to_integer<std::uint32_t>(data[i]);
    sum += i % 2 == 0 ? b << 8 : b;
    sum = (sum & 0xFFFFU) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum & 0xFFFFU);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto input = std::as_bytes(std::span(data, size));
  const std::uint16_t expected = reference(input);
  TUNKIT_FUZZ_CHECK(tunkit::internet_checksum(input) == expected);

  // Every alignment of the start address (the input buffer itself may be aligned).
  std::vector<std::byte> shifted(size + 8);
  for (std::size_t align = 1; align < 8; ++align) {
    std::memcpy(shifted.data() + align, input.data(), size);
    TUNKIT_FUZZ_CHECK(tunkit::internet_checksum(std::span(shifted).subspan(align, size)) ==
                      expected);
  }

  // Chained pieces: lengths taken from the data itself (1..16 bytes each).
  tunkit::Checksum chained;
  for (std::size_t off = 0; off < size;) {
    const std::size_t len = std::min<std::size_t>(1 + (data[off] & 0x0FU), size - off);
    chained.add(input.subspan(off, len));
    off += len;
  }
  TUNKIT_FUZZ_CHECK(chained.checksum() == expected);
  TUNKIT_FUZZ_CHECK(chained.add_u16(static_cast<std::uint16_t>(~chained.fold())).verifies() ||
                    size % 2 != 0);

  // add_u16/add_u32 are the same as adding their big-endian bytes, at any position.
  if (size >= 7) {
    tunkit::Checksum words;
    words.add(input.first(1))
        .add_u16(static_cast<std::uint16_t>(data[1] << 8 | data[2]))
        .add_u32(std::uint32_t{data[3]} << 24 | std::uint32_t{data[4]} << 16 |
                 std::uint32_t{data[5]} << 8 | data[6])
        .add(input.subspan(7));
    TUNKIT_FUZZ_CHECK(words.checksum() == expected);
  }

  // RFC 1624: replace one aligned 16-bit word and one 32-bit field, update, compare.
  if (size >= 8) {
    std::vector<std::byte> copy(input.begin(), input.end());
    const std::size_t word = 2 * (data[0] % (size / 2));
    const auto old_word = static_cast<std::uint16_t>(data[word] << 8 | data[word + 1]);
    const auto new_word = static_cast<std::uint16_t>(~old_word + data[size - 1]);
    copy[word] = static_cast<std::byte>(new_word >> 8);
    copy[word + 1] = static_cast<std::byte>(new_word & 0xFFU);
    const std::uint16_t updated = tunkit::update16(expected, old_word, new_word);
    const std::uint16_t full = tunkit::internet_checksum(copy);
    // RFC 1624 section 3: the two may differ only in the representation of zero.
    TUNKIT_FUZZ_CHECK(updated == full || (updated == 0xFFFF && full == 0) ||
                      (updated == 0 && full == 0xFFFF));
  }
  return 0;
}
