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

void drop_v6(LinkRecord& link) {
  std::erase_if(link.addresses, [](const IpPrefix& p) { return p.address.is_v6(); });
}

// addrconf_dev_config: when a link comes up with carrier (or gets carrier while up, or its MTU
// rises back to 1280), IPv6 gives it a link-local address. The kernel derives the interface id
// (randomly for TUN devices); the fake uses fe80::ff:fe00:IFINDEX so tests can predict it.
void add_link_local(LinkRecord& link) {
  if ((link.flags & IFF_UP) == 0 || !link.carrier || link.mtu < kIpv6MinMtu) return;
  const bool has = std::any_of(link.addresses.begin(), link.addresses.end(), [](const IpPrefix& p) {
    return p.address.is_v6() && v6_scope(p.address) == RT_SCOPE_LINK;
  });
  if (has) return;
  const auto hi = static_cast<std::uint8_t>((link.ifindex >> 8U) & 0xFFU);
  const auto lo = static_cast<std::uint8_t>(link.ifindex & 0xFFU);
  insert_address(
      link,
      IpPrefix{IpAddress::v6({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xfe, 0, hi, lo}), 64});
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

// --- The kernel side: one request in, answers out --------------------------------------------

// Handles one request message for one socket, as rtnetlink_rcv_msg and its handlers do.
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

  Datagram link_message(const LinkRecord& link, std::uint16_t flags) const {
    Builder b(RTM_NEWLINK, flags, nlh_->nlmsg_seq, socket_.port_id);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_type = kArphrdNone;
    ifi.ifi_index = static_cast<int>(link.ifindex);
    ifi.ifi_flags = link.flags;
    b.header(ifi);
    b.str(IFLA_IFNAME, link.name);
    b.u32(IFLA_TXQLEN, kTunTxQueueLen);
    // A TUN device does not report RFC 2863 states: UNKNOWN when it has carrier, else DOWN.
    const bool oper_up = (link.flags & IFF_UP) != 0 && link.carrier;
    b.u8(IFLA_OPERSTATE, static_cast<std::uint8_t>(oper_up ? IF_OPER_UNKNOWN : IF_OPER_DOWN));
    b.u8(IFLA_LINKMODE, 0);
    b.u32(IFLA_MTU, link.mtu);
    b.u32(IFLA_MIN_MTU, link.min_mtu);
    b.u32(IFLA_MAX_MTU, link.max_mtu);
    if (const auto tun = tun_info(link.ifindex)) {
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

  Datagram address_message(const LinkRecord& link, const IpPrefix& p, bool secondary) const {
    Builder b(RTM_NEWADDR, NLM_F_MULTI, nlh_->nlmsg_seq, socket_.port_id);
    ifaddrmsg ifa{};
    ifa.ifa_family = p.address.is_v4() ? AF_INET : AF_INET6;
    ifa.ifa_prefixlen = p.length;
    const std::uint32_t flags = kIfaFlagsPermanent | (secondary ? IFA_F_SECONDARY : 0U);
    ifa.ifa_flags = static_cast<std::uint8_t>(flags);
    ifa.ifa_scope = p.address.is_v4() ? std::uint8_t{RT_SCOPE_UNIVERSE} : v6_scope(p.address);
    ifa.ifa_index = link.ifindex;
    b.header(ifa);
    ifa_cacheinfo cache{};
    cache.ifa_prefered = 0xFFFFFFFFU;  // forever
    cache.ifa_valid = 0xFFFFFFFFU;
    b.bytes(IFA_ADDRESS, p.address.bytes());
    if (p.address.is_v4()) {
      b.bytes(IFA_LOCAL, p.address.bytes());
      b.str(IFA_LABEL, link.name);
      b.u32(IFA_FLAGS, flags);
      b.bytes(IFA_CACHEINFO, {reinterpret_cast<const std::uint8_t*>(&cache), sizeof cache});
    } else {
      b.bytes(IFA_CACHEINFO, {reinterpret_cast<const std::uint8_t*>(&cache), sizeof cache});
      b.u32(IFA_FLAGS, flags);
    }
    return b.take();
  }

  Datagram done_message(int status = 0) const {
    Builder b(NLMSG_DONE, NLM_F_MULTI, nlh_->nlmsg_seq, socket_.port_id);
    b.raw(&status, sizeof status);
    return b.take();
  }

  const Attribute* attr(std::uint16_t type) const { return r_.find(type); }

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
      link = fake_.find_link(r_.ifindex);
    } else if (const Attribute* name = attr(IFLA_IFNAME)) {
      if (name->str().size() >= IFNAMSIZ) return ERANGE;
      link = fake_.find_link(name->str());
    } else {
      return EINVAL;
    }
    if (link == nullptr) return ENODEV;
    out.push_back(link_message(*link, 0));
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
      if (only_tun && !tun_info(index)) continue;
      append_multi(out, link_message(link, NLM_F_MULTI));
    }
    append_multi(out, done_message());
    return 0;
  }

  // rtnl_newlink on an existing device, then do_setlink: name, MTU, flags, in the kernel's order.
  int new_link() {
    const Attribute* mtu = attr(IFLA_MTU);
    const Attribute* name = attr(IFLA_IFNAME);
    if (mtu != nullptr && !mtu->u32()) return EINVAL;
    if (name != nullptr && name->str().size() >= IFNAMSIZ) return ERANGE;
    LinkRecord* link = nullptr;
    if (static_cast<int>(r_.ifindex) > 0) {
      link = fake_.find_link(r_.ifindex);
    } else if (name != nullptr) {
      link = fake_.find_link(name->str());
    }
    if (link == nullptr) {
      // Creating a device needs IFLA_LINKINFO with a kind the fake does not implement.
      return (nlh_->nlmsg_flags & NLM_F_CREATE) != 0 ? EOPNOTSUPP : ENODEV;
    }
    if ((nlh_->nlmsg_flags & NLM_F_EXCL) != 0) return EEXIST;
    if ((nlh_->nlmsg_flags & NLM_F_REPLACE) != 0) return EOPNOTSUPP;

    if (name != nullptr && static_cast<int>(r_.ifindex) > 0 && name->str() != link->name) {
      const std::string new_name = name->str();
      if (!valid_name(new_name)) return EINVAL;
      if (fake_.find_link(new_name) != nullptr) return EEXIST;
      if ((link->flags & IFF_UP) != 0) return EBUSY;
      link->name = new_name;
    }
    if (mtu != nullptr) {
      const std::uint32_t value = *mtu->u32();
      if (value < link->min_mtu || value > link->max_mtu) return EINVAL;
      const unsigned old = link->mtu;
      link->mtu = value;
      if (value < kIpv6MinMtu) drop_v6(*link);  // addrconf_ifdown on NETDEV_CHANGEMTU
      if (old < kIpv6MinMtu && value >= kIpv6MinMtu) add_link_local(*link);
    }
    if (r_.ifi_flags != 0 || r_.ifi_change != 0) {
      // rtnl_dev_combine_flags: without ifi_change, ifi_flags replaces every flag.
      const unsigned wanted = r_.ifi_change != 0
                                  ? (r_.ifi_flags & r_.ifi_change) | (link->flags & ~r_.ifi_change)
                                  : r_.ifi_flags;
      link->flags = (link->flags & ~kChangeableFlags) | (wanted & kChangeableFlags);
      set_up(*link, (wanted & IFF_UP) != 0);
    }
    if (fake_.observer_) fake_.observer_(LinkRecord(*link));
    return 0;
  }

 public:
  // __dev_open / __dev_close and what addrconf does on NETDEV_UP / NETDEV_DOWN.
  static void set_up(LinkRecord& link, bool up) {
    const bool was_up = (link.flags & IFF_UP) != 0;
    link.flags = up ? link.flags | kUp : link.flags & ~kUp;
    refresh(link);
    if (up == was_up) return;
    if (up) add_link_local(link);
    if (!up) drop_v6(link);
  }

 private:
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
    LinkRecord* link = fake_.find_link(r_.ifindex);
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
      return 0;
    }
    if (!v4) {
      if (r_.prefix_length > 128) return EINVAL;
      if (link->mtu < kIpv6MinMtu) return EINVAL;  // ipv6_add_dev refuses the device
    }
    insert_address(*link, prefix);
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
      link = fake_.find_link(r_.ifindex);
      if (link == nullptr) return ENODEV;
      std::optional<IpAddress> local;
      std::optional<IpAddress> peer;
      if (const Attribute* a = attr(IFA_LOCAL)) local = to_address(AF_INET, a->payload);
      if (const Attribute* a = attr(IFA_ADDRESS)) peer = to_address(AF_INET, a->payload);
      for (auto it = link->addresses.begin(); it != link->addresses.end(); ++it) {
        if (!it->address.is_v4()) continue;
        if (local && it->address != *local) continue;
        if (peer &&
            (it->length != r_.prefix_length || !same_network(*peer, it->address, it->length))) {
          continue;
        }
        erase_address(*link, static_cast<std::size_t>(it - link->addresses.begin()));
        return 0;
      }
      return EADDRNOTAVAIL;
    }
    if (!address) return EINVAL;
    if (r_.prefix_length > 128) return EINVAL;
    link = fake_.find_link(r_.ifindex);
    if (link == nullptr) return ENODEV;
    const auto it = std::find(link->addresses.begin(), link->addresses.end(),
                              IpPrefix{*address, r_.prefix_length});
    if (it == link->addresses.end()) return EADDRNOTAVAIL;
    erase_address(*link, static_cast<std::size_t>(it - link->addresses.begin()));
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
      if (only != 0 && fake_.find_link(only) == nullptr) {
        // The dump started, then failed: its status travels in NLMSG_DONE.
        append_multi(out, done_message(-ENODEV));
        return 0;
      }
    }
    for (const bool want_v4 : {true, false}) {
      if ((want_v4 && !v4) || (!want_v4 && !v6)) continue;
      for (const auto& [index, link] : fake_.links_) {
        if (only != 0 && index != only) continue;
        for (std::size_t i = 0; i < link.addresses.size(); ++i) {
          const IpPrefix& p = link.addresses[i];
          if (p.address.is_v4() != want_v4) continue;
          append_multi(out, address_message(link, p, is_secondary(link.addresses, i)));
        }
      }
    }
    append_multi(out, done_message());
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

