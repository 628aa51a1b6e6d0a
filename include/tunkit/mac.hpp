#pragma once
/// @file
/// `tunkit::MacAddress`: an Ethernet (EUI-48) address value type.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "tunkit/export.hpp"

namespace tunkit {

/// A 48-bit Ethernet (MAC) address, bytes in transmission order. An aggregate value type:
/// `tunkit::MacAddress{{0x02, 0, 0, 0, 0, 1}}`.
struct TUNKIT_EXPORT MacAddress {
  /// The six bytes, first transmitted first.
  std::array<std::uint8_t, 6> bytes{};

  /// Parses "aa:bb:cc:dd:ee:ff" (also '-' separated; hex digits in either case).
  /// @throws tunkit::Error with `errc::invalid_address` naming the text.
  static MacAddress parse(std::string_view text);
  /// As `parse`, but returns nullopt instead of throwing.
  static std::optional<MacAddress> try_parse(std::string_view text) noexcept;
  /// A random locally administered unicast address (as the kernel's eth_random_addr()).
  static MacAddress random();
  /// ff:ff:ff:ff:ff:ff
  static constexpr MacAddress broadcast() noexcept {
    return {{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}};
  }
  /// True for group addresses (the I/G bit), broadcast included.
  [[nodiscard]] constexpr bool is_multicast() const noexcept { return (bytes[0] & 1U) != 0; }
  /// Lower-case, colon-separated text: "aa:bb:cc:dd:ee:ff".
  [[nodiscard]] std::string to_string() const;
  /// Equal when the six bytes are.
  friend constexpr bool operator==(const MacAddress&, const MacAddress&) noexcept = default;
};

}  // namespace tunkit
