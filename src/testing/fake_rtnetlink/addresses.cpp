// The addresses of the fake rtnetlink: each link's list in the kernel's order, IPv6 link-local
// addresses, and RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR.
#include "testing/fake_rtnetlink/internal.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace tunkit::testing {
namespace fake_rtnl {
namespace {

constexpr std::uint32_t kIfaFlagsPermanent = IFA_F_PERMANENT;

std::uint8_t v6_scope(const IpAddress& a) {
  const auto b = a.bytes();
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return RT_SCOPE_LINK;
  if (a == IpAddress::v6({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})) return RT_SCOPE_HOST;
  return RT_SCOPE_UNIVERSE;
}

// --- The address list, in the kernel's order ---------------------------------------------------
// IPv4 (net/ipv4/devinet.c, __inet_insert_ifa): primaries in the order added, then secondaries
// (addresses in the subnet of an earlier one with the same prefix length) in the order added.
// IPv6 (net/ipv6/addrconf.c, ipv6_link_dev_addr): by scope, widest first; within a scope the
// newest first. Dumps list IPv4 before IPv6, so one vector holds both in dump order.

bool covers(const IpPrefix& a, const IpPrefix& b) {
  return a.address.is_v4() && b.address.is_v4() && a.length == b.length && a.contains(b.address);
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

}  // namespace

bool is_secondary(const std::vector<IpPrefix>& list, std::size_t i) {
  for (std::size_t j = 0; j < i; ++j) {
    if (covers(list[j], list[i])) return true;
  }
  return false;
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

}  // namespace fake_rtnl

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

// Removes address `i` of `link` (promoting a secondary, as the kernel does) and notifies.
void FakeRtnetlink::Handler::remove_address(FakeRtnetlink& fake, LinkRecord& link, std::size_t i,
                                            std::uint32_t seq, std::uint32_t port) {
  const IpPrefix removed = link.addresses[i];
  erase_address(link, i);
  fake.notify_address(link, removed, RTM_DELADDR, seq, port);
  link.peers.erase(removed);
  fake.prune_routes(link);
}

// The address named by a NEWADDR/DELADDR request: IFA_LOCAL, else IFA_ADDRESS.
std::optional<IpAddress> FakeRtnetlink::Handler::request_address(bool& malformed) const {
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
std::optional<IpAddress> FakeRtnetlink::Handler::request_peer() const {
  const Attribute* local = attr(IFA_LOCAL);
  const Attribute* address = attr(IFA_ADDRESS);
  if (local == nullptr || address == nullptr || local->payload == address->payload) return {};
  return to_address(r_.family, address->payload);
}

// inet_rtm_newaddr / inet6_rtm_newaddr
int FakeRtnetlink::Handler::new_address() {
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
int FakeRtnetlink::Handler::delete_address() {
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
      if (peer && (it->length != r_.prefix_length || !IpPrefix{base, it->length}.contains(*peer))) {
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
int FakeRtnetlink::Handler::dump_addresses(std::vector<Datagram>& out) {
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

}  // namespace tunkit::testing
