#pragma once
/// @file
/// IP address and prefix value types used by link configuration.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tunkit {

/// An IPv4 or IPv6 address. A regular value type (copyable, comparable); stores the bytes in
/// network order.
class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  /// 0.0.0.0
  constexpr IpAddress() noexcept = default;
  /// An IPv4 address from its four bytes in network order.
  static constexpr IpAddress v4(std::array<std::uint8_t, 4> b) noexcept {
    IpAddress a;
    a.family_ = Family::v4;
    for (std::size_t i = 0; i < 4; ++i)
      a.bytes_[i] = b[i];
    return a;
  }
  /// An IPv6 address from its sixteen bytes in network order.
  static constexpr IpAddress v6(std::array<std::uint8_t, 16> b) noexcept {
    IpAddress a;
    a.family_ = Family::v6;
    a.bytes_ = b;
    return a;
  }
  /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text ("10.0.0.1", "fd00::1").
  /// @throws tunkit::Error with `errc::invalid_address` naming the text.
  static IpAddress parse(std::string_view text);
  /// As `parse`, but returns nullopt instead of throwing.
  static std::optional<IpAddress> try_parse(std::string_view text) noexcept;

  [[nodiscard]] constexpr Family family() const noexcept { return family_; }
  [[nodiscard]] constexpr bool is_v4() const noexcept { return family_ == Family::v4; }
  [[nodiscard]] constexpr bool is_v6() const noexcept { return family_ == Family::v6; }
  /// The address bytes in network order: 4 for IPv4, 16 for IPv6.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return {bytes_.data(), is_v4() ? 4U : 16U};
  }
  /// Canonical text (RFC 5952 for IPv6).
  [[nodiscard]] std::string to_string() const;

  friend constexpr bool operator==(const IpAddress&, const IpAddress&) noexcept = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

/// An address with a prefix length, as assigned to an interface ("10.0.0.1/24", "fd00::1/64").
struct IpPrefix {
  IpAddress address;
  std::uint8_t length = 0;

  /// Parses "ADDRESS/LEN"; without "/LEN" the length is 32 (IPv4) or 128 (IPv6).
  /// @throws tunkit::Error with `errc::invalid_address` naming the text.
  static IpPrefix parse(std::string_view text);
  static std::optional<IpPrefix> try_parse(std::string_view text) noexcept;
  [[nodiscard]] std::string to_string() const;
  friend constexpr bool operator==(const IpPrefix&, const IpPrefix&) noexcept = default;
};

}  // namespace tunkit
