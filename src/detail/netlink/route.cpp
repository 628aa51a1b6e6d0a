#include "detail/netlink/route.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/netlink/message.hpp"
#include "detail/netlink/parse.hpp"

namespace tunkit::detail::netlink {
namespace {

Request route_request(std::uint16_t type, std::uint16_t flags, const RouteMessage& route,
                      bool removal) noexcept {
  Request r(type, flags);
  rtmsg rtm{};
  rtm.rtm_family = route.destination.address.is_v4() ? AF_INET : AF_INET6;
  rtm.rtm_dst_len = route.destination.length;
  // Tables beyond 255 do not fit rtm_table: RTA_TABLE carries them (rtnetlink(7)).
  rtm.rtm_table =
      route.table <= 255 ? static_cast<std::uint8_t>(route.table) : std::uint8_t{RT_TABLE_UNSPEC};
  if (removal) {
    // As `ip route del`: match any protocol, scope and type.
    rtm.rtm_protocol = RTPROT_UNSPEC;
    rtm.rtm_scope = RT_SCOPE_NOWHERE;
    rtm.rtm_type = RTN_UNSPEC;
  } else {
    rtm.rtm_protocol = route.protocol;
    rtm.rtm_scope = route.scope;
    rtm.rtm_type = route.type;
  }
  r.put_header(rtm);
  if (route.table > 255) r.put_u32(RTA_TABLE, route.table);
  if (route.destination.length > 0) r.put_bytes(RTA_DST, route.destination.address.bytes());
  if (route.oif != 0) r.put_u32(RTA_OIF, route.oif);
  if (route.gateway) r.put_bytes(RTA_GATEWAY, route.gateway->bytes());
  if (route.source && !removal) r.put_bytes(RTA_PREFSRC, route.source->bytes());
  if (route.priority != 0) r.put_u32(RTA_PRIORITY, route.priority);
  return r;
}

}  // namespace

std::error_code decode_route(const nlmsghdr& message, RouteMessage& out) noexcept {
  if (message.nlmsg_type != RTM_NEWROUTE && message.nlmsg_type != RTM_DELROUTE) {
    return protocol_error();
  }
  rtmsg rtm{};
  AttributeTable<RTA_TABLE + 1> attrs{};
  if (auto ec = parse_message(message, rtm, attrs)) return ec;
  if (rtm.rtm_family != AF_INET && rtm.rtm_family != AF_INET6) return sys_error(EAFNOSUPPORT);
  out = {};
  out.message_type = message.nlmsg_type;
  out.table = rtm.rtm_table;
  out.protocol = rtm.rtm_protocol;
  out.scope = rtm.rtm_scope;
  out.type = rtm.rtm_type;
  // Without RTA_DST the destination is the family's any-address ("default").
  out.destination.address = rtm.rtm_family == AF_INET ? IpAddress::v4({}) : IpAddress::v6({});
  out.destination.length = rtm.rtm_dst_len;
  if (!out.destination.is_valid()) return protocol_error();
  if (const nlattr* a = attrs[RTA_DST]) {
    const auto dst = get_address(rtm.rtm_family, *a);
    if (!dst) return protocol_error();
    out.destination.address = *dst;
  }
  for (const auto& [type, field] :
       {std::pair{RTA_GATEWAY, &out.gateway}, std::pair{RTA_PREFSRC, &out.source}}) {
    if (const nlattr* a = attrs[type]) {
      *field = get_address(rtm.rtm_family, *a);
      if (!*field) return protocol_error();
    }
  }
  for (const auto& [type, field] :
       {std::pair{RTA_OIF, &out.oif}, std::pair{RTA_PRIORITY, &out.priority},
        std::pair{RTA_TABLE, &out.table}}) {
    if (const nlattr* a = attrs[type]) {
      const auto value = get_u32(*a);
      if (!value) return protocol_error();
      *field = *value;
    }
  }
  return {};
}

Request add_route(const RouteMessage& route) noexcept {
  return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route, false);
}

Request remove_route(const RouteMessage& route) noexcept {
  return route_request(RTM_DELROUTE, 0, route, true);
}

Request dump_routes(std::uint8_t family) noexcept {
  Request r(RTM_GETROUTE, NLM_F_DUMP);
  rtmsg rtm{};
  rtm.rtm_family = family;
  r.put_header(rtm);
  return r;
}

}  // namespace tunkit::detail::netlink
