// The link table of the fake rtnetlink and its requests: RTM_GETLINK (one or a dump),
// RTM_NEWLINK on an existing link (flags, MTU, name, txqueuelen, MAC address, namespace), and
// FakeKernel's own calls (add_link, set_carrier, set_admin_up...).
#include "testing/fake_rtnetlink/internal.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace tunkit::testing {
namespace fake_rtnl {
namespace {

// What RTM_NEWLINK's ifi_flags may change directly (dev_change_flags in net/core/dev.c); IFF_UP
// is a transition, IFF_PROMISC/IFF_ALLMULTI are counted in the kernel and plain bits here.
constexpr unsigned kChangeableFlags = IFF_DEBUG | IFF_NOTRAILERS | IFF_NOARP | IFF_DYNAMIC |
                                      IFF_MULTICAST | IFF_PORTSEL | IFF_AUTOMEDIA | IFF_PROMISC |
                                      IFF_ALLMULTI;
// Each bit on its own: with <net/if.h> also included (a unity build), IFF_RUNNING is glibc's
// enumerator and IFF_LOWER_UP the kernel's, and | between two enumerations is deprecated.
constexpr unsigned kOperFlags = unsigned{IFF_RUNNING} | unsigned{IFF_LOWER_UP};
constexpr unsigned kUp = IFF_UP;

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r');
  });
}

// The lowest free name for a template with one "%d" in `netns` (__dev_alloc_name).
template <typename Taken>
std::optional<std::string> resolve_template(const std::string& name, Taken&& taken) {
  const auto p = name.find('%');
  if (p == std::string::npos) return name;
  if (p + 1 >= name.size() || name[p + 1] != 'd' || name.find('%', p + 2) != std::string::npos) {
    return std::nullopt;
  }
  for (unsigned i = 0; i < 32768; ++i) {
    std::string candidate = name.substr(0, p) + std::to_string(i) + name.substr(p + 2);
    if (candidate.size() >= IFNAMSIZ) return std::nullopt;
    if (!taken(candidate)) return candidate;
  }
  return std::nullopt;
}

}  // namespace

// IFF_RUNNING and IFF_LOWER_UP follow IFF_UP and the carrier (dev_get_flags).
void refresh(LinkRecord& link) {
  link.flags &= ~kOperFlags;
  if ((link.flags & IFF_UP) != 0 && link.carrier) link.flags |= kOperFlags;
}

