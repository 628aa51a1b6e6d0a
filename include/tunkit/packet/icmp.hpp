#pragma once
/// @file
/// ICMP (RFC 792) and ICMPv6 (RFC 4443) messages: `IcmpType`, `Icmpv6Type`, `IcmpView`,
/// `Icmpv6View` and their mutable variants.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"

namespace tunkit {

class Ipv6View;

/// ICMP (IPv4) message types tunkit knows by name.
enum class IcmpType : std::uint8_t {
  /// Echo reply.
  echo_reply = 0,
  /// Destination unreachable.
  destination_unreachable = 3,
  /// Redirect.
  redirect = 5,
  /// Echo request.
  echo_request = 8,
  /// Time exceeded.
  time_exceeded = 11,
  /// Parameter problem.
  parameter_problem = 12,
};

/// ICMPv6 message types tunkit knows by name.
enum class Icmpv6Type : std::uint8_t {
  /// Destination unreachable.
  destination_unreachable = 1,
  /// Packet too big (the MTU is in bytes 4-7).
  packet_too_big = 2,
  /// Time exceeded.
  time_exceeded = 3,
  /// Parameter problem.
  parameter_problem = 4,
  /// Echo request.
  echo_request = 128,
  /// Echo reply.
  echo_reply = 129,
  /// NDP router solicitation.
  router_solicitation = 133,
  /// NDP router advertisement.
  router_advertisement = 134,
  /// NDP neighbour solicitation.
  neighbor_solicitation = 135,
  /// NDP neighbour advertisement.
  neighbor_advertisement = 136,
  /// Redirect.
  redirect = 137,
};

namespace detail {
/// The layout shared by ICMP and ICMPv6: type, code, checksum, 4 bytes, body.
class IcmpBase {
 public:
  /// Code.
  [[nodiscard]] std::uint8_t code() const noexcept { return detail::load8(bytes_.data() + 1); }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// Echo identifier (bytes 4-5; meaningful for echo request/reply).
  [[nodiscard]] std::uint16_t identifier() const noexcept {
    return detail::load16(bytes_.data() + 4);
  }
  /// Echo sequence number (bytes 6-7; meaningful for echo request/reply).
  [[nodiscard]] std::uint16_t sequence() const noexcept {
    return detail::load16(bytes_.data() + 6);
  }
  /// Bytes 4-7 as one number (pointer, MTU, unused, ...).
  [[nodiscard]] std::uint32_t rest_of_header() const noexcept {
    return detail::load32(bytes_.data() + 4);
  }
  /// The bytes after the first 8.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return bytes_.subspan(8); }
  /// The whole message.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  explicit IcmpBase(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  std::span<const std::byte> bytes_;
};
}  // namespace detail

/// An ICMP message (RFC 792). Validated: at least 8 bytes.
class TUNKIT_EXPORT IcmpView : public detail::IcmpBase {
 public:
  /// Validates the message; the view or why not.
  static ParseResult<IcmpView> parse(std::span<const std::byte> message) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(IcmpView);
  /// Message type.
  [[nodiscard]] IcmpType type() const noexcept {
    return static_cast<IcmpType>(detail::load8(bytes().data()));
  }

 protected:
  using IcmpBase::IcmpBase;
};

/// An ICMPv6 message (RFC 4443). Validated: at least 8 bytes (every message RFC 4443 and RFC 4861
/// define has them).
class TUNKIT_EXPORT Icmpv6View : public detail::IcmpBase {
 public:
  /// Validates the message; the view or why not.
  static ParseResult<Icmpv6View> parse(std::span<const std::byte> message) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(Icmpv6View);
  /// Message type.
  [[nodiscard]] Icmpv6Type type() const noexcept {
    return static_cast<Icmpv6Type>(detail::load8(bytes().data()));
  }
  /// The target address of a neighbour solicitation or advertisement (when the message is one
  /// and is long enough to hold it).
  [[nodiscard]] std::optional<IpAddress> nd_target() const noexcept;

 protected:
  using IcmpBase::IcmpBase;
};

namespace detail {
template <class Base>
class MutableIcmpCommon : public Base {
 public:
  /// The message type enumeration of `Base` (`IcmpType` or `Icmpv6Type`).
  using Type = decltype(std::declval<const Base&>().type());

  /// Writes the type (what `type()` reads).
  void set_type(Type type) noexcept { detail::store8(data_, static_cast<std::uint8_t>(type)); }
  /// Writes the type as a number (for types without a name in the enumeration).
  void set_type(std::uint8_t type) noexcept { detail::store8(data_, type); }
  /// Writes the code.
  void set_code(std::uint8_t code) noexcept { detail::store8(data_ + 1, code); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 2, c); }
  /// Writes the echo identifier.
  void set_identifier(std::uint16_t id) noexcept { detail::store16(data_ + 4, id); }
  /// Writes the echo sequence number.
  void set_sequence(std::uint16_t seq) noexcept { detail::store16(data_ + 6, seq); }

 protected:
  MutableIcmpCommon(const Base& v, std::byte* data) noexcept : Base(v), data_(data) {}

 private:
  std::byte* data_;
};
}  // namespace detail

/// An ICMP message that can be edited in place. The setters do not touch the checksum; call
/// `update_checksum()` after editing.
///
/// @code
/// auto icmp = tunkit::MutableIcmpView::parse(ip->mutable_payload());
/// icmp->set_type(tunkit::IcmpType::echo_reply);
/// icmp->update_checksum();
/// @endcode
class TUNKIT_EXPORT MutableIcmpView : public detail::MutableIcmpCommon<IcmpView> {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIcmpView> parse(std::span<std::byte> message) noexcept;
  /// Recomputes the checksum over the whole message (RFC 792: no pseudo header), as the view
  /// sees it: parse the view from exactly the ICMP message (e.g. `mutable_payload()` of the
  /// IPv4 view).
  void update_checksum() noexcept;

 private:
  using MutableIcmpCommon::MutableIcmpCommon;
};

/// An ICMPv6 message that can be edited in place. The setters do not touch the checksum; call
/// `update_checksum(ip)` after editing (the ICMPv6 checksum covers a pseudo header with the IPv6
/// addresses, RFC 4443 section 2.3, so it needs them).
///
/// @code
/// auto ip6 = tunkit::MutableIpv6View::parse(buf);
/// auto icmp = tunkit::MutableIcmpv6View::parse(ip6->mutable_upper_payload());
/// icmp->set_type(tunkit::Icmpv6Type::echo_reply);
/// icmp->update_checksum(*ip6);
/// @endcode
class TUNKIT_EXPORT MutableIcmpv6View : public detail::MutableIcmpCommon<Icmpv6View> {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIcmpv6View> parse(std::span<std::byte> message) noexcept;
  /// Recomputes the checksum for the IPv6 packet `ip` that carries this message: the pseudo
  /// header (RFC 8200 section 8.1) with `ip.src()`, `ip.dst()` (the final destination: tunkit
  /// does not look into routing headers), the message length and next header 58, then the
  /// message.
  void update_checksum(const Ipv6View& ip) noexcept;
  /// Recomputes the checksum with the pseudo header made of `src` and `dst`.
  /// @throws tunkit::Error with `errc::invalid_address` when either is not an IPv6 address
  ///   (nothing is written).
  void update_checksum(const IpAddress& src, const IpAddress& dst);

 private:
  using MutableIcmpCommon::MutableIcmpCommon;
};

}  // namespace tunkit
