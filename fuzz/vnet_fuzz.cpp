// Fuzzes virtio-net header handling: VirtioNetHeader::parse of any bytes at any header size
// and byte order, serialize, check/validate against the packet that follows, and
// complete_checksum.
//
// Input: one control byte (bits 0-1: header size 10, 12, 20 or a size below 10; bit 2:
// big-endian), then the header and the packet.
//
// Properties checked beyond "no crash, no sanitizer report":
// - parse fails exactly when the size is below 10 or the bytes are fewer than the size;
// - a parsed header serializes back to the bytes it came from (flag bits tunkit drops aside,
//   bytes past 12 zeroed) and parses again to the same value;
// - check and validate agree; every error has a message;
// - complete_checksum touches at most the two bytes of the checksum field.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "tunkit/offload.hpp"

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  constexpr std::array<std::size_t, 4> kSizes{10, 12, 20, 6};
  const std::size_t header_size = kSizes[data[0] & 3U];
  const bool little_endian = (data[0] & 4U) == 0;
  const auto input = std::as_bytes(std::span(data, size)).subspan(1);

  const auto parsed = tunkit::VirtioNetHeader::parse(input, header_size, little_endian);
  if (header_size < 10 || input.size() < header_size) {
    TUNKIT_FUZZ_CHECK(!parsed.has_value());
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(parsed.error()).empty());
    return 0;
  }
  TUNKIT_FUZZ_CHECK(parsed.has_value());
  const tunkit::VirtioNetHeader header = *parsed;

  std::vector<std::byte> again(header_size);
  const auto written = header.serialize(again, header_size, little_endian);
  TUNKIT_FUZZ_CHECK(written.has_value() && *written == header_size);
  TUNKIT_FUZZ_CHECK(again[0] == (input[0] & std::byte{0x03}));
  const std::size_t kept = std::min<std::size_t>(header_size, 12);
  TUNKIT_FUZZ_CHECK(std::memcmp(again.data() + 1, input.data() + 1, kept - 1) == 0);
  for (std::size_t i = kept; i < header_size; ++i)
    TUNKIT_FUZZ_CHECK(again[i] == std::byte{0});
  const auto reparsed = tunkit::VirtioNetHeader::parse(again, header_size, little_endian);
  TUNKIT_FUZZ_CHECK(reparsed.has_value() && *reparsed == header);

  std::array<std::byte, 9> small{};
  TUNKIT_FUZZ_CHECK(!header.serialize(small, header_size, little_endian).has_value());

  const auto packet = input.subspan(header_size);
  const auto why = header.check(packet);
  const std::error_code ec = header.validate(packet);
  TUNKIT_FUZZ_CHECK(why.has_value() == static_cast<bool>(ec));
  if (why) {
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(*why).empty());
    TUNKIT_FUZZ_CHECK(ec == tunkit::make_error_code(*why));
    TUNKIT_FUZZ_CHECK(!ec.message().empty());
  }

  std::vector<std::byte> copy(packet.begin(), packet.end());
  const auto error = tunkit::complete_checksum(header, copy);
  if (error) {
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(*error).empty());
    TUNKIT_FUZZ_CHECK(std::equal(copy.begin(), copy.end(), packet.begin(), packet.end()));
  } else {
    std::size_t changed = 0;
    std::size_t first = 0;
    for (std::size_t i = 0; i < copy.size(); ++i) {
      if (copy[i] != packet[i]) {
        if (changed++ == 0) first = i;
      }
    }
    if (changed > 0) {
      TUNKIT_FUZZ_CHECK(header.needs_csum);
      const std::size_t field = std::size_t{header.csum_start} + header.csum_offset;
      TUNKIT_FUZZ_CHECK(first >= field && first < field + 2);
      TUNKIT_FUZZ_CHECK(changed <= 2);
    }
  }
  return 0;
}
