#include "tunkit/mac.hpp"

#include <fmt/format.h>

#include <random>

#include "detail/failure.hpp"
#include "tunkit/error.hpp"

namespace tunkit {
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddress> MacAddress::try_parse(std::string_view text) noexcept {
  // Exactly "xx:xx:xx:xx:xx:xx" (or with '-'): 17 characters, one separator kind.
  if (text.size() != 17) return std::nullopt;
  const char sep = text[2];
  if (sep != ':' && sep != '-') return std::nullopt;
  std::array<std::uint8_t, 6> bytes{};
  for (std::size_t i = 0; i < 6; ++i) {
    const std::size_t at = i * 3;
    const int hi = hex_value(text[at]);
    const int lo = hex_value(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[at + 2] != sep) return std::nullopt;
    bytes[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return MacAddress{bytes};
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
  thread_local std::mt19937_64 engine{std::random_device{}()};
  const std::uint64_t r = engine();
  std::array<std::uint8_t, 6> bytes{};
  for (std::size_t i = 0; i < 6; ++i)
    bytes[i] = static_cast<std::uint8_t>(r >> (8 * i));
  bytes[0] =
      static_cast<std::uint8_t>((bytes[0] & 0xFEU) | 0x02U);  // unicast, locally administered
  return MacAddress{bytes};
}

std::string MacAddress::to_string() const {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", bytes[0], bytes[1], bytes[2],
                     bytes[3], bytes[4], bytes[5]);
}

}  // namespace tunkit
