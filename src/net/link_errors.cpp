#include "net/link_errors.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <iterator>
#include <string>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "detail/ifname.hpp"

namespace tunkit::detail {
namespace {

// IPv6 refuses interfaces whose MTU is below its minimum link MTU (RFC 8200 section 5).
constexpr unsigned kIpv6MinMtu = 1280;

std::string_view prefix_length_hint(const IpAddress& address) noexcept {
  return address.is_v4() ? "the prefix length of an IPv4 address is at most 32"
                         : "the prefix length of an IPv6 address is at most 128";
}

std::string_view family_name(const IpAddress& a) noexcept {
  return a.is_v4() ? "IPv4" : "IPv6";
}

// Why route_problem() refused `route`; empty when it did not.
std::string route_hint(const Route& route) {
  const IpPrefix& dst = route.destination;
  switch (route_problem(route)) {
    case RouteProblem::none:
      return {};
    case RouteProblem::prefix_length:
      return std::string(prefix_length_hint(dst.address));
    case RouteProblem::host_bits:
      // IPv4 would answer EINVAL; IPv6 would silently clear the bits. Refused alike.
      return fmt::format("host bits are set: the network is {}/{}", dst.network().to_string(),
                         dst.length);
    case RouteProblem::gateway_family:
      return fmt::format("the gateway is {} but the destination is {}", family_name(*route.gateway),
                         family_name(dst.address));
    case RouteProblem::source_family:
      return fmt::format("the source is {} but the destination is {}", family_name(*route.source),
                         family_name(dst.address));
  }
  return {};
}

// "10.9.0.0/16 via 10.0.0.254 metric 5", as `ip route` writes it.
std::string describe(const Route& route) {
  std::string out = route.destination.to_string();
  if (route.gateway) fmt::format_to(std::back_inserter(out), " via {}", route.gateway->to_string());
  if (route.metric != 0) fmt::format_to(std::back_inserter(out), " metric {}", route.metric);
  return out;
}

// "10.0.0.1 peer 10.0.0.2/32", as `ip addr` takes it.
std::string peer_text(const IpAddress& local, const IpPrefix& peer) {
  return fmt::format("{} peer {}", local.to_string(), peer.to_string());
}

std::string peer_hint(const IpAddress& local, const IpPrefix& peer) {
  if (local.family() != peer.address.family()) {
    return fmt::format("the local address is {} but the peer is {}", family_name(local),
                       family_name(peer.address));
  }
  return std::string(prefix_length_hint(peer.address));
}

// The hint of an IPv6 failure that the interface's MTU explains (below 1280: no IPv6 on it);
// `fallback` when the MTU is fine or cannot be read.
std::string ipv6_mtu_hint(const Link& link, std::string fallback) {
  std::error_code state_ec;
  const LinkState s = link.state(state_ec);
  if (state_ec || s.mtu >= kIpv6MinMtu) return fallback;
  return fmt::format("IPv6 needs an MTU of at least {}; this interface has {}", kIpv6MinMtu, s.mtu);
}

}  // namespace

std::string_view change_hint(std::error_code ec) noexcept {
  if (is_errno(ec, EPERM)) return "needs CAP_NET_ADMIN in the interface's network namespace";
  if (is_errno(ec, ENODEV)) return "the interface no longer exists";
  return {};
}

RouteProblem route_problem(const Route& route) noexcept {
  const IpPrefix& dst = route.destination;
  if (!dst.is_valid()) return RouteProblem::prefix_length;
  if (dst.network() != dst.address) return RouteProblem::host_bits;
  if (route.gateway && route.gateway->family() != dst.address.family()) {
    return RouteProblem::gateway_family;
  }
  if (route.source && route.source->family() != dst.address.family()) {
    return RouteProblem::source_family;
  }
  return RouteProblem::none;
}

Error link_error(const Link& link, std::string_view op, std::error_code ec) {
  return make_error(ec, op, link.name(), change_hint(ec));
}

Error mtu_error(const Link& link, unsigned mtu, std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::out_of_range || is_errno(ec, EINVAL)) {
    // The range is asked again here; the ec form has no room to return it.
    std::error_code state_ec;
    const LinkState s = link.state(state_ec);
    if (!state_ec && s.max_mtu != 0 && (mtu < s.min_mtu || mtu > s.max_mtu)) {
      hint = fmt::format("{}..{}", s.min_mtu, s.max_mtu);
    } else if (ec == errc::out_of_range || state_ec || s.max_mtu == 0) {
      hint = "MTU out of range for this device";
    }
  }
  return make_error(ec, fmt::format("set MTU {} on", mtu), link.name(), hint);
}

Error txqueuelen_error(const Link& link, unsigned packets, std::error_code ec) {
  return make_error(ec, fmt::format("set txqueuelen {} on", packets), link.name(), change_hint(ec));
}

