// The routes of the fake rtnetlink: those added by requests, those the kernel makes for
// addresses, and RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE; routes dropped when a link can no
// longer carry them.
#include "testing/fake_rtnetlink/internal.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <tuple>
#include <utility>

namespace tunkit::testing {
namespace fake_rtnl {
namespace {

// The routes the kernel makes for a link's addresses (RTPROT_KERNEL): fib_add_ifaddr for IPv4
// (primary addresses, while the link is up; for a peer, its network), addrconf_prefix_route for
// IPv6 (metric 256; a /128 with a peer: routes to both ends).
std::vector<FakeRtnetlink::RouteRecord> kernel_routes(const LinkRecord& link) {
  std::vector<FakeRtnetlink::RouteRecord> out;
  auto add = [&](const IpPrefix& dst, const IpAddress& local, bool v4) {
    FakeRtnetlink::RouteRecord r;
    r.destination = {dst.network(), dst.length};
    r.oif = link.ifindex;
    r.metric = v4 ? 0 : 256;
    r.protocol = RTPROT_KERNEL;
    r.scope = v4 ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
    if (v4) r.source = local;
    if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
  };
  for (std::size_t i = 0; i < link.addresses.size(); ++i) {
    const IpPrefix& p = link.addresses[i];
    const auto peer = link.peers.find(p);
    if (p.address.is_v4()) {
      if ((link.flags & IFF_UP) == 0 || is_secondary(link.addresses, i)) continue;
      if (peer != link.peers.end()) {
        add({peer->second, p.length}, p.address, true);
      } else if (p.length < 32) {
        add(p, p.address, true);
      }
    } else if (peer != link.peers.end()) {
      add({p.address, 128}, p.address, false);
      add({peer->second, 128}, p.address, false);
    } else if (p.length < 128) {
      add(p, p.address, false);
    }
  }
  return out;
}

Datagram route_message(const FakeRtnetlink::RouteRecord& r, std::uint16_t type, std::uint16_t flags,
                       std::uint32_t seq, std::uint32_t port) {
  Builder b(type, flags, seq, port);
  const bool v4 = r.destination.address.is_v4();
  rtmsg rtm{};
  rtm.rtm_family = v4 ? AF_INET : AF_INET6;
  rtm.rtm_dst_len = r.destination.length;
  rtm.rtm_table =
      r.table <= 255 ? static_cast<std::uint8_t>(r.table) : std::uint8_t{RT_TABLE_UNSPEC};
  rtm.rtm_protocol = r.protocol;
  rtm.rtm_scope = r.scope;
  rtm.rtm_type = r.type;
  b.header(rtm);
  b.u32(RTA_TABLE, r.table);
  if (r.destination.length > 0) b.bytes(RTA_DST, r.destination.address.bytes());
  // fib_dump_info puts RTA_PRIORITY only when non-zero; rt6_fill_node always.
  if (!v4 || r.metric != 0) b.u32(RTA_PRIORITY, r.metric);
  if (r.source) b.bytes(RTA_PREFSRC, r.source->bytes());
  if (r.gateway) b.bytes(RTA_GATEWAY, r.gateway->bytes());
  b.u32(RTA_OIF, r.oif);
  if (!v4) b.u8(RTA_PREF, 0);  // ICMPV6_ROUTER_PREF_MEDIUM
  return b.take();
}

std::uint32_t route_group(const IpAddress& a) {
  return a.is_v4() ? RTMGRP_IPV4_ROUTE : RTMGRP_IPV6_ROUTE;
}

}  // namespace

// Whether `gateway` is on a network the link reaches directly: one of its address prefixes or
// peers (IPv4: fib_check_nh_nongw; IPv6: ip6_validate_gw, link-local gateways included).
bool on_link(const LinkRecord& link, const IpAddress& gateway) {
  for (const IpPrefix& p : link.addresses) {
    if (p.address.family() != gateway.family()) continue;
    const auto peer = link.peers.find(p);
    const IpAddress base = peer != link.peers.end() ? peer->second : p.address;
    if (IpPrefix{base, p.length}.contains(gateway)) return true;
  }
  return false;
}

}  // namespace fake_rtnl

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

// The route a NEWROUTE/DELROUTE request describes. false: malformed (EINVAL).
bool FakeRtnetlink::Handler::request_route(RouteRecord& route, bool& has_oif,
                                           bool& has_gateway) const {
  const bool v4 = r_.family == AF_INET;
  const std::size_t size = v4 ? 4 : 16;
  if (r_.prefix_length > (v4 ? 32 : 128)) return false;
  route.destination.address = v4 ? IpAddress::v4({}) : IpAddress::v6({});
  route.destination.length = r_.prefix_length;
  if (const Attribute* a = attr(RTA_DST)) {
    if (a->payload.size() != size) return false;
    route.destination.address = *to_address(r_.family, a->payload);
  }
  has_gateway = false;
  if (const Attribute* a = attr(RTA_GATEWAY)) {
    if (a->payload.size() != size) return false;
    route.gateway = to_address(r_.family, a->payload);
    has_gateway = true;
  }
  if (const Attribute* a = attr(RTA_PREFSRC)) {
    if (a->payload.size() != size) return false;
    route.source = to_address(r_.family, a->payload);
  }
  has_oif = false;
  if (const Attribute* a = attr(RTA_OIF)) {
    if (!a->u32()) return false;
    route.oif = *a->u32();
    has_oif = true;
  }
  if (const Attribute* a = attr(RTA_PRIORITY)) {
    if (!a->u32()) return false;
    route.metric = *a->u32();
  }
  route.table = r_.table;
  if (const Attribute* a = attr(RTA_TABLE)) {
    if (!a->u32()) return false;
    route.table = *a->u32();
  }
  if (route.table == RT_TABLE_UNSPEC) route.table = RT_TABLE_MAIN;
  route.protocol = r_.protocol;
  route.scope = r_.scope;
  route.type = r_.route_type;
  return true;
}

// inet_rtm_newroute / inet6_rtm_newroute (fib_table_insert, ip6_route_add)
int FakeRtnetlink::Handler::new_route() {
  if (r_.family != AF_INET && r_.family != AF_INET6) return EOPNOTSUPP;
  const bool v4 = r_.family == AF_INET;
  RouteRecord route;
  bool has_oif = false;
  bool has_gateway = false;
  if (!request_route(route, has_oif, has_gateway)) return EINVAL;
  if (attr(RTA_MULTIPATH) != nullptr || attr(RTA_NH_ID) != nullptr || !has_oif) {
    return EOPNOTSUPP;  // not simulated
  }
  if (route.type != RTN_UNICAST) return EOPNOTSUPP;
  LinkRecord* link = here(route.oif);
  if (link == nullptr) return ENODEV;
  if (v4) {
    if (route.destination.network() != route.destination.address) return EINVAL;
  } else {
    if (link->mtu < kIpv6MinMtu) return ENODEV;  // no inet6_dev
    route.destination.address = route.destination.network();
    if (route.metric == 0) route.metric = 1024;  // IP6_RT_PRIO_USER
  }
  // A gateway first: on a down link no connected route reaches it, whatever its subnet
  // (measured on 6.18: "Nexthop has invalid gateway"); a route without one gets ENETDOWN.
  const bool up = (link->flags & IFF_UP) != 0;
  if (route.gateway && (!up || !on_link(*link, *route.gateway))) {
    return v4 ? ENETUNREACH : EHOSTUNREACH;
  }
  if (!up) return ENETDOWN;
  if (route.source) {
    const bool local = std::any_of(fake_.links_.begin(), fake_.links_.end(), [&](const auto& l) {
      const auto& a = l.second.addresses;
      return l.second.netns == socket_.netns &&
             std::any_of(a.begin(), a.end(),
                         [&](const IpPrefix& p) { return p.address == *route.source; });
    });
    if (!local) return EINVAL;
  }
  if (!v4) route.scope = RT_SCOPE_UNIVERSE;  // IPv6 has no route scopes
  const auto same = std::find_if(fake_.routes_.begin(), fake_.routes_.end(), [&](const auto& r) {
    return r.destination == route.destination && r.table == route.table &&
           r.metric == route.metric && fake_.link_netns(r.oif) == socket_.netns;
  });
  if (same != fake_.routes_.end()) {
    if ((nlh_->nlmsg_flags & NLM_F_EXCL) != 0) return EEXIST;
    *same = route;
  } else {
    fake_.routes_.push_back(route);
  }
  fake_.notify(route_group(route.destination.address), socket_.netns,
               route_message(route, RTM_NEWROUTE, 0, nlh_->nlmsg_seq, socket_.port_id));
  return 0;
}

// inet_rtm_delroute / inet6_rtm_delroute
int FakeRtnetlink::Handler::delete_route() {
  if (r_.family != AF_INET && r_.family != AF_INET6) return EOPNOTSUPP;
  const bool v4 = r_.family == AF_INET;
  RouteRecord want;
  bool has_oif = false;
  bool has_gateway = false;
  if (!request_route(want, has_oif, has_gateway)) return EINVAL;
  if (!v4) want.destination.address = want.destination.network();
  if (has_oif && here(want.oif) == nullptr) return ENODEV;
  const auto it = std::find_if(fake_.routes_.begin(), fake_.routes_.end(), [&](const auto& r) {
    return fake_.link_netns(r.oif) == socket_.netns && r.destination == want.destination &&
           r.table == want.table && (!has_oif || r.oif == want.oif) &&
           (!has_gateway || r.gateway == want.gateway) &&
           (want.metric == 0 || r.metric == want.metric) &&
           (want.protocol == 0 || r.protocol == want.protocol);
  });
  if (it == fake_.routes_.end()) return ESRCH;
  const RouteRecord removed = *it;
  fake_.routes_.erase(it);
  fake_.notify(route_group(removed.destination.address), socket_.netns,
               route_message(removed, RTM_DELROUTE, 0, nlh_->nlmsg_seq, socket_.port_id));
  return 0;
}

// inet_dump_fib / inet6_dump_fib, with ip_valid_fib_dump_req on strict sockets.
int FakeRtnetlink::Handler::dump_routes(std::vector<Datagram>& out) {
  const bool v4 = r_.family == AF_UNSPEC || r_.family == AF_INET;
  const bool v6 = r_.family == AF_UNSPEC || r_.family == AF_INET6;
  if (!v4 && !v6) return EOPNOTSUPP;
  unsigned only_oif = 0;
  std::uint32_t only_table = 0;
  if (socket_.strict) {
    if (r_.prefix_length != 0 || r_.scope != 0) return EINVAL;
    for (const auto& a : r_.attributes) {
      if (a.type == RTA_OIF && a.u32()) {
        only_oif = *a.u32();
      } else if (a.type == RTA_TABLE && a.u32()) {
        only_table = *a.u32();
      } else {
        return EINVAL;
      }
    }
    if (only_table == 0) only_table = r_.table;
  }
  for (const bool want_v4 : {true, false}) {
    if ((want_v4 && !v4) || (!want_v4 && !v6)) continue;
    std::vector<RouteRecord> all;
    for (const auto& [index, link] : fake_.links_) {
      if (link.netns != socket_.netns) continue;
      for (const RouteRecord& r : kernel_routes(link))
        all.push_back(r);
    }
    for (const RouteRecord& r : fake_.routes_) {
      if (fake_.link_netns(r.oif) == socket_.netns) all.push_back(r);
    }
    std::stable_sort(all.begin(), all.end(), [](const RouteRecord& a, const RouteRecord& b) {
      return std::tie(a.destination, a.metric) < std::tie(b.destination, b.metric);
    });
    for (const RouteRecord& r : all) {
      if (r.destination.address.is_v4() != want_v4) continue;
      if ((only_oif != 0 && r.oif != only_oif) || (only_table != 0 && r.table != only_table)) {
        continue;
      }
      append_multi(out,
                   route_message(r, RTM_NEWROUTE, NLM_F_MULTI, nlh_->nlmsg_seq, socket_.port_id));
    }
  }
  append_multi(out, done());
  return 0;
}

void FakeRtnetlink::prune_routes(const LinkRecord& link) {
  std::erase_if(routes_, [&](const RouteRecord& r) {
    if (r.oif != link.ifindex) return false;
    if ((link.flags & IFF_UP) == 0) return true;  // fib_sync_down_dev, rt6_sync_down_dev
    if (r.destination.address.is_v6() && link.mtu < kIpv6MinMtu) return true;
    return r.gateway && !on_link(link, *r.gateway);  // fib_sync_down_addr
  });
}

std::optional<std::string_view> FakeRtnetlink::link_netns(unsigned ifindex) const {
  const auto it = links_.find(ifindex);
  if (it == links_.end()) return std::nullopt;
  return std::string_view(it->second.netns);
}

}  // namespace tunkit::testing