Datagram link_message(const LinkRecord& link, std::uint16_t type, std::uint16_t flags,
                      std::uint32_t seq, std::uint32_t port, const TunInfo* tun) {
  Builder b(type, flags, seq, port);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_type = link.type;
  ifi.ifi_index = static_cast<int>(link.ifindex);
  ifi.ifi_flags = link.flags;
  b.header(ifi);
  b.str(IFLA_IFNAME, link.name);
  b.u32(IFLA_TXQLEN, link.txqlen);
  // A TUN device does not report RFC 2863 states: UNKNOWN when it has carrier, else DOWN.
  const bool oper_up = (link.flags & IFF_UP) != 0 && link.carrier;
  b.u8(IFLA_OPERSTATE, static_cast<std::uint8_t>(oper_up ? IF_OPER_UNKNOWN : IF_OPER_DOWN));
  b.u8(IFLA_LINKMODE, 0);
  b.u32(IFLA_MTU, link.mtu);
  b.u32(IFLA_MIN_MTU, link.min_mtu);
  b.u32(IFLA_MAX_MTU, link.max_mtu);
  if (link.mac) {
    b.bytes(IFLA_ADDRESS, link.mac->bytes);
    b.bytes(IFLA_BROADCAST, MacAddress::broadcast().bytes);
  }
  // struct rtnl_link_stats64 (24 counters in Linux 6.x); the first eight are the ones kept.
  std::array<std::uint64_t, 24> counters{};
  const LinkStats& st = link.stats;
  counters = {st.rx_packets, st.tx_packets, st.rx_bytes,   st.tx_bytes,
              st.rx_errors,  st.tx_errors,  st.rx_dropped, st.tx_dropped};
  b.bytes(IFLA_STATS64, {reinterpret_cast<const std::uint8_t*>(counters.data()),  // NOLINT
                         sizeof counters});
  {
    // rtnl_xdp_fill: the per-mode ids of what is attached, the mode (MULTI for more than one),
    // and IFLA_XDP_PROG_ID for a single program.
    nlattr* xdp = b.nest(IFLA_XDP);
    std::uint8_t attached = XDP_ATTACHED_NONE;
    std::uint32_t prog_id = 0;
    auto report = [&](std::uint32_t id, std::uint16_t attr_type, std::uint8_t mode) {
      if (id == 0) return;
      prog_id = id;
      b.u32(attr_type, id);
      attached =
          attached != XDP_ATTACHED_NONE ? static_cast<std::uint8_t>(XDP_ATTACHED_MULTI) : mode;
    };
    report(link.xdp_generic_prog, IFLA_XDP_SKB_PROG_ID, XDP_ATTACHED_SKB);
    report(link.xdp_native_prog, IFLA_XDP_DRV_PROG_ID, XDP_ATTACHED_DRV);
    b.u8(IFLA_XDP_ATTACHED, attached);
    if (attached != XDP_ATTACHED_NONE && attached != XDP_ATTACHED_MULTI) {
      b.u32(IFLA_XDP_PROG_ID, prog_id);
    }
    b.end(xdp);
  }
  if (tun != nullptr) {
    // rtnl_link_fill: IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA { tun_fill_info } }.
    nlattr* info = b.nest(IFLA_LINKINFO);
    b.str(IFLA_INFO_KIND, "tun");
    nlattr* data = b.nest(IFLA_INFO_DATA);
    b.u8(IFLA_TUN_TYPE, tun->type);
    if (tun->owner) b.u32(IFLA_TUN_OWNER, *tun->owner);
    if (tun->group) b.u32(IFLA_TUN_GROUP, *tun->group);
    b.u8(IFLA_TUN_PI, tun->packet_info ? 1 : 0);
    b.u8(IFLA_TUN_VNET_HDR, tun->vnet_hdr ? 1 : 0);
    b.u8(IFLA_TUN_PERSIST, tun->persist ? 1 : 0);
    b.u8(IFLA_TUN_MULTI_QUEUE, tun->multi_queue ? 1 : 0);
    if (tun->multi_queue) {
      b.u32(IFLA_TUN_NUM_QUEUES, tun->queues);
      b.u32(IFLA_TUN_NUM_DISABLED_QUEUES, tun->disabled_queues);
    }
    b.end(data);
    b.end(info);
  }
  return b.take();
}

}  // namespace fake_rtnl

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

// --- Requests ----------------------------------------------------------------------------------

// __dev_open / __dev_close and what addrconf and the FIBs do on NETDEV_UP / NETDEV_DOWN:
// the link's notification first, then its addresses' and routes' changes.
void FakeRtnetlink::Handler::set_up(FakeRtnetlink& fake, LinkRecord& link, bool up) {
  const bool was_up = (link.flags & IFF_UP) != 0;
  link.flags = up ? link.flags | kUp : link.flags & ~kUp;
  refresh(link);
  if (up == was_up) return;
  fake.notify_link(link);
  if (up) {
    if (const auto ll = add_link_local(link)) fake.notify_address(link, *ll, RTM_NEWADDR);
  } else {
    for (const IpPrefix& p : drop_v6(link))
      fake.notify_address(link, p, RTM_DELADDR);
    fake.prune_routes(link);
  }
}

// IFLA_INFO_KIND inside a request's IFLA_LINKINFO, or "" (then there is no kind filter).
std::string FakeRtnetlink::Handler::requested_kind() const {
  const Attribute* info = attr(IFLA_LINKINFO);
  if (info == nullptr) return {};
  const auto& p = info->payload;
  std::size_t at = 0;
  while (p.size() - at >= sizeof(nlattr)) {
    nlattr a{};
    std::memcpy(&a, p.data() + at, sizeof a);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > p.size() - at) return {};
    if ((a.nla_type & NLA_TYPE_MASK) == IFLA_INFO_KIND) {
      const auto* text = reinterpret_cast<const char*>(p.data() + at + kAttrHeaderLen);
      return std::string(text, strnlen(text, a.nla_len - kAttrHeaderLen));
    }
    at += align(a.nla_len);
  }
  return {};
}

