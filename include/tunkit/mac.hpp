#pragma once
/// @file
/// `tunkit::MacAddress`: a 48-bit Ethernet (MAC) address, for TAP devices and Ethernet frames.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tunkit {

/// A 48-bit Ethernet (MAC) address: a regular value type holding six bytes in transmission order.
///
/// @code
/// auto mac = tunkit::MacAddress::parse("02:00:5e:00:53:01");
/// mac.to_string();                          // "02:00:5e:00:53:01"
/// auto fresh = tunkit::MacAddress::random();  // locally administered unicast
/// @endcode
class MacAddress {
 public:
  /// The address with these six bytes, the first transmitted first.
  constexpr MacAddress(std::array<std::uint8_t, 6> bytes) noexcept  // NOLINT: a value wrapper
      : bytes_(bytes) {}

  /// Parses six two-digit hex bytes separated by ':' ("aa:bb:cc:dd:ee:ff"; upper case and '-' as
  /// the separator are accepted too, one separator throughout).
  /// @throws tunkit::Error with `errc::invalid_address` naming the text, e.g.
  ///   `tunkit: parse MAC address "aa:bb": invalid MAC address (expected six hex bytes like
  ///   aa:bb:cc:dd:ee:ff)`.
  static MacAddress parse(std::string_view text);
  /// As `parse`, but returns nullopt instead of throwing.
  static std::optional<MacAddress> try_parse(std::string_view text) noexcept;
  /// A random, locally administered, unicast address (the U/L bit set, the I/G bit clear), as
  /// `ip link set NAME address random` would pick.
  /// @throws std::system_error when the system's random source fails (std::random_device).
  static MacAddress random();
  /// ff:ff:ff:ff:ff:ff
  static constexpr MacAddress broadcast() noexcept {
    return MacAddress({0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  }

  /// The six bytes, first transmitted first.
  [[nodiscard]] constexpr const std::array<std::uint8_t, 6>& bytes() const noexcept {
    return bytes_;
  }
  /// True for group addresses (the I/G bit), broadcast included.
  [[nodiscard]] constexpr bool is_multicast() const noexcept { return (bytes_[0] & 1U) != 0; }
  /// Lower-case, colon-separated text: "aa:bb:cc:dd:ee:ff".
  [[nodiscard]] std::string to_string() const;

  /// Equality of the six bytes.
  friend constexpr bool operator==(const MacAddress&, const MacAddress&) noexcept = default;

 private:
  std::array<std::uint8_t, 6> bytes_;
};

}  // namespace tunkit
