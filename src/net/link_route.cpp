// tunkit::Link's routes: adding and removing routes through the interface, and listing them.
#include "tunkit/link.hpp"

#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>

#include "detail/eintr.hpp"
#include "detail/netlink/no_throw.hpp"
#include "detail/netlink/route.hpp"
#include "detail/netlink/socket.hpp"
#include "net/link_errors.hpp"
#include "net/link_request.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::is_errno;

// The public enum carries the kernel's values; keep it honest.
static_assert(static_cast<unsigned>(RouteProtocol::kernel) == RTPROT_KERNEL);
static_assert(static_cast<unsigned>(RouteProtocol::boot) == RTPROT_BOOT);
static_assert(static_cast<unsigned>(RouteProtocol::static_route) == RTPROT_STATIC);

// A route is refused before any request for what route_problem() finds.
std::error_code check(const Route& route) noexcept {
  if (detail::route_problem(route) != detail::RouteProblem::none) return errc::invalid_address;
  return {};
}

nl::RouteMessage to_message(const Route& route, unsigned ifindex) noexcept {
  nl::RouteMessage m;
  m.destination = route.destination;
  m.gateway = route.gateway;
  m.source = route.source;
  m.oif = ifindex;
  m.priority = route.metric;
  m.table = RT_TABLE_MAIN;
  m.protocol = static_cast<std::uint8_t>(route.protocol);
  // ip-route(8): a route without a gateway is on the link; with one it reaches further.
  m.scope = route.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  m.type = RTN_UNICAST;
  return m;
}

}  // namespace

void Link::add_route(const Route& route) {
  std::error_code ec;
  add_route(route, ec);
  if (ec) throw detail::add_route_error(*this, route, ec);
}

void Link::add_route(const Route& route, std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::add_route(to_message(route, ifindex_)),
                              check(route));
  // Through a down interface the kernel answers a route with a gateway as if the gateway were
  // on no network of it (ENETUNREACH, EHOSTUNREACH for IPv6): look, and report the cause.
  if ((detail::is_errno(ec, ENETUNREACH) || detail::is_errno(ec, EHOSTUNREACH)) && route.gateway) {
    std::error_code state_ec;
    const LinkState now = state(state_ec);
    if (!state_ec && !now.up) ec = detail::sys_error(ENETDOWN);
  }
}

void Link::remove_route(const Route& route) {
  std::error_code ec;
  remove_route(route, ec);
  if (ec) throw detail::remove_route_error(*this, route, ec);
}

void Link::remove_route(const Route& route, std::error_code& ec) noexcept {
  ec = detail::request_change(socket_.get(), nl::remove_route(to_message(route, ifindex_)),
                              check(route));
}

std::vector<Route> Link::routes() const {
  return detail::read_or_throw(*this, "read routes of",
                               [&](std::error_code& ec) { return routes(ec); });
}

std::vector<Route> Link::routes(std::error_code& ec) const noexcept {
  std::vector<Route> result;
  if (!socket_) {
    ec = errc::not_open;
    return result;
  }
  for (const std::uint8_t family : {std::uint8_t{AF_INET}, std::uint8_t{AF_INET6}}) {
    std::vector<Route> found;
    auto on_message = [&](const nlmsghdr& message) -> std::error_code {
      if (message.nlmsg_type != RTM_NEWROUTE) return {};
      nl::RouteMessage m;
      const std::error_code decode_ec = nl::decode_route(message, m);
      if (is_errno(decode_ec, EAFNOSUPPORT)) return {};
      if (decode_ec) return decode_ec;
      // The dump holds every table and interface; `ip route show dev NAME` shows these.
      if (m.table != RT_TABLE_MAIN || m.type != RTN_UNICAST || m.oif != ifindex_) return {};
      return nl::no_throw([&] {
        found.push_back(Route{m.destination, m.gateway, m.priority,
                              static_cast<RouteProtocol>(m.protocol), m.source});
      });
    };
    auto request = nl::dump_routes(family);
    ec = socket_->dump(request, on_message, [&] { found.clear(); });
    if (!ec) ec = nl::no_throw([&] { result.insert(result.end(), found.begin(), found.end()); });
    if (ec) {
      result.clear();
      return result;
    }
  }
  return result;
}

}  // namespace tunkit
