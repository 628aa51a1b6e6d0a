#pragma once
/// @file
/// IP address and prefix value types used by link configuration (`tunkit::Link`).

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include "tunkit/export.hpp"

namespace tunkit {

/// An IPv4 or IPv6 address: a regular value type (copyable, comparable, ordered) holding the bytes
/// in network order. Scoped IPv6 text ("fe80::1%eth0") is not accepted: an interface address is
/// always configured on one interface, which names the scope.
///
/// @code
/// auto a = tunkit::IpAddress::parse("fd00::1");
/// a.to_string();  // "fd00::1"
/// @endcode
class TUNKIT_EXPORT IpAddress {
 public:
  /// The address family.
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
  /// Parses dotted-quad IPv4 ("10.0.0.1", exactly four decimal parts, no leading zeros) or
  /// RFC 4291 IPv6 text ("fd00::1", "::ffff:10.0.0.1").
  /// @throws tunkit::Error with `errc::invalid_address` naming the text, e.g.
  ///   `tunkit: parse address "10.0.0.300": invalid IP address or prefix`.
  static IpAddress parse(std::string_view text);
  /// As `parse`, but returns nullopt instead of throwing.
  static std::optional<IpAddress> try_parse(std::string_view text) noexcept;

  /// The family: IPv4 or IPv6.
  [[nodiscard]] constexpr Family family() const noexcept { return family_; }
  /// True for an IPv4 address.
  [[nodiscard]] constexpr bool is_v4() const noexcept { return family_ == Family::v4; }
  /// True for an IPv6 address.
  [[nodiscard]] constexpr bool is_v6() const noexcept { return family_ == Family::v6; }
  /// The longest prefix length for this family: 32 (IPv4) or 128 (IPv6).
  [[nodiscard]] constexpr std::uint8_t max_prefix_length() const noexcept {
    return is_v4() ? 32 : 128;
  }
  /// The address bytes in network order: 4 for IPv4, 16 for IPv6.
  [[nodiscard]] std::span<const std::uint8_t> bytes() const noexcept {
    return {bytes_.data(), is_v4() ? 4U : 16U};
  }
  /// Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 ("fd00::1", lower case, the
  /// longest run of zero groups compressed).
  [[nodiscard]] std::string to_string() const;

  /// Equality of family and bytes.
  friend constexpr bool operator==(const IpAddress&, const IpAddress&) noexcept = default;
  /// A total order: every IPv4 address before every IPv6 address, then by bytes.
  friend constexpr auto operator<=>(const IpAddress&, const IpAddress&) noexcept = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};  // IPv4 uses the first four; the rest stay zero
};

/// An address with a prefix length, as assigned to an interface ("10.0.0.1/24", "fd00::1/64").
/// The host bits are kept: "10.0.0.1/24" is the address 10.0.0.1 on the network 10.0.0.0/24.
struct TUNKIT_EXPORT IpPrefix {
  /// The interface address.
  IpAddress address;
  /// The prefix length: at most 32 for IPv4, 128 for IPv6 (`is_valid()` checks it).
  std::uint8_t length = 0;

  /// Parses "ADDRESS/LEN" (LEN in decimal); without "/LEN" the length is 32 (IPv4) or 128 (IPv6).
  /// @throws tunkit::Error with `errc::invalid_address` naming the text, e.g.
  ///   `tunkit: parse prefix "10.0.0.1/33": invalid IP address or prefix (the prefix length of an
  ///   IPv4 address is at most 32)`.
  static IpPrefix parse(std::string_view text);
  /// As `parse`, but returns nullopt instead of throwing.
  static std::optional<IpPrefix> try_parse(std::string_view text) noexcept;
  /// True when `length` is within the family's range. Hand-built prefixes may not be; tunkit
  /// rejects them with `errc::invalid_address` before any system call.
  [[nodiscard]] constexpr bool is_valid() const noexcept {
    return length <= address.max_prefix_length();
  }
  /// "ADDRESS/LEN", with the address in canonical text.
  [[nodiscard]] std::string to_string() const;
  /// The network: the address with its host bits cleared ("10.0.0.1/24" gives 10.0.0.0).
  [[nodiscard]] IpAddress network() const noexcept;
  /// True when `address` is of the same family and on this prefix's network
  /// ("10.0.0.1/24" contains 10.0.0.200, not 10.0.1.1 nor any IPv6 address).
  [[nodiscard]] bool contains(const IpAddress& address) const noexcept;

  /// Equality of address and length.
  friend constexpr bool operator==(const IpPrefix&, const IpPrefix&) noexcept = default;
  /// Ordered by address, then length.
  friend constexpr auto operator<=>(const IpPrefix&, const IpPrefix&) noexcept = default;
};

}  // namespace tunkit
