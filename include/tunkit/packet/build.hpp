#pragma once
/// @file
/// Builders for the common replies (ICMP/ICMPv6 echo reply, ARP reply, NDP neighbour
/// advertisement) and requests (ICMP/ICMPv6 echo request, UDP datagram, TCP SYN).

#include <cstdint>
#include <span>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/packet/errors.hpp"
#include "tunkit/packet/ip_packet.hpp"

namespace tunkit {

//
// Each writes a complete reply into `out` and returns its length, or an error (leaving `out` in
// an unspecified state). `out` may be the request's own buffer (the same start address): every
// request field is read before anything is written, so a reply can be built in place. Other
// overlaps are not allowed. Builders never allocate. They do not check the request's checksums.

/// An ICMP echo reply (IPv4) to an echo request: addresses swapped, TTL 64, no IP options, same
/// identifier, sequence and data, both checksums computed. Fails for anything but an unfragmented
/// IPv4 ICMP echo request to a unicast address.
///
/// @code
/// auto pkt = tunkit::parse_ip(std::span(buf).first(n));
/// if (pkt) {
///   if (auto len = tunkit::build_icmp_echo_reply(*pkt, buf))
///   dev.write(std::span(buf).first(*len));
/// }
/// @endcode
TUNKIT_EXPORT BuildResult build_icmp_echo_reply(const IpPacket& request,
                                                std::span<std::byte> out) noexcept;

/// An ICMPv6 echo reply (RFC 4443 section 4.2): addresses swapped, hop limit 64, no extension
/// headers, same identifier, sequence and data, checksum computed. Fails for anything but an
/// unfragmented IPv6 echo request to a unicast address.
TUNKIT_EXPORT BuildResult build_icmpv6_echo_reply(const IpPacket& request,
                                                  std::span<std::byte> out) noexcept;

/// `build_icmp_echo_reply` or `build_icmpv6_echo_reply`, by IP version.
TUNKIT_EXPORT BuildResult build_echo_reply(const IpPacket& request,
                                           std::span<std::byte> out) noexcept;

/// An echo reply in an Ethernet frame (TAP): MAC addresses swapped, VLAN tag kept.
TUNKIT_EXPORT BuildResult build_echo_reply(const Frame& request, std::span<std::byte> out) noexcept;

/// An ARP reply frame answering an ARP request: "target IP is at `our_mac`", sent to the
/// requester's MAC, VLAN tag kept, 42 bytes (46 tagged; no padding). The caller decides whether
/// the target IP is one to answer for.
///
/// @code
/// auto frame = tunkit::parse_frame(buf);
/// if (frame && frame->arp() && frame->arp()->target_ip() == my_ip)
///   if (auto len = tunkit::build_arp_reply(*frame, my_mac, out)) tap.write(out.first(*len));
/// @endcode
TUNKIT_EXPORT BuildResult build_arp_reply(const Frame& request, const MacAddress& our_mac,
                                          std::span<std::byte> out) noexcept;

/// A neighbour advertisement frame (RFC 4861 section 7.2.4) answering a neighbour solicitation
/// for its target address: IPv6 source is the target address, hop limit 255, flags solicited and
/// override (solicited only when the solicitation's source is not the unspecified address; for
/// DAD the advertisement goes to all-nodes ff02::1), a target link-layer address option with
/// `our_mac`, checksum computed. Ethernet destination: the solicitation's source link-layer
/// option, else its Ethernet source (33:33:00:00:00:01 for all-nodes). VLAN tag kept. The
/// solicitation is validated as RFC 4861 section 7.1.1 asks (hop limit 255, code 0, length
/// >= 24, target not multicast, options of non-zero length, no source link-layer option with an
/// unspecified source). The caller decides whether the target is one to answer for.
TUNKIT_EXPORT BuildResult build_neighbor_advertisement(const Frame& request,
                                                       const MacAddress& our_mac,
                                                       std::span<std::byte> out) noexcept;

//
// Requests: each writes one complete IP packet (no Ethernet header: for a TUN device, or put an
// Ethernet header in front yourself) into `out` and returns its length, or an error (leaving
// `out` in an unspecified state): `buffer_too_small` with the bytes needed, before anything is
// written; `address_family_mismatch` when `src` and `dst` are not of one family (or not of the
// family the builder writes); `packet_too_large` beyond 65535 bytes (IPv4 total length, IPv6
// payload length). Every checksum is computed: the IPv4 header checksum, and the UDP, TCP and
// ICMPv6 checksums over their pseudo header. IPv4 headers have no options, TOS 0 and the
// `identification`, DF and TTL given; IPv6 headers have traffic class and flow label 0, no
// extension headers, and the hop limit given as `ttl`. `data` must not overlap `out`. Builders
// never allocate. Edit a built packet with the mutable views (then update its checksums).

/// An ICMP or ICMPv6 echo request to build.
struct EchoRequest {
  IpAddress src;                      ///< source address
  IpAddress dst;                      ///< destination address, of the source's family
  std::uint16_t identifier = 0;       ///< echo identifier
  std::uint16_t sequence = 0;         ///< echo sequence number
  std::span<const std::byte> data{};  ///< the bytes after the 8-byte ICMP header
  std::uint8_t ttl = 64;              ///< IPv4 TTL or IPv6 hop limit
  std::uint16_t identification = 0;   ///< IPv4 only: the IP id
  bool dont_fragment = true;          ///< IPv4 only: set DF (as Linux's ping does)
};

/// An ICMP echo request (RFC 792) in an IPv4 packet: 28 + `data.size()` bytes, both checksums
/// computed. Fails with `address_family_mismatch` unless both addresses are IPv4.
///
/// @code
/// std::array<std::byte, 64> buf;
/// auto len = tunkit::build_icmp_echo_request(
///     {.src = tunkit::IpAddress::parse("10.0.0.2"), .dst = tunkit::IpAddress::parse("10.0.0.1"),
///      .identifier = 7, .sequence = 1},
///     buf);
/// if (len) dev.write(std::span(buf).first(*len));
/// @endcode
TUNKIT_EXPORT BuildResult build_icmp_echo_request(const EchoRequest& request,
                                                  std::span<std::byte> out) noexcept;

/// An ICMPv6 echo request (RFC 4443 section 4.1) in an IPv6 packet: 48 + `data.size()` bytes,
/// checksum computed over the pseudo header. Fails with `address_family_mismatch` unless both
/// addresses are IPv6.
TUNKIT_EXPORT BuildResult build_icmpv6_echo_request(const EchoRequest& request,
                                                    std::span<std::byte> out) noexcept;

/// `build_icmp_echo_request` or `build_icmpv6_echo_request`, by the family of the addresses.
TUNKIT_EXPORT BuildResult build_echo_request(const EchoRequest& request,
                                             std::span<std::byte> out) noexcept;

/// A UDP datagram to build.
struct UdpDatagram {
  IpAddress src;                      ///< source address
  IpAddress dst;                      ///< destination address, of the source's family
  std::uint16_t src_port = 0;         ///< source port
  std::uint16_t dst_port = 0;         ///< destination port
  std::span<const std::byte> data{};  ///< the payload
  std::uint8_t ttl = 64;              ///< IPv4 TTL or IPv6 hop limit
  std::uint16_t identification = 0;   ///< IPv4 only: the IP id
  bool dont_fragment = true;          ///< IPv4 only: set DF (as a Linux UDP socket does by default)
};

/// A UDP datagram (RFC 768) over IPv4 or IPv6, by the family of the addresses: 28 (IPv4) or 48
/// (IPv6) + `data.size()` bytes, the UDP checksum computed over the pseudo header (never 0: a
/// result of 0 is sent as 0xFFFF), and the IPv4 header checksum.
///
/// @code
/// const std::string_view hello = "hello";
/// auto len = tunkit::build_udp_datagram({.src = tunkit::IpAddress::parse("fd00::2"),
///                                        .dst = tunkit::IpAddress::parse("fd00::1"),
///                                        .src_port = 40000, .dst_port = 7,
///                                        .data = std::as_bytes(std::span(hello))},
///                                       buf);
/// @endcode
TUNKIT_EXPORT BuildResult build_udp_datagram(const UdpDatagram& datagram,
                                             std::span<std::byte> out) noexcept;

/// A TCP SYN (the first segment of a connection) to build.
struct TcpSyn {
  IpAddress src;                 ///< source address
  IpAddress dst;                 ///< destination address, of the source's family
  std::uint16_t src_port = 0;    ///< source port
  std::uint16_t dst_port = 0;    ///< destination port
  std::uint32_t sequence = 0;    ///< initial sequence number
  std::uint16_t window = 65535;  ///< receive window (unscaled: a SYN's window never is)
  /// The option bytes as they go on the wire (e.g. `02 04 05 b4`: MSS 1460), at most 40;
  /// padded with zeros (end of option list) to a multiple of 4.
  std::span<const std::byte> options{};
  std::uint8_t ttl = 64;             ///< IPv4 TTL or IPv6 hop limit
  std::uint16_t identification = 0;  ///< IPv4 only: the IP id
  bool dont_fragment = true;         ///< IPv4 only: set DF (as Linux's TCP does)
};

/// A TCP SYN segment (RFC 9293) over IPv4 or IPv6, by the family of the addresses: flags SYN
/// only, acknowledgment number 0, no payload, the options given, the TCP checksum computed over
/// the pseudo header (and the IPv4 header checksum). Fails with `tcp_options_too_long` for more
/// than 40 option bytes.
TUNKIT_EXPORT BuildResult build_tcp_syn(const TcpSyn& syn, std::span<std::byte> out) noexcept;

}  // namespace tunkit
