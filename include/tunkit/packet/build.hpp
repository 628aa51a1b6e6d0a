#pragma once
/// @file
/// Builders for the common replies: ICMP/ICMPv6 echo reply, ARP reply, NDP neighbour
/// advertisement.

#include <span>

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

}  // namespace tunkit
