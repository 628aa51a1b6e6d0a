#include "tunkit/testing/fake_rtnetlink.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <span>
#include <utility>

// This fake is written independently of tunkit's own netlink code (src/detail/netlink.cpp) on
// purpose: a fake that shared the code under test would agree with its bugs.

namespace tunkit::testing {
namespace {

constexpr std::size_t align(std::size_t n) noexcept {
  return (n + 3U) & ~std::size_t{3};
}
constexpr std::size_t kHeaderLen = align(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeaderLen = align(sizeof(nlattr));
// The kernel fills a dump datagram up to about a page before the reader offers a larger buffer.
constexpr std::size_t kDumpDatagram = 4096;
// sendmsg refuses datagrams larger than the default send buffer allows (EMSGSIZE).
constexpr std::size_t kMaxSend = 212992 - 32;
constexpr std::uint16_t kArphrdNone = 0xFFFE;  // ARPHRD_NONE: TUN devices have no link layer
constexpr std::uint32_t kTunTxQueueLen = 500;
constexpr unsigned kIpv6MinMtu = 1280;
constexpr std::uint32_t kIfaFlagsPermanent = IFA_F_PERMANENT;
// What RTM_NEWLINK's ifi_flags may change directly (dev_change_flags in net/core/dev.c); IFF_UP
// is a transition, IFF_PROMISC/IFF_ALLMULTI are counted in the kernel and plain bits here.
constexpr unsigned kChangeableFlags = IFF_DEBUG | IFF_NOTRAILERS | IFF_NOARP | IFF_DYNAMIC |
                                      IFF_MULTICAST | IFF_PORTSEL | IFF_AUTOMEDIA | IFF_PROMISC |
                                      IFF_ALLMULTI;
constexpr unsigned kOperFlags = IFF_RUNNING | IFF_LOWER_UP;
constexpr unsigned kUp = IFF_UP;

using Datagram = std::vector<std::byte>;

// Builds one answer message in an aligned scratch buffer with libmnl.
class Builder {
 public:
  Builder(std::uint16_t type, std::uint16_t flags, std::uint32_t seq, std::uint32_t port_id)
      : words_(kWords, 0) {
    nlh_ = mnl_nlmsg_put_header(words_.data());
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_flags = flags;
    nlh_->nlmsg_seq = seq;
    nlh_->nlmsg_pid = port_id;
  }
  template <typename T>
  void header(const T& value) {
    std::memcpy(mnl_nlmsg_put_extra_header(nlh_, sizeof value), &value, sizeof value);
  }
  void raw(const void* data, std::size_t size) {
    std::memcpy(mnl_nlmsg_put_extra_header(nlh_, size), data, size);
  }
  void u8(std::uint16_t type, std::uint8_t v) { mnl_attr_put_u8(nlh_, type, v); }
  void u32(std::uint16_t type, std::uint32_t v) { mnl_attr_put_u32(nlh_, type, v); }
  void str(std::uint16_t type, const std::string& s) { mnl_attr_put_strz(nlh_, type, s.c_str()); }
  void bytes(std::uint16_t type, std::span<const std::uint8_t> b) {
    mnl_attr_put(nlh_, type, b.size(), b.data());
  }
  nlattr* nest(std::uint16_t type) { return mnl_attr_nest_start(nlh_, type); }
  void end(nlattr* nest) { mnl_attr_nest_end(nlh_, nest); }
  [[nodiscard]] Datagram take() const {
    const auto* p = reinterpret_cast<const std::byte*>(nlh_);  // NOLINT: byte view
    return {p, p + nlh_->nlmsg_len};
  }

 private:
  static constexpr std::size_t kWords = 4096;  // 16 KiB: far more than any answer here
  std::vector<std::uint32_t> words_;
  nlmsghdr* nlh_ = nullptr;
};

void append(Datagram& d, const Datagram& message) {
  d.insert(d.end(), message.begin(), message.end());
}

// Adds `message` to the multi-part answer `out`, starting a new datagram when the current one
// is full, as the kernel's dump does.
void append_multi(std::vector<Datagram>& out, const Datagram& message) {
  if (out.empty() || out.back().size() + message.size() > kDumpDatagram) out.emplace_back();
  append(out.back(), message);
}

std::uint8_t v6_scope(const IpAddress& a) {
  const auto b = a.bytes();
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return RT_SCOPE_LINK;
  if (a == IpAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) return RT_SCOPE_HOST;
  return RT_SCOPE_UNIVERSE;
}

bool same_network(const IpAddress& a, const IpAddress& b, unsigned length) {
  const auto x = a.bytes();
  const auto y = b.bytes();
  for (std::size_t i = 0; i < x.size() && length > 0; ++i) {
    const unsigned bits = std::min(length, 8U);
    const auto mask = static_cast<std::uint8_t>(0xFFU << (8U - bits));
    if (((x[i] ^ y[i]) & mask) != 0) return false;
    length -= bits;
  }
  return true;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r');
  });
}

std::optional<IpAddress> to_address(std::uint8_t family, const std::vector<std::uint8_t>& b) {
  if (family == AF_INET && b.size() == 4) return IpAddress::v4({b[0], b[1], b[2], b[3]});
  if (family == AF_INET6 && b.size() == 16) {
    std::array<std::uint8_t, 16> a{};
    std::copy(b.begin(), b.end(), a.begin());
    return IpAddress::v6(a);
  }
  return std::nullopt;
}

// Decodes a request's family header and attributes; false when they are malformed. Stricter
// than the kernel, which only warns about bytes left over after the attributes: here that is
// EINVAL, so that marshalling bugs surface in tests.
bool decode(const nlmsghdr* nlh, FakeRtnetlink::Request& r, std::size_t header_size) {
  const std::size_t payload = mnl_nlmsg_get_payload_len(nlh);
  if (payload < header_size) return false;
  const auto* p = static_cast<const std::uint8_t*>(mnl_nlmsg_get_payload(nlh));
  if (nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK ||
      nlh->nlmsg_type == RTM_GETLINK || nlh->nlmsg_type == RTM_SETLINK) {
    ifinfomsg ifi{};
    std::memcpy(&ifi, p, sizeof ifi);
    r.family = ifi.ifi_family;
    r.ifindex = static_cast<std::uint32_t>(ifi.ifi_index);
    r.ifi_flags = ifi.ifi_flags;
    r.ifi_change = ifi.ifi_change;
  } else if (nlh->nlmsg_type == RTM_NEWROUTE || nlh->nlmsg_type == RTM_DELROUTE ||
             nlh->nlmsg_type == RTM_GETROUTE) {
    rtmsg rtm{};
    std::memcpy(&rtm, p, sizeof rtm);
    r.family = rtm.rtm_family;
    r.prefix_length = rtm.rtm_dst_len;
    r.table = rtm.rtm_table;
    r.protocol = rtm.rtm_protocol;
    r.scope = rtm.rtm_scope;
    r.route_type = rtm.rtm_type;
  } else {
    ifaddrmsg ifa{};
    std::memcpy(&ifa, p, sizeof ifa);
    r.family = ifa.ifa_family;
    r.ifindex = ifa.ifa_index;
    r.prefix_length = ifa.ifa_prefixlen;
    r.ifa_flags = ifa.ifa_flags;
    r.scope = ifa.ifa_scope;
  }
  std::size_t offset = align(header_size);
  while (offset < align(payload)) {
    if (payload - std::min(payload, offset) < sizeof(nlattr)) return false;
    nlattr a{};
    std::memcpy(&a, p + offset, sizeof a);
    if (a.nla_len < sizeof(nlattr) || offset + a.nla_len > payload) return false;
    FakeRtnetlink::Attribute attr;
    attr.type = static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK);
    attr.payload.assign(p + offset + kAttrHeaderLen, p + offset + a.nla_len);
    r.attributes.push_back(std::move(attr));
    offset += align(a.nla_len);
  }
  return true;
}

