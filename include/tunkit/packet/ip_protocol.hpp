#pragma once
/// @file
/// `IpProtocol`: the IPv4 protocol / IPv6 next-header numbers tunkit knows by name, shared by the
/// IPv4 and IPv6 views and the whole-packet parser.

#include <cstdint>

namespace tunkit {

/// IP protocol numbers (IPv4 "protocol", IPv6 "next header") that tunkit knows by name. Other
/// values are valid too: `static_cast<IpProtocol>(n)`.
enum class IpProtocol : std::uint8_t {
  hop_by_hop = 0,  ///< IPv6 hop-by-hop options header
  icmp = 1,        ///< ICMP for IPv4
  tcp = 6,         ///< TCP
  udp = 17,        ///< UDP
  routing = 43,    ///< IPv6 routing header
  fragment = 44,   ///< IPv6 fragment header
  esp = 50,        ///< IPsec ESP (opaque: the walk stops here)
  ah = 51,         ///< IPsec authentication header
  icmpv6 = 58,     ///< ICMPv6
  no_next = 59,    ///< IPv6 "no next header"
  dest_opts = 60,  ///< IPv6 destination options header
};

}  // namespace tunkit