// rtnl_getlink (with rtnl_valid_getlink_req on strict sockets)
int FakeRtnetlink::Handler::get_link(std::vector<Datagram>& out) {
  if (socket_.strict) {
    if (r_.ifi_flags != 0 || r_.ifi_change != 0) return EINVAL;
    for (const auto& a : r_.attributes) {
      if (a.type != IFLA_IFNAME && a.type != IFLA_EXT_MASK && a.type != IFLA_ALT_IFNAME &&
          a.type != IFLA_TARGET_NETNSID) {
        return EINVAL;
      }
    }
  }
  LinkRecord* link = nullptr;
  if (static_cast<int>(r_.ifindex) > 0) {
    link = here(r_.ifindex);
  } else if (const Attribute* name = attr(IFLA_IFNAME)) {
    if (name->str().size() >= IFNAMSIZ) return ERANGE;
    link = here(name->str());
  } else {
    return EINVAL;
  }
  if (link == nullptr) return ENODEV;
  const auto tun = tun_info(link->ifindex);
  out.push_back(
      link_message(*link, RTM_NEWLINK, 0, nlh_->nlmsg_seq, socket_.port_id, tun ? &*tun : nullptr));
  return 0;
}

// rtnl_dump_ifinfo, with rtnl_valid_dump_ifinfo_req on strict sockets.
int FakeRtnetlink::Handler::dump_links(std::vector<Datagram>& out) {
  if (socket_.strict) {
    if (r_.ifi_flags != 0 || r_.ifi_change != 0 || r_.ifindex != 0) return EINVAL;
    for (const auto& a : r_.attributes) {
      if (a.type != IFLA_TARGET_NETNSID && a.type != IFLA_EXT_MASK && a.type != IFLA_MASTER &&
          a.type != IFLA_LINKINFO) {
        return EINVAL;
      }
    }
  }
  // An unknown kind is no filter at all (linkinfo_to_kind_ops finds no ops); "tun" is known.
  const bool only_tun = requested_kind() == "tun";
  for (const auto& [index, link] : fake_.links_) {
    if (link.netns != socket_.netns) continue;
    const auto tun = tun_info(index);
    if (only_tun && !tun) continue;
    append_multi(out, link_message(link, RTM_NEWLINK, NLM_F_MULTI, nlh_->nlmsg_seq, socket_.port_id,
                                   tun ? &*tun : nullptr));
  }
  append_multi(out, done());
  return 0;
}