std::size_t family_header_size(std::uint16_t type) {
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
    case RTM_GETLINK:
    case RTM_SETLINK:
      return sizeof(ifinfomsg);
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_GETADDR:
      return sizeof(ifaddrmsg);
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
    case RTM_GETROUTE:
      return sizeof(rtmsg);
    default:
      return 0;
  }
}

// --- The address list, in the kernel's order ---------------------------------------------------
// IPv4 (net/ipv4/devinet.c, __inet_insert_ifa): primaries in the order added, then secondaries
// (addresses in the subnet of an earlier one with the same prefix length) in the order added.
// IPv6 (net/ipv6/addrconf.c, ipv6_link_dev_addr): by scope, widest first; within a scope the
// newest first. Dumps list IPv4 before IPv6, so one vector holds both in dump order.

using LinkRecord = FakeRtnetlink::LinkRecord;

bool covers(const IpPrefix& a, const IpPrefix& b) {
  return a.address.is_v4() && b.address.is_v4() && a.length == b.length &&
         same_network(a.address, b.address, a.length);
}

bool is_secondary(const std::vector<IpPrefix>& list, std::size_t i) {
  for (std::size_t j = 0; j < i; ++j) {
    if (covers(list[j], list[i])) return true;
  }
  return false;
}

// ipv6_addr_src_scope: host 1, link 2, site 5, global 14.
int v6_scope_rank(const IpAddress& a) {
  const auto b = a.bytes();
  if (v6_scope(a) == RT_SCOPE_HOST) return 1;
  if (v6_scope(a) == RT_SCOPE_LINK) return 2;
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return 5;  // deprecated site-local fec0::/10
  return 14;
}

void insert_address(LinkRecord& link, const IpPrefix& p) {
  auto& list = link.addresses;
  std::size_t pos = 0;
  if (p.address.is_v4()) {
    const bool secondary =
        std::any_of(list.begin(), list.end(), [&](const IpPrefix& a) { return covers(a, p); });
    for (std::size_t i = 0; i < list.size() && list[i].address.is_v4(); ++i) {
      if (secondary || !is_secondary(list, i)) pos = i + 1;
    }
  } else {
    pos = list.size();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i].address.is_v6() && v6_scope_rank(p.address) >= v6_scope_rank(list[i].address)) {
        pos = i;
        break;
      }
    }
  }
  list.insert(list.begin() + static_cast<std::ptrdiff_t>(pos), p);
}