Error mac_error(const Link& link, const MacAddress& mac, std::error_code ec) {
  std::string_view hint = change_hint(ec);
  if (ec == errc::invalid_address || is_errno(ec, EADDRNOTAVAIL)) {
    hint = "a device address must be unicast and not all zeros";
  } else if (is_errno(ec, EOPNOTSUPP)) {
    hint = "this device has no link-layer address to set (TUN devices have none; TAP devices do)";
  } else if (is_errno(ec, EBUSY)) {
    hint = "the device does not accept a new address while it is up: set it down first";
  }
  // errc::invalid_address reads "invalid IP address or prefix": say what was wrong instead.
  if (ec == errc::invalid_address) {
    return Error(ec, fmt::format("tunkit: set MAC address {} on \"{}\": invalid MAC address ({})",
                                 mac.to_string(), link.name(), hint));
  }
  return make_error(ec, fmt::format("set MAC address {} on", mac.to_string()), link.name(), hint);
}

Error rename_error(std::string_view old_name, std::string_view new_name, std::error_code ec) {
  std::string_view hint = change_hint(ec);
  if (is_errno(ec, EBUSY)) {
    hint = "the interface is up: set it down first";
  } else if (is_errno(ec, EEXIST)) {
    hint = "another interface has that name";
  } else if (ec == errc::invalid_name) {
    hint = new_name.empty() ? "the name is empty" : interface_name_hint(ec);
  }
  return make_error(ec, fmt::format("rename \"{}\" to \"{}\"", old_name, new_name), {}, hint);
}

Error add_address_error(const Link& link, const IpPrefix& prefix, std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) {
    hint = prefix_length_hint(prefix.address);
  } else if (prefix.address.is_v6() && is_errno(ec, EACCES)) {
    hint = fmt::format("IPv6 is disabled on this interface (sysctl net.ipv6.conf.{}.disable_ipv6)",
                       link.name());
  } else if (prefix.address.is_v6() && is_errno(ec, EINVAL)) {
    hint = ipv6_mtu_hint(link, std::move(hint));
  }
  return make_error(ec, fmt::format("add address {} on", prefix.to_string()), link.name(), hint);
}

Error remove_address_error(const Link& link, const IpPrefix& prefix, std::error_code ec) {
  std::string_view hint = change_hint(ec);
  if (is_errno(ec, EADDRNOTAVAIL)) {
    hint = "no assigned address matches both address and prefix length";
  } else if (ec == errc::invalid_address) {
    hint = prefix_length_hint(prefix.address);
  }
  return make_error(ec, fmt::format("remove address {} from", prefix.to_string()), link.name(),
                    hint);
}

Error add_peer_address_error(const Link& link, const IpAddress& local, const IpPrefix& peer,
                             std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) hint = peer_hint(local, peer);
  return make_error(ec, fmt::format("add address {} on", peer_text(local, peer)), link.name(),
                    hint);
}

Error remove_peer_address_error(const Link& link, const IpAddress& local, const IpPrefix& peer,
                                std::error_code ec) {
  std::string hint(change_hint(ec));
  if (is_errno(ec, EADDRNOTAVAIL)) {
    hint = "no assigned address matches local address, peer and prefix length";
  } else if (ec == errc::invalid_address) {
    hint = peer_hint(local, peer);
  }
  return make_error(ec, fmt::format("remove address {} from", peer_text(local, peer)), link.name(),
                    hint);
}

Error add_route_error(const Link& link, const Route& route, std::error_code ec) {
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) {
    hint = route_hint(route);
  } else if (is_errno(ec, ENETDOWN)) {
    hint = "the interface is down: set it up first";
  } else if ((is_errno(ec, ENETUNREACH) || is_errno(ec, EHOSTUNREACH)) && route.gateway) {
    hint = fmt::format(
        "the gateway {} is not on a network this interface reaches: add an address in its "
        "subnet first",
        route.gateway->to_string());
  } else if (is_errno(ec, EEXIST)) {
    hint = "a route to this destination with this metric exists";
  } else if (is_errno(ec, EINVAL) && route.source) {
    hint = fmt::format("is the source {} an address of this host?", route.source->to_string());
  } else if (is_errno(ec, ENODEV) && route.destination.address.is_v6()) {
    hint = ipv6_mtu_hint(link, std::move(hint));
  }
  return make_error(ec, fmt::format("add route {} on", describe(route)), link.name(), hint);
}

Error remove_route_error(const Link& link, const Route& route, std::error_code ec) {
  if (is_errno(ec, ESRCH)) {
    // strerror(ESRCH) is "No such process", which would mislead here.
    return Error(ec, fmt::format("tunkit: remove route {} from \"{}\": no such route (no route "
                                 "through this interface matches destination, gateway and metric)",
                                 describe(route), link.name()));
  }
  std::string hint(change_hint(ec));
  if (ec == errc::invalid_address) hint = route_hint(route);
  return make_error(ec, fmt::format("remove route {} from", describe(route)), link.name(), hint);
}

Error move_error(std::string_view name, std::string_view target, std::error_code ec) {
  std::string_view hint = change_hint(ec);
  if (is_errno(ec, EEXIST)) {
    hint = "the target namespace has an interface of the same name: rename it first";
  } else if (is_errno(ec, EINVAL)) {
    hint = "not a network namespace, or an interface that cannot change namespace (lo)";
  } else if (is_errno(ec, EPERM)) {
    hint = "needs CAP_NET_ADMIN in both network namespaces";
  } else if (is_errno(ec, EBADF)) {
    hint = "the namespace descriptor is not open";
  }
  return make_error(ec, fmt::format("move \"{}\" to network namespace {}", name, target), {}, hint);
}

}  // namespace tunkit::detail