// rtnl_newlink on an existing device, then do_setlink: namespace, name, MTU, txqueuelen,
// address, flags, in the kernel's order.
int FakeRtnetlink::Handler::new_link() {
  const Attribute* mtu = attr(IFLA_MTU);
  const Attribute* name = attr(IFLA_IFNAME);
  const Attribute* txqlen = attr(IFLA_TXQLEN);
  const Attribute* address = attr(IFLA_ADDRESS);
  const Attribute* ns_fd = attr(IFLA_NET_NS_FD);
  const Attribute* ns_pid = attr(IFLA_NET_NS_PID);
  if (mtu != nullptr && !mtu->u32()) return EINVAL;
  if (txqlen != nullptr && !txqlen->u32()) return EINVAL;
  if ((ns_fd != nullptr && !ns_fd->u32()) || (ns_pid != nullptr && !ns_pid->u32())) {
    return EINVAL;
  }
  if (name != nullptr && name->str().size() >= IFNAMSIZ) return ERANGE;
  LinkRecord* link = nullptr;
  if (static_cast<int>(r_.ifindex) > 0) {
    link = here(r_.ifindex);
  } else if (name != nullptr) {
    link = here(name->str());
  }
  if (link == nullptr) {
    // Creating a device needs IFLA_LINKINFO with a kind the fake does not implement.
    return (nlh_->nlmsg_flags & NLM_F_CREATE) != 0 ? EOPNOTSUPP : ENODEV;
  }
  if ((nlh_->nlmsg_flags & NLM_F_EXCL) != 0) return EEXIST;
  if ((nlh_->nlmsg_flags & NLM_F_REPLACE) != 0) return EOPNOTSUPP;

  if (ns_fd != nullptr || ns_pid != nullptr) {
    std::string target;
    int r = 0;
    if (ns_fd != nullptr) {
      r = fake_.netns_resolver_ ? fake_.netns_resolver_(static_cast<int>(*ns_fd->u32()), target)
                                : -EINVAL;
    } else {
      r = fake_.pid_resolver_ ? fake_.pid_resolver_(*ns_pid->u32(), target) : -ESRCH;
    }
    if (r < 0) return -r;
    if (target != link->netns) {
      if (link->ifindex == 1) return EINVAL;  // NETIF_F_NETNS_LOCAL
      if (fake_.find_link(link->name, target) != nullptr) return EEXIST;
      move(*link, target);
      return 0;
    }
  }

  bool changed = false;
  if (name != nullptr && static_cast<int>(r_.ifindex) > 0 && name->str() != link->name) {
    const auto new_name = resolve_template(name->str(), [&](const std::string& candidate) {
      return fake_.find_link(candidate, link->netns) != nullptr;
    });
    if (!new_name || !valid_name(*new_name)) return EINVAL;
    if (*new_name != link->name) {
      if (here(*new_name) != nullptr) return EEXIST;
      if ((link->flags & IFF_UP) != 0) return EBUSY;  // dev_change_name before Linux 6.2
      link->name = *new_name;
      changed = true;
    }
  }
  if (mtu != nullptr) {
    const std::uint32_t value = *mtu->u32();
    if (value < link->min_mtu || value > link->max_mtu) return EINVAL;
    const unsigned old = link->mtu;
    link->mtu = value;
    changed = changed || old != value;
    if (value < kIpv6MinMtu) {  // addrconf_ifdown on NETDEV_CHANGEMTU
      for (const IpPrefix& p : drop_v6(*link))
        fake_.notify_address(*link, p, RTM_DELADDR);
      fake_.prune_routes(*link);
    }
    if (old < kIpv6MinMtu && value >= kIpv6MinMtu) {
      if (const auto ll = add_link_local(*link)) fake_.notify_address(*link, *ll, RTM_NEWADDR);
    }
  }
  if (txqlen != nullptr && *txqlen->u32() != link->txqlen) {
    link->txqlen = *txqlen->u32();
    changed = true;
  }
  if (address != nullptr) {
    // dev_set_mac_address: no ndo_set_mac_address (TUN) is EOPNOTSUPP; eth_mac_addr refuses
    // what is_valid_ether_addr() rejects.
    if (!link->mac) return EOPNOTSUPP;
    if (address->payload.size() < 6) return EINVAL;
    const MacAddress mac({address->payload[0], address->payload[1], address->payload[2],
                          address->payload[3], address->payload[4], address->payload[5]});
    const bool zero =
        std::all_of(mac.bytes.begin(), mac.bytes.end(), [](std::uint8_t b) { return b == 0; });
    if (mac.is_multicast() || zero) return EADDRNOTAVAIL;
    changed = changed || mac != *link->mac;
    link->mac = mac;
  }
  if (r_.ifi_flags != 0 || r_.ifi_change != 0) {
    // rtnl_dev_combine_flags: without ifi_change, ifi_flags replaces every flag.
    const unsigned wanted = r_.ifi_change != 0
                                ? (r_.ifi_flags & r_.ifi_change) | (link->flags & ~r_.ifi_change)
                                : r_.ifi_flags;
    const unsigned before = link->flags;
    link->flags = (link->flags & ~kChangeableFlags) | (wanted & kChangeableFlags);
    const bool up_changes = ((wanted & IFF_UP) != 0) != ((before & IFF_UP) != 0);
    if (up_changes) {
      set_up(fake_, *link, (wanted & IFF_UP) != 0);  // notifies, with every change so far
      changed = false;
    } else {
      changed = changed || link->flags != before;
    }
  }
  if (const Attribute* xdp = attr(IFLA_XDP)) {
    if (const int err = set_xdp(*link, *xdp)) return err;
  }
  if (changed) fake_.notify_link(*link);
  if (fake_.observer_) fake_.observer_(LinkRecord(*link));
  return 0;
}