// __inet_del_ifa with promote_secondaries=1 (systemd's default): removing a primary promotes the
// first secondary of its subnet, which moves up to follow the remaining primaries.
void erase_address(LinkRecord& link, std::size_t i) {
  auto& list = link.addresses;
  const IpPrefix removed = list[i];
  const bool primary = removed.address.is_v4() && !is_secondary(list, i);
  list.erase(list.begin() + static_cast<std::ptrdiff_t>(i));
  if (!primary) return;
  for (std::size_t k = i; k < list.size(); ++k) {
    if (!covers(removed, list[k])) continue;
    const IpPrefix promoted = list[k];
    list.erase(list.begin() + static_cast<std::ptrdiff_t>(k));
    std::size_t pos = 0;
    for (std::size_t j = 0; j < list.size() && list[j].address.is_v4(); ++j) {
      if (!is_secondary(list, j)) pos = j + 1;
    }
    list.insert(list.begin() + static_cast<std::ptrdiff_t>(pos), promoted);
    return;
  }
}

// Removes the IPv6 addresses (and their peers); returns them.
std::vector<IpPrefix> drop_v6(LinkRecord& link) {
  std::vector<IpPrefix> removed;
  for (const IpPrefix& p : link.addresses) {
    if (p.address.is_v6()) removed.push_back(p);
  }
  std::erase_if(link.addresses, [](const IpPrefix& p) { return p.address.is_v6(); });
  std::erase_if(link.peers, [](const auto& entry) { return entry.first.address.is_v6(); });
  return removed;
}

// addrconf_dev_config: when a link comes up with carrier (or gets carrier while up, or its MTU
// rises back to 1280), IPv6 gives it a link-local address. The kernel derives the interface id
// (randomly for TUN devices); the fake uses fe80::ff:fe00:IFINDEX so tests can predict it.
std::optional<IpPrefix> add_link_local(LinkRecord& link) {
  if ((link.flags & IFF_UP) == 0 || !link.carrier || link.mtu < kIpv6MinMtu) return std::nullopt;
  const bool has = std::any_of(link.addresses.begin(), link.addresses.end(), [](const IpPrefix& p) {
    return p.address.is_v6() && v6_scope(p.address) == RT_SCOPE_LINK;
  });
  if (has) return std::nullopt;
  const auto hi = static_cast<std::uint8_t>((link.ifindex >> 8U) & 0xFFU);
  const auto lo = static_cast<std::uint8_t>(link.ifindex & 0xFFU);
  const IpPrefix p{IpAddress::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0, hi, lo}),
                   64};
  insert_address(link, p);
  return p;
}

// The network of `p`: its address with the host bits cleared.
IpAddress network_of(const IpPrefix& p) {
  std::array<std::uint8_t, 16> b{};
  const auto bytes = p.address.bytes();
  unsigned left = p.length;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const unsigned bits = std::min(left, 8U);
    b[i] = static_cast<std::uint8_t>(bytes[i] & (bits == 0 ? 0U : 0xFFU << (8U - bits)));
    left -= bits;
  }
  if (p.address.is_v4()) return IpAddress::v4({b[0], b[1], b[2], b[3]});
  return IpAddress::v6(b);
}

