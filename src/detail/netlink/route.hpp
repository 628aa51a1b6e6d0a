#pragma once
// The route family (RTM_*ROUTE): what a route message says, and the requests that add, remove
// and list routes.

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <optional>
#include <system_error>

#include "detail/netlink/request.hpp"
#include "tunkit/address.hpp"

namespace tunkit::detail::netlink {

/// A route as RTM_NEWROUTE describes it, and as route requests carry it.
struct RouteMessage {
  std::uint16_t message_type = RTM_NEWROUTE;  ///< nlmsg_type (decoded messages)
  IpPrefix destination;                       ///< RTA_DST (absent: the default route) / dst_len
  std::optional<IpAddress> gateway;           ///< RTA_GATEWAY
  std::optional<IpAddress> source;            ///< RTA_PREFSRC
  std::uint32_t oif = 0;                      ///< RTA_OIF (0: none, e.g. multipath)
  std::uint32_t priority = 0;                 ///< RTA_PRIORITY (the metric)
  std::uint32_t table = RT_TABLE_MAIN;        ///< RTA_TABLE, else rtm_table
  std::uint8_t protocol = RTPROT_STATIC;      ///< rtm_protocol (RTPROT_*)
  std::uint8_t scope = RT_SCOPE_UNIVERSE;     ///< rtm_scope (RT_SCOPE_*)
  std::uint8_t type = RTN_UNICAST;            ///< rtm_type (RTN_*)
};

/// Decodes an RTM_NEWROUTE or RTM_DELROUTE message. EAFNOSUPPORT for families other than AF_INET /
/// AF_INET6 (multicast routing tables, MPLS); `errc::netlink_protocol` when it is malformed.
[[nodiscard]] std::error_code decode_route(const nlmsghdr& message, RouteMessage& out) noexcept;

/// RTM_NEWROUTE (NLM_F_CREATE | NLM_F_EXCL) adding `route`: rtm_table RT_TABLE_MAIN (and
/// RTA_TABLE for tables beyond 255), rtm_protocol, rtm_scope and rtm_type as given; RTA_DST
/// (unless the prefix length is 0), RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_PRIORITY when set.
[[nodiscard]] Request add_route(const RouteMessage& route) noexcept;
/// RTM_DELROUTE for `route`, as `ip route del` sends it: rtm_protocol 0 (any), rtm_scope
/// RT_SCOPE_NOWHERE (any), rtm_type 0 (any); RTA_PRIORITY only when non-zero (0 matches any).
[[nodiscard]] Request remove_route(const RouteMessage& route) noexcept;
/// RTM_GETROUTE dump of one family (AF_INET or AF_INET6), every table; callers filter.
[[nodiscard]] Request dump_routes(std::uint8_t family) noexcept;

}  // namespace tunkit::detail::netlink
