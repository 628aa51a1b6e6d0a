#pragma once
/// @file
/// IPv4 packets (RFC 791): `Ipv4View` and `MutableIpv4View`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/errors.hpp"
#include "tunkit/packet/ip_protocol.hpp"

namespace tunkit {

/// An IPv4 packet (RFC 791). Validated: version 4, header length 20..60 within the buffer, total
/// length between the header length and the buffer size, options well formed. Bytes after the
/// total length (link-layer padding) are not part of the view.
///
/// @code
/// auto ip = tunkit::Ipv4View::parse(buf);
/// if (!ip) return log(ip.error());
/// if (ip->protocol() == tunkit::IpProtocol::udp) handle_udp(ip->src(), ip->payload());
/// @endcode
class TUNKIT_EXPORT Ipv4View {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<Ipv4View> parse(std::span<const std::byte> packet) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(Ipv4View);

  /// Header length in bytes (20..60).
  [[nodiscard]] std::size_t header_length() const noexcept {
    return std::size_t{4} * (detail::load8(bytes_.data()) & 0x0FU);
  }
  /// Total length field: header plus payload, in bytes (== `bytes().size()`).
  [[nodiscard]] std::uint16_t total_length() const noexcept {
    return detail::load16(bytes_.data() + 2);
  }
  /// The whole type-of-service byte (DSCP << 2 | ECN).
  [[nodiscard]] std::uint8_t tos() const noexcept { return detail::load8(bytes_.data() + 1); }
  /// Differentiated services code point (the upper six bits of `tos()`).
  [[nodiscard]] std::uint8_t dscp() const noexcept { return static_cast<std::uint8_t>(tos() >> 2); }
  /// Explicit congestion notification (the lower two bits of `tos()`).
  [[nodiscard]] std::uint8_t ecn() const noexcept { return static_cast<std::uint8_t>(tos() & 3U); }
  /// Identification field.
  [[nodiscard]] std::uint16_t identification() const noexcept {
    return detail::load16(bytes_.data() + 4);
  }
  /// DF flag.
  [[nodiscard]] bool dont_fragment() const noexcept { return (flags_fragment() & 0x4000U) != 0; }
  /// MF flag.
  [[nodiscard]] bool more_fragments() const noexcept { return (flags_fragment() & 0x2000U) != 0; }
  /// Fragment offset in bytes (the field times 8).
  [[nodiscard]] std::uint32_t fragment_offset() const noexcept {
    return std::uint32_t{8} * (flags_fragment() & 0x1FFFU);
  }
  /// True for a fragment (more fragments, or a non-zero offset).
  [[nodiscard]] bool is_fragment() const noexcept { return (flags_fragment() & 0x3FFFU) != 0; }
  /// Time to live.
  [[nodiscard]] std::uint8_t ttl() const noexcept { return detail::load8(bytes_.data() + 8); }
  /// Protocol of the payload.
  [[nodiscard]] IpProtocol protocol() const noexcept {
    return static_cast<IpProtocol>(detail::load8(bytes_.data() + 9));
  }
  /// Checksum field as stored (see checksum.hpp to verify it).
  [[nodiscard]] std::uint16_t checksum() const noexcept {
    return detail::load16(bytes_.data() + 10);
  }
  /// Source address.
  [[nodiscard]] IpAddress src() const noexcept { return detail::load_ipv4(bytes_.data() + 12); }
  /// Destination address.
  [[nodiscard]] IpAddress dst() const noexcept { return detail::load_ipv4(bytes_.data() + 16); }
  /// The options (header bytes after the first 20; empty when there are none).
  [[nodiscard]] std::span<const std::byte> options() const noexcept {
    return bytes_.subspan(20, header_length() - 20);
  }
  /// The first option of type `type` (the whole option: type, length, data), if any.
  [[nodiscard]] std::optional<std::span<const std::byte>> option(std::uint8_t type) const noexcept;
  /// The header, options included.
  [[nodiscard]] std::span<const std::byte> header() const noexcept {
    return bytes_.first(header_length());
  }
  /// The bytes after the header, up to the total length.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept {
    return bytes_.subspan(header_length());
  }
  /// The packet, up to the total length.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  /// For the mutable view that extends this one (over bytes its `parse` validated).
  explicit Ipv4View(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}

 private:
  [[nodiscard]] std::uint16_t flags_fragment() const noexcept {
    return detail::load16(bytes_.data() + 6);
  }
  std::span<const std::byte> bytes_;
};

/// An IPv4 packet that can be edited in place. Setters do not touch the header checksum; call
/// `update_checksum()` after editing (or use `update16`/`update32` from checksum.hpp).
class TUNKIT_EXPORT MutableIpv4View : public Ipv4View {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIpv4View> parse(std::span<std::byte> packet) noexcept;
  /// Writes the type-of-service byte.
  void set_tos(std::uint8_t tos) noexcept { detail::store8(data_ + 1, tos); }
  /// Writes the identification field.
  void set_identification(std::uint16_t id) noexcept { detail::store16(data_ + 4, id); }
  /// Writes the time to live.
  void set_ttl(std::uint8_t ttl) noexcept { detail::store8(data_ + 8, ttl); }
  /// Writes the checksum field.
  void set_checksum(std::uint16_t c) noexcept { detail::store16(data_ + 10, c); }
  /// Writes the source address.
  /// @throws tunkit::Error with `errc::invalid_address` when `a` is an IPv6 address (nothing is
  ///   written), e.g. `tunkit: MutableIpv4View::set_src: invalid IP address or prefix (fd00::1
  ///   is an IPv6 address; an IPv4 header holds only IPv4 addresses)`.
  void set_src(const IpAddress& a);
  /// Writes the destination address.
  /// @throws tunkit::Error with `errc::invalid_address` when `a` is an IPv6 address (nothing is
  ///   written).
  void set_dst(const IpAddress& a);
  /// Recomputes the header checksum.
  void update_checksum() noexcept;
  /// The bytes after the header, up to the total length (what `payload()` shows), writable.
  [[nodiscard]] std::span<std::byte> mutable_payload() const noexcept {
    return {data_ + header_length(), bytes().size() - header_length()};
  }

 private:
  MutableIpv4View(const Ipv4View& v, std::byte* data) noexcept : Ipv4View(v), data_(data) {}
  std::byte* data_;
};

}  // namespace tunkit
