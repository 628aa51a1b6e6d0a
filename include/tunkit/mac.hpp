#pragma once
/// @file
/// `tunkit::MacAddress`: an Ethernet (EUI-48) address value type.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tunkit {

/// An Ethernet address, six bytes in transmission order. A regular value type.
class MacAddress {
 public:
  constexpr MacAddress() noexcept = default;
  constexpr explicit MacAddress(std::array<std::uint8_t, 6> bytes) noexcept : bytes_(bytes) {}
  /// Parses "aa:bb:cc:dd:ee:ff" (also '-' separated; hex digits in either case).
  /// @throws tunkit::Error with `errc::invalid_address` naming the text.
  static MacAddress parse(std::string_view text);
  static std::optional<MacAddress> try_parse(std::string_view text) noexcept;
  /// A random locally administered unicast address (as the kernel's eth_random_addr()).
  static MacAddress random();
  /// ff:ff:ff:ff:ff:ff
  static constexpr MacAddress broadcast() noexcept {
    return MacAddress({0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  }

  [[nodiscard]] constexpr const std::array<std::uint8_t, 6>& bytes() const noexcept {
    return bytes_;
  }
  [[nodiscard]] constexpr bool is_multicast() const noexcept { return (bytes_[0] & 0x01U) != 0; }
  /// "aa:bb:cc:dd:ee:ff"
  [[nodiscard]] std::string to_string() const;
  friend constexpr bool operator==(const MacAddress&, const MacAddress&) noexcept = default;

 private:
  std::array<std::uint8_t, 6> bytes_{};
};

}  // namespace tunkit
