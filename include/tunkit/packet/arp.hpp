#pragma once
/// @file
/// ARP for Ethernet and IPv4 (RFC 826): `ArpView` and `MutableArpView`.

#include <cstddef>
#include <cstdint>
#include <span>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"

namespace tunkit {

/// An ARP message for Ethernet and IPv4 (RFC 826): hardware type 1, protocol type 0x0800,
/// address lengths 6 and 4. 28 bytes; trailing padding is ignored.
class TUNKIT_EXPORT ArpView {
 public:
  static constexpr std::uint16_t request = 1;  ///< `operation()` of a request
  static constexpr std::uint16_t reply = 2;    ///< `operation()` of a reply

  /// Validates the message; the view or why not.
  static ParseResult<ArpView> parse(std::span<const std::byte> message) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(ArpView);

  /// The operation: `request` (1), `reply` (2) or another value.
  [[nodiscard]] std::uint16_t operation() const noexcept { return detail::load16(p_ + 6); }
  /// Sender hardware address.
  [[nodiscard]] MacAddress sender_mac() const noexcept { return detail::load_mac(p_ + 8); }
  /// Sender protocol (IPv4) address.
  [[nodiscard]] IpAddress sender_ip() const noexcept { return detail::load_ipv4(p_ + 14); }
  /// Target hardware address (zero in a request).
  [[nodiscard]] MacAddress target_mac() const noexcept { return detail::load_mac(p_ + 18); }
  /// Target protocol (IPv4) address.
  [[nodiscard]] IpAddress target_ip() const noexcept { return detail::load_ipv4(p_ + 24); }
  /// The 28 bytes of the message.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {p_, 28}; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit ArpView(const std::byte* p) noexcept : p_(p) {}

 private:
  const std::byte* p_;
};

/// An ARP message that can be edited in place.
class TUNKIT_EXPORT MutableArpView : public ArpView {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableArpView> parse(std::span<std::byte> message) noexcept;
  /// Writes the operation.
  void set_operation(std::uint16_t op) noexcept { detail::store16(data_ + 6, op); }
  /// Writes the sender hardware address.
  void set_sender_mac(const MacAddress& m) noexcept { detail::store_mac(data_ + 8, m); }
  /// Ignored unless `a` is IPv4 (as are all the IPv4 setters below).
  void set_sender_ip(const IpAddress& a) noexcept { detail::store_ip(data_ + 14, a, 4); }
  /// Writes the target hardware address.
  void set_target_mac(const MacAddress& m) noexcept { detail::store_mac(data_ + 18, m); }
  /// Writes the target IPv4 address (ignored unless `a` is IPv4).
  void set_target_ip(const IpAddress& a) noexcept { detail::store_ip(data_ + 24, a, 4); }

 private:
  MutableArpView(const ArpView& v, std::byte* data) noexcept : ArpView(v), data_(data) {}
  std::byte* data_;
};

}  // namespace tunkit