int FakeRtnetlink::open_socket(int fd, int protocol) {
  if (protocol != NETLINK_ROUTE) return -EPROTONOSUPPORT;
  sockets_[fd] = Socket{};
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
  if (s.bound) return nl.nl_pid == 0 || nl.nl_pid == s.port_id ? 0 : -EINVAL;
  if (nl.nl_pid == 0) return autobind(s);
  for (const auto& [other_fd, other] : sockets_) {
    if (other.bound && other.port_id == nl.nl_pid) return -EADDRINUSE;
  }
  s.port_id = nl.nl_pid;
  s.bound = true;
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
  if (level != SOL_NETLINK || (name != NETLINK_CAP_ACK && name != NETLINK_GET_STRICT_CHK)) {
    return 0;
  }
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
  links_[index] = std::move(link);
}

void FakeRtnetlink::remove_link(unsigned ifindex) {
  links_.erase(ifindex);
}

void FakeRtnetlink::set_carrier(unsigned ifindex, bool carrier) {
  if (LinkRecord* link = find_link(ifindex)) {
    const bool gained = carrier && !link->carrier;
    link->carrier = carrier;
    refresh(*link);
    if (gained) add_link_local(*link);  // NETDEV_CHANGE with carrier on
  }
}

FakeRtnetlink::LinkRecord* FakeRtnetlink::find_link(unsigned ifindex) {
  const auto it = links_.find(ifindex);
  return it == links_.end() ? nullptr : &it->second;
}

FakeRtnetlink::LinkRecord* FakeRtnetlink::find_link(std::string_view name) {
  for (auto& [index, link] : links_) {
    if (link.name == name) return &link;
  }
  return nullptr;
}

std::optional<FakeRtnetlink::LinkRecord> FakeRtnetlink::link(unsigned ifindex) const {
  const auto it = links_.find(ifindex);
  if (it == links_.end()) return std::nullopt;
  return it->second;
}

std::optional<FakeRtnetlink::LinkRecord> FakeRtnetlink::link_named(std::string_view name) const {
  for (const auto& [index, link] : links_) {
    if (link.name == name) return link;
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
  if (LinkRecord* link = find_link(ifindex)) Handler::set_up(*link, up);
}

// --- Scripting -----------------------------------------------------------------------------

void FakeRtnetlink::fail_next(std::uint16_t type, int err) {
  failures_.emplace(type, err);
}

void FakeRtnetlink::edit_next_reply(std::uint16_t type, ReplyEditor editor) {
  editors_.emplace(type, std::move(editor));
}

}  // namespace tunkit::testing