// do_setlink's IFLA_XDP, then dev_change_xdp_fd and dev_xdp_attach (net/core/dev.c), in their
// order of checks.
int FakeRtnetlink::Handler::set_xdp(LinkRecord& link, const Attribute& xdp) {
  std::optional<std::int32_t> fd;
  std::optional<std::int32_t> expected_fd;
  std::uint32_t flags = 0;
  bool reported_only = false;  // IFLA_XDP_ATTACHED / _PROG_ID are read-only
  const auto& p = xdp.payload;
  for (std::size_t at = 0; p.size() - at >= sizeof(nlattr);) {
    nlattr a{};
    std::memcpy(&a, p.data() + at, sizeof a);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > p.size() - at) return EINVAL;
    std::uint32_t value = 0;
    const bool has_u32 = a.nla_len - kAttrHeaderLen >= sizeof value;
    if (has_u32) std::memcpy(&value, p.data() + at + kAttrHeaderLen, sizeof value);
    switch (a.nla_type & NLA_TYPE_MASK) {
      case IFLA_XDP_FD:
        if (!has_u32) return EINVAL;
        fd = static_cast<std::int32_t>(value);
        break;
      case IFLA_XDP_EXPECTED_FD:
        if (!has_u32) return EINVAL;
        expected_fd = static_cast<std::int32_t>(value);
        break;
      case IFLA_XDP_FLAGS:
        if (!has_u32) return EINVAL;
        flags = value;
        break;
      case IFLA_XDP_ATTACHED:
      case IFLA_XDP_PROG_ID:
        reported_only = true;
        break;
      default:
        break;
    }
    at += align(a.nla_len);
  }
  if (reported_only) return EINVAL;
  if ((flags & ~XDP_FLAGS_MASK) != 0) return EINVAL;
  const std::uint32_t modes = flags & XDP_FLAGS_MODES;
  if ((modes & (modes - 1)) != 0) return EINVAL;  // more than one mode
  if (!fd) return 0;                              // flags alone change nothing
  if ((flags & XDP_FLAGS_REPLACE) != 0 && !expected_fd) return EINVAL;
  if ((flags & XDP_FLAGS_HW_MODE) != 0) return EOPNOTSUPP;  // no offload here

  auto resolve = [&](std::int32_t descriptor, std::uint32_t& id) {
    if (!fake_.xdp_resolver_) return -EBADF;
    return fake_.xdp_resolver_(descriptor, id);
  };
  std::uint32_t new_prog = 0;
  if (*fd >= 0) {
    if (const int r = resolve(*fd, new_prog); r < 0) return -r;
  }
  std::uint32_t old_prog = 0;
  if ((flags & XDP_FLAGS_REPLACE) != 0 && *expected_fd >= 0) {
    if (const int r = resolve(*expected_fd, old_prog); r < 0) return -r;
  }
  // dev_xdp_attach
  if (modes == 0 && link.xdp_native_prog != 0 && link.xdp_generic_prog != 0) return EEXIST;
  const bool native =
      (flags & XDP_FLAGS_DRV_MODE) != 0 || ((flags & XDP_FLAGS_SKB_MODE) == 0 && link.native_xdp);
  std::uint32_t& current = native ? link.xdp_native_prog : link.xdp_generic_prog;
  const std::uint32_t other = native ? link.xdp_generic_prog : link.xdp_native_prog;
  if ((flags & XDP_FLAGS_REPLACE) != 0 && current != old_prog) return EEXIST;
  if (new_prog != 0) {
    if ((flags & XDP_FLAGS_UPDATE_IF_NOEXIST) != 0 && current != 0) return EBUSY;
    if (other != 0) return EEXIST;
  }
  if (new_prog != current) {
    if (native && !link.native_xdp) return EOPNOTSUPP;
    current = new_prog;
    fake_.notify_link(link);
  }
  return 0;
}

