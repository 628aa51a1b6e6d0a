#include "tunkit/mac.hpp"

#include <fmt/format.h>

#include <cstddef>
#include <random>

#include "tunkit/error.hpp"

namespace tunkit {
namespace {

constexpr std::size_t kTextLength = 17;  // "aa:bb:cc:dd:ee:ff"

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddress> MacAddress::try_parse(std::string_view text) noexcept {
  if (text.size() != kTextLength) return std::nullopt;
  const char separator = text[2];
  if (separator != ':' && separator != '-') return std::nullopt;
  std::array<std::uint8_t, 6> bytes{};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const std::size_t at = 3 * i;
    if (i > 0 && text[at - 1] != separator) return std::nullopt;
    const int hi = hex_value(text[at]);
    const int lo = hex_value(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    bytes[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return MacAddress(bytes);
}

MacAddress MacAddress::parse(std::string_view text) {
  if (auto mac = try_parse(text)) return *mac;
  // Not detail::throw_error: errc::invalid_address reads "invalid IP address or prefix", which
  // would mislead here.
  throw Error(errc::invalid_address,
              fmt::format("tunkit: parse MAC address \"{}\": invalid MAC address (expected six hex "
                          "bytes like aa:bb:cc:dd:ee:ff)",
                          text));
}

MacAddress MacAddress::random() {
  std::random_device device;  // getrandom(2) on Linux: unpredictable, not a seeded sequence
  std::array<std::uint8_t, 6> bytes{};
  for (auto& b : bytes)
    b = static_cast<std::uint8_t>(device() & 0xFFU);
  // IEEE 802: bit 0 of the first byte is I/G (group), bit 1 is U/L (locally administered).
  bytes[0] = static_cast<std::uint8_t>((bytes[0] & 0xFCU) | 0x02U);
  return MacAddress(bytes);
}

std::string MacAddress::to_string() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(kTextLength, ':');
  for (std::size_t i = 0; i < bytes_.size(); ++i) {
    out[3 * i] = kHex[bytes_[i] >> 4];
    out[3 * i + 1] = kHex[bytes_[i] & 0x0FU];
  }
  return out;
}

}  // namespace tunkit
