#pragma once
/// @file
/// IPv6 packets (RFC 8200) with their extension-header chain: `Ipv6Fragment`, `Ipv6View` and
/// `MutableIpv6View`.

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

/// The contents of an IPv6 fragment header.
struct Ipv6Fragment {
  std::uint32_t offset = 0;  ///< fragment offset in bytes
  bool more = false;         ///< M flag
  /// Identification shared by the fragments of one packet.
  std::uint32_t identification = 0;
  /// Equal when every field is.
  friend constexpr bool operator==(const Ipv6Fragment&, const Ipv6Fragment&) noexcept = default;
};

/// An IPv6 packet (RFC 8200) with its extension-header chain walked. Validated: version 6, the
/// 40-byte header and the payload length within the buffer, and each extension header
/// (hop-by-hop, routing, fragment, destination options, AH) complete; hop-by-hop only first.
/// The walk stops at the first other next-header value (the upper-layer protocol), at ESP, at
/// "no next header", or after the fragment header of a non-first fragment. A payload length of 0
/// is taken literally (jumbograms are not supported).
///
/// @code
/// auto ip6 = tunkit::Ipv6View::parse(buf);
/// if (ip6 && ip6->upper_protocol() == tunkit::IpProtocol::tcp)
///   auto tcp = tunkit::TcpView::parse(ip6->upper_payload());
/// @endcode
class TUNKIT_EXPORT Ipv6View {
 public:
  /// Validates the header(s) once; the view or why not.
  static ParseResult<Ipv6View> parse(std::span<const std::byte> packet) noexcept;
  /// Deleted: the view would outlive a temporary container.
  TUNKIT_DETAIL_NO_TEMPORARY_PARSE(Ipv6View);

  /// Traffic class (DSCP << 2 | ECN).
  [[nodiscard]] std::uint8_t traffic_class() const noexcept {
    return static_cast<std::uint8_t>((detail::load16(bytes_.data()) >> 4) & 0xFFU);
  }
  /// Flow label (20 bits).
  [[nodiscard]] std::uint32_t flow_label() const noexcept {
    return detail::load32(bytes_.data()) & 0xFFFFFU;
  }
  /// Payload length field: the bytes after the 40-byte header.
  [[nodiscard]] std::uint16_t payload_length() const noexcept {
    return detail::load16(bytes_.data() + 4);
  }
  /// The next-header field of the fixed header.
  [[nodiscard]] IpProtocol next_header() const noexcept {
    return static_cast<IpProtocol>(detail::load8(bytes_.data() + 6));
  }
  /// Hop limit.
  [[nodiscard]] std::uint8_t hop_limit() const noexcept { return detail::load8(bytes_.data() + 7); }
  /// Source address.
  [[nodiscard]] IpAddress src() const noexcept { return detail::load_ipv6(bytes_.data() + 8); }
  /// Destination address.
  [[nodiscard]] IpAddress dst() const noexcept { return detail::load_ipv6(bytes_.data() + 24); }
  /// The bytes after the fixed header (extension headers included), up to the payload length.
  [[nodiscard]] std::span<const std::byte> payload() const noexcept { return bytes_.subspan(40); }
  /// The extension headers (empty when there are none).
  [[nodiscard]] std::span<const std::byte> extension_headers() const noexcept {
    return bytes_.subspan(40, upper_offset_ - 40);
  }
  /// Where the walk stopped: the upper-layer protocol (or ESP, or no-next-header).
  [[nodiscard]] IpProtocol upper_protocol() const noexcept {
    return static_cast<IpProtocol>(upper_protocol_);
  }
  /// Offset of the upper-layer header from the start of the packet.
  [[nodiscard]] std::size_t upper_offset() const noexcept { return upper_offset_; }
  /// The bytes from `upper_offset()` to the end of the packet.
  [[nodiscard]] std::span<const std::byte> upper_payload() const noexcept {
    return bytes_.subspan(upper_offset_);
  }
  /// The fragment header, if there is one.
  [[nodiscard]] std::optional<Ipv6Fragment> fragment() const noexcept;
  /// True for a real fragment (an "atomic fragment", offset 0 without M, is not one: RFC 6946).
  [[nodiscard]] bool is_fragment() const noexcept {
    return fragment_more_ || fragment_offset_ != 0;
  }
  /// The packet, up to 40 + payload length.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return bytes_; }

 protected:
  Ipv6View() noexcept = default;

 private:
  std::span<const std::byte> bytes_;
  std::uint32_t upper_offset_ = 40;
  std::uint32_t fragment_id_ = 0;
  std::uint16_t fragment_offset_ = 0;
  std::uint8_t upper_protocol_ = 0;
  bool has_fragment_ = false;
  bool fragment_more_ = false;
};

/// An IPv6 packet that can be edited in place. IPv6 has no header checksum; after editing the
/// addresses, update the upper-layer checksum (it covers them through the pseudo header).
class TUNKIT_EXPORT MutableIpv6View : public Ipv6View {
 public:
  /// Validates as the read-only view does; the bytes must be writable.
  static ParseResult<MutableIpv6View> parse(std::span<std::byte> packet) noexcept;
  /// Writes the traffic class.
  void set_traffic_class(std::uint8_t tc) noexcept;
  /// Writes the flow label (its low 20 bits).
  void set_flow_label(std::uint32_t label) noexcept;
  /// Writes the hop limit.
  void set_hop_limit(std::uint8_t hops) noexcept { detail::store8(data_ + 7, hops); }
  /// Writes the source address.
  /// @throws tunkit::Error with `errc::invalid_address` when `a` is an IPv4 address (nothing is
  ///   written), e.g. `tunkit: MutableIpv6View::set_src: invalid IP address or prefix (10.0.0.1
  ///   is an IPv4 address; an IPv6 header holds only IPv6 addresses)`.
  void set_src(const IpAddress& a);
  /// Writes the destination address.
  /// @throws tunkit::Error with `errc::invalid_address` when `a` is an IPv4 address (nothing is
  ///   written).
  void set_dst(const IpAddress& a);
  /// The bytes after the fixed header, extension headers included, up to the payload length
  /// (what `payload()` shows), writable, as `MutableIpv4View::mutable_payload()`.
  [[nodiscard]] std::span<std::byte> mutable_payload() const noexcept {
    return {data_ + 40, bytes().size() - 40};
  }
  /// The bytes from `upper_offset()` to the end of the packet (what `upper_payload()` shows),
  /// writable: the upper-layer message after any extension headers.
  ///
  /// @code
  /// auto ip6 = tunkit::MutableIpv6View::parse(buf);
  /// auto icmp = tunkit::MutableIcmpv6View::parse(ip6->mutable_upper_payload());
  /// @endcode
  [[nodiscard]] std::span<std::byte> mutable_upper_payload() const noexcept {
    return {data_ + upper_offset(), bytes().size() - upper_offset()};
  }

 private:
  MutableIpv6View(const Ipv6View& v, std::byte* data) noexcept : Ipv6View(v), data_(data) {}
  std::byte* data_;
};

}  // namespace tunkit