// __dev_change_net_namespace: closed, unregistered here (addresses and routes go), registered
// in the target.
void FakeRtnetlink::Handler::move(LinkRecord& link, const std::string& target) {
  if ((link.flags & IFF_UP) != 0) set_up(fake_, link, false);
  while (!link.addresses.empty())
    remove_address(fake_, link, link.addresses.size() - 1, 0, 0);
  std::erase_if(fake_.routes_, [&](const RouteRecord& r) { return r.oif == link.ifindex; });
  fake_.notify_link(link, RTM_DELLINK);
  link.netns = target;
  fake_.notify_link(link);
  if (fake_.observer_) fake_.observer_(LinkRecord(link));
}

// --- The table ---------------------------------------------------------------------------------

void FakeRtnetlink::add_link(unsigned ifindex, std::string name, unsigned mtu) {
  LinkRecord link;
  link.ifindex = ifindex;
  link.name = std::move(name);
  link.flags = IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST;
  link.mtu = mtu;
  set_link(std::move(link));
}

void FakeRtnetlink::set_link(LinkRecord link) {
  refresh(link);
  const unsigned index = link.ifindex;
  LinkRecord& stored = links_[index] = std::move(link);
  notify_link(stored);
}

void FakeRtnetlink::remove_link(unsigned ifindex) {
  const auto it = links_.find(ifindex);
  if (it == links_.end()) return;
  LinkRecord& link = it->second;
  // unregister_netdevice: the addresses go (each announced), then the link.
  for (const IpPrefix& p : link.addresses)
    notify_address(link, p, RTM_DELADDR);
  std::erase_if(routes_, [&](const RouteRecord& r) { return r.oif == ifindex; });
  notify_link(link, RTM_DELLINK);
  links_.erase(it);
}

void FakeRtnetlink::set_carrier(unsigned ifindex, bool carrier) {
  if (LinkRecord* link = find_link(ifindex)) {
    const bool gained = carrier && !link->carrier;
    const unsigned before = link->flags;
    link->carrier = carrier;
    refresh(*link);
    if (link->flags != before) notify_link(*link);
    if (gained) {  // NETDEV_CHANGE with carrier on
      if (const auto ll = add_link_local(*link)) notify_address(*link, *ll, RTM_NEWADDR);
    }
  }
}

void FakeRtnetlink::count_packet(unsigned ifindex, bool rx, std::size_t bytes, bool dropped) {
  LinkRecord* link = find_link(ifindex);
  if (link == nullptr) return;
  LinkStats& s = link->stats;
  if (rx) {
    ++(dropped ? s.rx_dropped : s.rx_packets);
    if (!dropped) s.rx_bytes += bytes;
  } else {
    ++(dropped ? s.tx_dropped : s.tx_packets);
    if (!dropped) s.tx_bytes += bytes;
  }
}

FakeRtnetlink::LinkRecord* FakeRtnetlink::find_link(unsigned ifindex) {
  const auto it = links_.find(ifindex);
  return it == links_.end() ? nullptr : &it->second;
}

FakeRtnetlink::LinkRecord* FakeRtnetlink::find_link(std::string_view name, std::string_view netns) {
  for (auto& [index, link] : links_) {
    if (link.name == name && link.netns == netns) return &link;
  }
  return nullptr;
}

std::optional<FakeRtnetlink::LinkRecord> FakeRtnetlink::link(unsigned ifindex) const {
  const auto it = links_.find(ifindex);
  if (it == links_.end()) return std::nullopt;
  return it->second;
}

std::optional<FakeRtnetlink::LinkRecord> FakeRtnetlink::link_named(std::string_view name,
                                                                   std::string_view netns) const {
  for (const auto& [index, link] : links_) {
    if (link.name == name && link.netns == netns) return link;
  }
  return std::nullopt;
}

std::vector<FakeRtnetlink::LinkRecord> FakeRtnetlink::links() const {
  std::vector<LinkRecord> out;
  out.reserve(links_.size());
  for (const auto& [index, link] : links_)
    out.push_back(link);
  return out;
}

void FakeRtnetlink::set_admin_up(unsigned ifindex, bool up) {
  if (LinkRecord* link = find_link(ifindex)) Handler::set_up(*this, *link, up);
}

}  // namespace tunkit::testing