// The routes the kernel makes for a link's addresses (RTPROT_KERNEL): fib_add_ifaddr for IPv4
// (primary addresses, while the link is up; for a peer, its network), addrconf_prefix_route for
// IPv6 (metric 256; a /128 with a peer: routes to both ends).
std::vector<FakeRtnetlink::RouteRecord> kernel_routes(const LinkRecord& link) {
  std::vector<FakeRtnetlink::RouteRecord> out;
  auto add = [&](const IpPrefix& dst, const IpAddress& local, bool v4) {
    FakeRtnetlink::RouteRecord r;
    r.destination = {network_of(dst), dst.length};
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

// Whether `gateway` is on a network the link reaches directly: one of its address prefixes or
// peers (IPv4: fib_check_nh_nongw; IPv6: ip6_validate_gw, link-local gateways included).
bool on_link(const LinkRecord& link, const IpAddress& gateway) {
  for (const IpPrefix& p : link.addresses) {
    if (p.address.family() != gateway.family()) continue;
    const auto peer = link.peers.find(p);
    const IpAddress base = peer != link.peers.end() ? peer->second : p.address;
    if (same_network(base, gateway, p.length)) return true;
  }
  return false;
}

// IFF_RUNNING and IFF_LOWER_UP follow IFF_UP and the carrier (dev_get_flags).
void refresh(LinkRecord& link) {
  link.flags &= ~kOperFlags;
  if ((link.flags & IFF_UP) != 0 && link.carrier) link.flags |= kOperFlags;
}

}  // namespace

// --- Request / Attribute helpers -------------------------------------------------------------

std::optional<std::uint32_t> FakeRtnetlink::Attribute::u32() const {
  if (payload.size() != 4) return std::nullopt;
  std::uint32_t v = 0;
  std::memcpy(&v, payload.data(), sizeof v);
  return v;
}

std::string FakeRtnetlink::Attribute::str() const {
  const auto nul = std::find(payload.begin(), payload.end(), std::uint8_t{0});
  return {payload.begin(), nul};
}

const FakeRtnetlink::Attribute* FakeRtnetlink::Request::find(std::uint16_t t) const {
  for (const auto& a : attributes) {
    if (a.type == t) return &a;
  }
  return nullptr;
}

// --- Messages the fake sends ------------------------------------------------------------------

namespace {

Datagram link_message(const LinkRecord& link, std::uint16_t type, std::uint16_t flags,
                      std::uint32_t seq, std::uint32_t port,
                      const FakeRtnetlink::TunInfo* tun = nullptr) {
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

Datagram address_message(const LinkRecord& link, const IpPrefix& p, bool secondary,
                         std::uint16_t type, std::uint16_t flags, std::uint32_t seq,
                         std::uint32_t port) {
  Builder b(type, flags, seq, port);
  ifaddrmsg ifa{};
  ifa.ifa_family = p.address.is_v4() ? AF_INET : AF_INET6;
  ifa.ifa_prefixlen = p.length;
  const std::uint32_t ifa_flags = kIfaFlagsPermanent | (secondary ? IFA_F_SECONDARY : 0U);
  ifa.ifa_flags = static_cast<std::uint8_t>(ifa_flags);
  ifa.ifa_scope = p.address.is_v4() ? std::uint8_t{RT_SCOPE_UNIVERSE} : v6_scope(p.address);
  ifa.ifa_index = link.ifindex;
  b.header(ifa);
  ifa_cacheinfo cache{};
  cache.ifa_prefered = 0xFFFFFFFFU;  // forever
  cache.ifa_valid = 0xFFFFFFFFU;
  const auto peer = link.peers.find(p);
  const IpAddress& address = peer != link.peers.end() ? peer->second : p.address;
  // inet_fill_ifaddr / inet6_fill_ifaddr: IFA_ADDRESS is the peer when there is one; IPv4
  // always adds IFA_LOCAL, IPv6 only with a peer.
  b.bytes(IFA_ADDRESS, address.bytes());
  if (p.address.is_v4()) {
    b.bytes(IFA_LOCAL, p.address.bytes());
    b.str(IFA_LABEL, link.name);
    b.u32(IFA_FLAGS, ifa_flags);
    b.bytes(IFA_CACHEINFO, {reinterpret_cast<const std::uint8_t*>(&cache), sizeof cache});
  } else {
    if (peer != link.peers.end()) b.bytes(IFA_LOCAL, p.address.bytes());
    b.bytes(IFA_CACHEINFO, {reinterpret_cast<const std::uint8_t*>(&cache), sizeof cache});
    b.u32(IFA_FLAGS, ifa_flags);
  }
  return b.take();
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

Datagram done_message(std::uint32_t seq, std::uint32_t port, int status = 0) {
  Builder b(NLMSG_DONE, NLM_F_MULTI, seq, port);
  b.raw(&status, sizeof status);
  return b.take();
}

std::uint32_t address_group(const IpAddress& a) {
  return a.is_v4() ? RTMGRP_IPV4_IFADDR : RTMGRP_IPV6_IFADDR;
}

std::uint32_t route_group(const IpAddress& a) {
  return a.is_v4() ? RTMGRP_IPV4_ROUTE : RTMGRP_IPV6_ROUTE;
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

// --- The kernel side: one request in, answers out --------------------------------------------

// Handles one request message for one socket, as rtnetlink_rcv_msg and its handlers do; also
// holds the link state transitions that FakeKernel's own calls share.
class FakeRtnetlink::Handler {
 public:
  Handler(FakeRtnetlink& fake, Socket& socket, const nlmsghdr* nlh, const Request& request)
      : fake_(fake), socket_(socket), nlh_(nlh), r_(request) {}

  // Answers the request; returns the datagrams to queue.
  std::vector<Datagram> run(bool decoded, std::optional<int> scripted) {
    std::vector<Datagram> out;
    const bool ack = (nlh_->nlmsg_flags & NLM_F_ACK) != 0;
    // netlink_rcv_skb: messages that are not requests, and control messages, are only acked.
    if ((nlh_->nlmsg_flags & NLM_F_REQUEST) == 0 || nlh_->nlmsg_type < NLMSG_MIN_TYPE) {
      if (ack) out.push_back(error_message(0));
      return out;
    }
    bool dumped = false;
    int err = 0;
    if (scripted) {
      err = *scripted;
    } else if (mnl_nlmsg_get_payload_len(nlh_) < 1) {
      err = 0;  // rtnetlink ignores messages without even a family byte
    } else if (nlh_->nlmsg_type > RTM_MAX) {
      err = EOPNOTSUPP;
    } else if ((nlh_->nlmsg_type & 3) != 2 && !fake_.net_admin_) {
      err = EPERM;  // every kind but GET needs CAP_NET_ADMIN
    } else if (family_header_size(nlh_->nlmsg_type) != 0 && !decoded) {
      err = EINVAL;
    } else {
      err = dispatch(out, dumped);
    }
    if (err != 0) {
      out.clear();
      out.push_back(error_message(err));
    } else if (ack && !dumped) {
      out.push_back(error_message(0));  // a dump ends with NLMSG_DONE, never an ACK
    }
    return out;
  }

  // __dev_open / __dev_close and what addrconf and the FIBs do on NETDEV_UP / NETDEV_DOWN:
  // the link's notification first, then its addresses' and routes' changes.
  static void set_up(FakeRtnetlink& fake, LinkRecord& link, bool up) {
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

  // Removes address `i` of `link` (promoting a secondary, as the kernel does) and notifies.
  static void remove_address(FakeRtnetlink& fake, LinkRecord& link, std::size_t i,
                             std::uint32_t seq, std::uint32_t port) {
    const IpPrefix removed = link.addresses[i];
    erase_address(link, i);
    fake.notify_address(link, removed, RTM_DELADDR, seq, port);
    link.peers.erase(removed);
    fake.prune_routes(link);
  }

 private:
  bool is_dump() const {
    return (nlh_->nlmsg_type & 3) == 2 && (nlh_->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  }

  int dispatch(std::vector<Datagram>& out, bool& dumped) {
    switch (nlh_->nlmsg_type) {
      case RTM_GETLINK:
        if (is_dump()) {
          dumped = true;
          return dump_links(out);
        }
        return get_link(out);
      case RTM_NEWLINK:
        return new_link();
      case RTM_NEWADDR:
        return new_address();
      case RTM_DELADDR:
        return delete_address();
      case RTM_GETADDR:
        if (!is_dump()) return EOPNOTSUPP;
        dumped = true;
        return dump_addresses(out);
      case RTM_NEWROUTE:
        return new_route();
      case RTM_DELROUTE:
        return delete_route();
      case RTM_GETROUTE:
        if (!is_dump()) return EOPNOTSUPP;  // route look-ups (ip route get) are not simulated
        dumped = true;
        return dump_routes(out);
      default:
        return EOPNOTSUPP;
    }
  }

  // NLMSG_ERROR: 0 is the ACK. As netlink_ack: the request's header, and on errors (without
  // NETLINK_CAP_ACK) its whole payload too.
  Datagram error_message(int err) const {
    const bool full = err != 0 && !socket_.cap_ack;
    Builder b(NLMSG_ERROR, full ? 0 : NLM_F_CAPPED, nlh_->nlmsg_seq, socket_.port_id);
    const int error = -err;
    b.raw(&error, sizeof error);
    b.raw(nlh_, full ? nlh_->nlmsg_len : sizeof(nlmsghdr));
    return b.take();
  }

  Datagram done(int status = 0) const {
    return done_message(nlh_->nlmsg_seq, socket_.port_id, status);
  }

  std::optional<TunInfo> tun_info(unsigned ifindex) const {
    if (!fake_.tun_info_) return std::nullopt;
    return fake_.tun_info_(ifindex);
  }

  // IFLA_INFO_KIND inside a request's IFLA_LINKINFO, or "" (then there is no kind filter).
  std::string requested_kind() const {
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

  const Attribute* attr(std::uint16_t type) const { return r_.find(type); }

  // The link with this index or name in the socket's namespace.
  LinkRecord* here(unsigned ifindex) const {
    LinkRecord* link = fake_.find_link(ifindex);
    return link != nullptr && link->netns == socket_.netns ? link : nullptr;
  }
  LinkRecord* here(std::string_view name) const { return fake_.find_link(name, socket_.netns); }

  // rtnl_getlink (with rtnl_valid_getlink_req on strict sockets)
  int get_link(std::vector<Datagram>& out) {
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
    out.push_back(link_message(*link, RTM_NEWLINK, 0, nlh_->nlmsg_seq, socket_.port_id,
                               tun ? &*tun : nullptr));
    return 0;
  }

  // rtnl_dump_ifinfo, with rtnl_valid_dump_ifinfo_req on strict sockets.
  int dump_links(std::vector<Datagram>& out) {
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
      append_multi(out, link_message(link, RTM_NEWLINK, NLM_F_MULTI, nlh_->nlmsg_seq,
                                     socket_.port_id, tun ? &*tun : nullptr));
    }
    append_multi(out, done());
    return 0;
  }

  // rtnl_newlink on an existing device, then do_setlink: namespace, name, MTU, txqueuelen,
  // address, flags, in the kernel's order.
  int new_link() {
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
    if (changed) fake_.notify_link(*link);
    if (fake_.observer_) fake_.observer_(LinkRecord(*link));
    return 0;
  }

  // __dev_change_net_namespace: closed, unregistered here (addresses and routes go), registered
  // in the target.
  void move(LinkRecord& link, const std::string& target) {
    if ((link.flags & IFF_UP) != 0) set_up(fake_, link, false);
    while (!link.addresses.empty())
      remove_address(fake_, link, link.addresses.size() - 1, 0, 0);
    std::erase_if(fake_.routes_, [&](const RouteRecord& r) { return r.oif == link.ifindex; });
    fake_.notify_link(link, RTM_DELLINK);
    link.netns = target;
    fake_.notify_link(link);
    if (fake_.observer_) fake_.observer_(LinkRecord(link));
  }

  // The address named by a NEWADDR/DELADDR request: IFA_LOCAL, else IFA_ADDRESS.
  std::optional<IpAddress> request_address(bool& malformed) const {
    malformed = false;
    std::optional<IpAddress> local;
    std::optional<IpAddress> address;
    if (const Attribute* a = attr(IFA_LOCAL)) {
      local = to_address(r_.family, a->payload);
      malformed = malformed || !local;
    }
    if (const Attribute* a = attr(IFA_ADDRESS)) {
      address = to_address(r_.family, a->payload);
      malformed = malformed || !address;
    }
    return local ? local : address;
  }

  // IFA_ADDRESS when it differs from IFA_LOCAL: the peer.
  std::optional<IpAddress> request_peer() const {
    const Attribute* local = attr(IFA_LOCAL);
    const Attribute* address = attr(IFA_ADDRESS);
    if (local == nullptr || address == nullptr || local->payload == address->payload) return {};
    return to_address(r_.family, address->payload);
  }

  // inet_rtm_newaddr / inet6_rtm_newaddr
  int new_address() {
    if (r_.family != AF_INET && r_.family != AF_INET6) return EOPNOTSUPP;
    bool malformed = false;
    const auto address = request_address(malformed);
    if (malformed) return EINVAL;
    const bool v4 = r_.family == AF_INET;
    if (v4) {
      if (r_.prefix_length > 32 || attr(IFA_LOCAL) == nullptr) return EINVAL;
    } else if (!address) {
      return EINVAL;
    }
    LinkRecord* link = here(r_.ifindex);
    if (link == nullptr) return ENODEV;
    const IpPrefix prefix{*address, r_.prefix_length};
    const auto existing =
        std::find_if(link->addresses.begin(), link->addresses.end(), [&](const IpPrefix& p) {
          // IPv4 allows one address in several prefixes; IPv6 allows each address once.
          return p.address == prefix.address && (!v4 || p.length == prefix.length);
        });
    if (existing != link->addresses.end()) {
      const bool replace =
          (nlh_->nlmsg_flags & NLM_F_REPLACE) != 0 && (nlh_->nlmsg_flags & NLM_F_EXCL) == 0;
      if (!replace) return EEXIST;
      if (!v4 && r_.prefix_length > 128) return EINVAL;
      existing->length = prefix.length;  // ipv6: inet6_addr_modify may change the prefix length
      fake_.notify_address(*link, *existing, RTM_NEWADDR, nlh_->nlmsg_seq, socket_.port_id);
      return 0;
    }
    if (!v4) {
      if (r_.prefix_length > 128) return EINVAL;
      if (link->mtu < kIpv6MinMtu) return EINVAL;  // ipv6_add_dev refuses the device
    }
    if (const auto peer = request_peer()) link->peers[prefix] = *peer;
    insert_address(*link, prefix);
    fake_.notify_address(*link, prefix, RTM_NEWADDR, nlh_->nlmsg_seq, socket_.port_id);
    return 0;
  }

  // inet_rtm_deladdr / inet6_rtm_deladdr
  int delete_address() {
    if (r_.family != AF_INET && r_.family != AF_INET6) return EOPNOTSUPP;
    bool malformed = false;
    const auto address = request_address(malformed);
    if (malformed) return EINVAL;
    LinkRecord* link = nullptr;
    if (r_.family == AF_INET) {
      link = here(r_.ifindex);
      if (link == nullptr) return ENODEV;
      std::optional<IpAddress> local;
      std::optional<IpAddress> peer;
      if (const Attribute* a = attr(IFA_LOCAL)) local = to_address(AF_INET, a->payload);
      if (const Attribute* a = attr(IFA_ADDRESS)) peer = to_address(AF_INET, a->payload);
      for (auto it = link->addresses.begin(); it != link->addresses.end(); ++it) {
        if (!it->address.is_v4()) continue;
        if (local && it->address != *local) continue;
        // inet_ifa_match: IFA_ADDRESS in the network of the address's own IFA_ADDRESS (its
        // peer, if it has one).
        const auto own = link->peers.find(*it);
        const IpAddress base = own != link->peers.end() ? own->second : it->address;
        if (peer && (it->length != r_.prefix_length || !same_network(*peer, base, it->length))) {
          continue;
        }
        remove_address(fake_, *link, static_cast<std::size_t>(it - link->addresses.begin()),
                       nlh_->nlmsg_seq, socket_.port_id);
        return 0;
      }
      return EADDRNOTAVAIL;
    }
    if (!address) return EINVAL;
    if (r_.prefix_length > 128) return EINVAL;
    link = here(r_.ifindex);
    if (link == nullptr) return ENODEV;
    const auto it = std::find(link->addresses.begin(), link->addresses.end(),
                              IpPrefix{*address, r_.prefix_length});
    if (it == link->addresses.end()) return EADDRNOTAVAIL;
    remove_address(fake_, *link, static_cast<std::size_t>(it - link->addresses.begin()),
                   nlh_->nlmsg_seq, socket_.port_id);
    return 0;
  }

  // rtnl_dump_all over AF_INET then AF_INET6 (or one of them), every link in index order; on
  // strict sockets inet_valid_dump_ifaddr_req first, and only the link asked for.
  int dump_addresses(std::vector<Datagram>& out) {
    const bool v4 = r_.family == AF_UNSPEC || r_.family == AF_INET;
    const bool v6 = r_.family == AF_UNSPEC || r_.family == AF_INET6;
    if (!v4 && !v6) return EOPNOTSUPP;
    const unsigned only = socket_.strict ? r_.ifindex : 0;
    if (socket_.strict) {
      if (r_.prefix_length != 0 || r_.ifa_flags != 0 || r_.scope != 0) return EINVAL;
      for (const auto& a : r_.attributes) {
        if (a.type != IFA_TARGET_NETNSID) return EINVAL;
      }
      if (only != 0 && here(only) == nullptr) {
        // The dump started, then failed: its status travels in NLMSG_DONE.
        append_multi(out, done(-ENODEV));
        return 0;
      }
    }
    for (const bool want_v4 : {true, false}) {
      if ((want_v4 && !v4) || (!want_v4 && !v6)) continue;
      for (const auto& [index, link] : fake_.links_) {
        if (link.netns != socket_.netns || (only != 0 && index != only)) continue;
        for (std::size_t i = 0; i < link.addresses.size(); ++i) {
          const IpPrefix& p = link.addresses[i];
          if (p.address.is_v4() != want_v4) continue;
          append_multi(out, address_message(link, p, is_secondary(link.addresses, i), RTM_NEWADDR,
                                            NLM_F_MULTI, nlh_->nlmsg_seq, socket_.port_id));
        }
      }
    }
    append_multi(out, done());
    return 0;
  }

  // The route a NEWROUTE/DELROUTE request describes. false: malformed (EINVAL).
  bool request_route(RouteRecord& route, bool& has_oif, bool& has_gateway) const {
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
  int new_route() {
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
      if (network_of(route.destination) != route.destination.address) return EINVAL;
    } else {
      if (link->mtu < kIpv6MinMtu) return ENODEV;  // no inet6_dev
      route.destination.address = network_of(route.destination);
      if (route.metric == 0) route.metric = 1024;  // IP6_RT_PRIO_USER
    }
    if ((link->flags & IFF_UP) == 0) return ENETDOWN;
    if (route.gateway && !on_link(*link, *route.gateway)) return v4 ? ENETUNREACH : EHOSTUNREACH;
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
  int delete_route() {
    if (r_.family != AF_INET && r_.family != AF_INET6) return EOPNOTSUPP;
    const bool v4 = r_.family == AF_INET;
    RouteRecord want;
    bool has_oif = false;
    bool has_gateway = false;
    if (!request_route(want, has_oif, has_gateway)) return EINVAL;
    if (!v4) want.destination.address = network_of(want.destination);
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
  int dump_routes(std::vector<Datagram>& out) {
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

  FakeRtnetlink& fake_;
  Socket& socket_;
  const nlmsghdr* nlh_;
  const Request& r_;
};

// --- FakeRtnetlink ---------------------------------------------------------------------------

FakeRtnetlink::FakeRtnetlink() = default;
FakeRtnetlink::~FakeRtnetlink() = default;

int FakeRtnetlink::open_socket(int fd, int protocol, std::string netns) {
  if (protocol != NETLINK_ROUTE) return -EPROTONOSUPPORT;
  Socket socket;
  socket.netns = std::move(netns);
  sockets_[fd] = std::move(socket);
  return 0;
}

int FakeRtnetlink::autobind(Socket& socket) {
  auto in_use = [&](std::uint32_t port) {
    return std::any_of(sockets_.begin(), sockets_.end(),
                       [&](const auto& s) { return s.second.bound && s.second.port_id == port; });
  };
  // netlink_autobind: the process id first, then negative numbers counting down from -4096.
  std::uint32_t port = kFirstPortId;
  if (first_port_taken_ || in_use(port)) {
    do {
      port = 0xFFFFF000U - next_negative_port_++;
    } while (in_use(port));
  }
  first_port_taken_ = true;
  socket.port_id = port;
  socket.bound = true;
  return 0;
}

int FakeRtnetlink::bind(int fd, const sockaddr* addr, socklen_t len) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (addr == nullptr) return -EFAULT;
  if (len < sizeof(sockaddr_nl)) return -EINVAL;
  sockaddr_nl nl{};
  std::memcpy(&nl, addr, sizeof nl);
  if (nl.nl_family != AF_NETLINK) return -EINVAL;
  Socket& s = it->second;
  if (s.bound) {
    if (nl.nl_pid != 0 && nl.nl_pid != s.port_id) return -EINVAL;
    s.groups = nl.nl_groups;  // netlink_bind: a second bind changes the groups
    return 0;
  }
  if (nl.nl_pid == 0) {
    autobind(s);
  } else {
    for (const auto& [other_fd, other] : sockets_) {
      if (other.bound && other.port_id == nl.nl_pid) return -EADDRINUSE;
    }
    s.port_id = nl.nl_pid;
    s.bound = true;
  }
  s.groups = nl.nl_groups;
  return 0;
}

int FakeRtnetlink::getsockname(int fd, sockaddr* addr, socklen_t* len) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (addr == nullptr || len == nullptr) return -EFAULT;
  sockaddr_nl nl{};
  nl.nl_family = AF_NETLINK;
  nl.nl_pid = it->second.port_id;
  std::memcpy(addr, &nl, std::min<std::size_t>(*len, sizeof nl));
  *len = sizeof nl;
  return 0;
}

int FakeRtnetlink::setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (level != SOL_NETLINK) return 0;
  if (name == NETLINK_ADD_MEMBERSHIP || name == NETLINK_DROP_MEMBERSHIP) {
    if (value == nullptr || len < sizeof(std::uint32_t)) return -EINVAL;
    std::uint32_t group = 0;
    std::memcpy(&group, value, sizeof group);
    if (group == 0 || group > RTNLGRP_MAX) return -EINVAL;
    if (group <= 32) {  // the bitmask holds the first 32 groups, which is all this fake sends
      const std::uint32_t bit = 1U << (group - 1);
      it->second.groups =
          name == NETLINK_ADD_MEMBERSHIP ? it->second.groups | bit : it->second.groups & ~bit;
    }
    return 0;
  }
  if (name != NETLINK_CAP_ACK && name != NETLINK_GET_STRICT_CHK) return 0;
  if (name == NETLINK_GET_STRICT_CHK && !strict_supported_) return -ENOPROTOOPT;
  if (value == nullptr || len < sizeof(int)) return -EINVAL;
  int on = 0;
  std::memcpy(&on, value, sizeof on);
  (name == NETLINK_CAP_ACK ? it->second.cap_ack : it->second.strict) = on != 0;
  return 0;
}

ssize_t FakeRtnetlink::sendto(int fd, const void* buf, std::size_t len, int /*flags*/,
                              const sockaddr* addr, socklen_t addrlen) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (addr != nullptr) {
    if (addrlen < sizeof(sockaddr_nl)) return -EINVAL;
    sockaddr_nl nl{};
    std::memcpy(&nl, addr, sizeof nl);
    if (nl.nl_family != AF_NETLINK) return -EINVAL;
    if (nl.nl_pid != 0) return -ECONNREFUSED;  // no other netlink peers in the fake
  }
  if (buf == nullptr && len > 0) return -EFAULT;
  if (len > kMaxSend) return -EMSGSIZE;
  Socket& socket = it->second;
  if (!socket.bound) autobind(socket);

  // Work on an aligned copy: the caller's buffer may be at any address.
  std::vector<std::uint32_t> words((len + 3) / 4 + 1, 0);
  if (len > 0) std::memcpy(words.data(), buf, len);
  const auto* base = reinterpret_cast<const std::byte*>(words.data());  // NOLINT: byte view

  // netlink_rcv_skb: message by message; a bad length ends the datagram silently.
  std::size_t offset = 0;
  while (len - offset >= kHeaderLen) {
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(base + offset);  // NOLINT: aligned
    if (nlh->nlmsg_len < kHeaderLen || nlh->nlmsg_len > len - offset) break;

    Request request;
    request.fd = fd;
    request.type = nlh->nlmsg_type;
    request.flags = nlh->nlmsg_flags;
    request.seq = nlh->nlmsg_seq;
    request.port_id = nlh->nlmsg_pid;
    request.bytes.assign(base + offset, base + offset + nlh->nlmsg_len);
    const std::size_t header_size = family_header_size(nlh->nlmsg_type);
    const bool decoded = header_size == 0 || decode(nlh, request, header_size);
    requests_.push_back(request);

    std::optional<int> scripted;
    if (const auto f = failures_.find(nlh->nlmsg_type); f != failures_.end()) {
      scripted = f->second;
      failures_.erase(f);
    }
    std::vector<Datagram> answer = Handler(*this, socket, nlh, request).run(decoded, scripted);
    if (const auto e = editors_.find(nlh->nlmsg_type); e != editors_.end()) {
      const ReplyEditor editor = std::move(e->second);
      editors_.erase(e);
      editor(answer);
    }
    for (auto& d : answer)
      socket.queue.push_back(std::move(d));

    offset += std::min(align(nlh->nlmsg_len), len - offset);
  }
  return static_cast<ssize_t>(len);
}

ssize_t FakeRtnetlink::recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                                socklen_t* addrlen) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  auto& queue = it->second.queue;
  if (queue.empty()) return -EAGAIN;
  if (buf == nullptr && len > 0) return -EFAULT;
  const Datagram& d = queue.front();
  const std::size_t copied = std::min(len, d.size());
  if (copied > 0) std::memcpy(buf, d.data(), copied);
  const auto full = static_cast<ssize_t>(d.size());
  if (addr != nullptr && addrlen != nullptr) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    std::memcpy(addr, &kernel, std::min<std::size_t>(*addrlen, sizeof kernel));
    *addrlen = sizeof kernel;
  }
  if ((flags & MSG_PEEK) == 0) queue.pop_front();
  return (flags & MSG_TRUNC) != 0 ? full : static_cast<ssize_t>(copied);
}

void FakeRtnetlink::close_socket(int fd) {
  sockets_.erase(fd);
}

std::size_t FakeRtnetlink::pending(int fd) const {
  const auto it = sockets_.find(fd);
  return it == sockets_.end() ? 0 : it->second.queue.size();
}

// --- Notifications -------------------------------------------------------------------------

void FakeRtnetlink::notify(std::uint32_t groups, std::string_view netns, const Datagram& message) {
  for (auto& [fd, socket] : sockets_) {
    if ((socket.groups & groups) != 0 && socket.netns == netns) socket.queue.push_back(message);
  }
}

void FakeRtnetlink::notify_link(const LinkRecord& link, std::uint16_t type) {
  // rtmsg_ifinfo: no request to answer, so sequence number and port 0.
  notify(RTMGRP_LINK, link.netns, link_message(link, type, 0, 0, 0));
}

void FakeRtnetlink::notify_address(const LinkRecord& link, const IpPrefix& prefix,
                                   std::uint16_t type, std::uint32_t seq, std::uint32_t port) {
  const auto& list = link.addresses;
  const auto at = std::find(list.begin(), list.end(), prefix);
  const bool secondary =
      at != list.end() && is_secondary(list, static_cast<std::size_t>(at - list.begin()));
  notify(address_group(prefix.address), link.netns,
         address_message(link, prefix, secondary, type, 0, seq, port));
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

// --- Link table ----------------------------------------------------------------------------

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

// --- Scripting -----------------------------------------------------------------------------

void FakeRtnetlink::fail_next(std::uint16_t type, int err) {
  failures_.emplace(type, err);
}

void FakeRtnetlink::edit_next_reply(std::uint16_t type, ReplyEditor editor) {
  editors_.emplace(type, std::move(editor));
}

}  // namespace tunkit::testing
