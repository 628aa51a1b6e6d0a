#pragma once
/// @file
/// Bounds-checked views over raw packets (Ethernet, ARP, IPv4, IPv6, TCP, UDP, ICMP, ICMPv6) and
/// builders for the common replies (ICMP/ICMPv6 echo reply, ARP reply, NDP neighbour
/// advertisement).
///
/// A view does not own its bytes: it is a pointer and a length into the caller's buffer, which
/// must outlive it. Views are made only by their `parse` factory, which validates everything
/// once and returns either the view or a `ParseError` saying why; after that every accessor is in
/// bounds, without further checks. Parsing never allocates and never reads outside the span it is
/// given, whatever the bytes are.
///
/// `Mutable...View` variants (parsed from `std::span<std::byte>`) add setters, for editing a
/// packet in place; they convert to the read-only view they extend.
///
/// @code
/// std::array<std::byte, 2048> buf;
/// std::size_t n = dev.read(buf);
/// auto pkt = tunkit::parse_ip(std::span(buf).first(n));
/// if (!pkt) {
///   fmt::print("dropped: {}\n", pkt.error());  // "IPv4: total length 1500 beyond buffer 60"
/// } else if (const tunkit::UdpView* udp = pkt->udp()) {
///   handle(pkt->src(), udp->src_port(), udp->payload());
/// }
/// @endcode
///
/// This umbrella header includes every header of tunkit/packet/: the result and error types
/// (errors.hpp), one header per protocol (ethernet, arp, ipv4, ipv6, tcp, udp, icmp), whole
/// packets (ip_packet.hpp), the reply builders (build.hpp) and the checksums (checksum.hpp).

// IWYU pragma: begin_exports
#include "tunkit/packet/arp.hpp"
#include "tunkit/packet/build.hpp"
#include "tunkit/packet/bytes.hpp"
#include "tunkit/packet/checksum.hpp"
#include "tunkit/packet/errors.hpp"
#include "tunkit/packet/ethernet.hpp"
#include "tunkit/packet/icmp.hpp"
#include "tunkit/packet/ip_packet.hpp"
#include "tunkit/packet/ip_protocol.hpp"
#include "tunkit/packet/ipv4.hpp"
#include "tunkit/packet/ipv6.hpp"
#include "tunkit/packet/tcp.hpp"
#include "tunkit/packet/udp.hpp"
#include "tunkit/result.hpp"
// IWYU pragma: end_exports
