#include "detail/netlink/link.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/if_link.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "detail/eintr.hpp"
#include "detail/netlink/message.hpp"
#include "detail/netlink/no_throw.hpp"
#include "detail/netlink/parse.hpp"
#include "detail/netlink/socket.hpp"

namespace tunkit::detail::netlink {
namespace {

// The optional u32 attribute `type` of `table` into `field`; false when it is present with
// another size.
template <std::size_t N>
bool optional_u32(const AttributeTable<N>& table, int type, std::optional<std::uint32_t>& field) {
  if (const nlattr* a = table[static_cast<std::size_t>(type)]) {
    field = get_u32(*a);
    return field.has_value();
  }
  return true;
}

// IFLA_LINKINFO: the kind, and for "tun" the driver's own attributes (tun_fill_info).
std::error_code decode_link_info(const nlattr& info, LinkMessage& out) {
  std::array<const nlattr*, IFLA_INFO_DATA + 1> table{};
  if (auto ec = parse_nested(info, table)) return ec;
  if (table[IFLA_INFO_KIND] != nullptr) out.kind.assign(get_string(*table[IFLA_INFO_KIND]));
  if (out.kind != "tun" || table[IFLA_INFO_DATA] == nullptr) return {};

  AttributeTable<IFLA_TUN_NUM_DISABLED_QUEUES + 1> tun{};
  if (auto ec = parse_nested(*table[IFLA_INFO_DATA], tun)) return ec;
  TunLinkData data;
  // The flags are u8 attributes (nla_put_u8); the counts and ids u32.
  auto flag = [&](int type, bool& field) {
    if (const nlattr* a = tun[static_cast<std::size_t>(type)]) {
      const auto bytes = payload(*a);
      if (bytes.size() != 1) return false;
      field = bytes[0] != 0;
    }
    return true;
  };
  if (const nlattr* a = tun[IFLA_TUN_TYPE]) {
    const auto bytes = payload(*a);
    if (bytes.size() != 1) return protocol_error();
    data.type = bytes[0];
  }
  if (!flag(IFLA_TUN_PI, data.packet_info) || !flag(IFLA_TUN_VNET_HDR, data.vnet_hdr) ||
      !flag(IFLA_TUN_PERSIST, data.persist) || !flag(IFLA_TUN_MULTI_QUEUE, data.multi_queue) ||
      !optional_u32(tun, IFLA_TUN_OWNER, data.owner) ||
      !optional_u32(tun, IFLA_TUN_GROUP, data.group) ||
      !optional_u32(tun, IFLA_TUN_NUM_QUEUES, data.queues) ||
      !optional_u32(tun, IFLA_TUN_NUM_DISABLED_QUEUES, data.disabled_queues)) {
    return protocol_error();
  }
  out.tun = data;
  return {};
}

// IFLA_XDP (rtnl_xdp_fill): IFLA_XDP_ATTACHED (u8) and the program ids (u32) of what is attached.
std::error_code decode_xdp(const nlattr& nest, LinkMessage& out) {
  AttributeTable<IFLA_XDP_EXPECTED_FD + 1> xdp{};
  if (auto ec = parse_nested(nest, xdp)) return ec;
  XdpLinkData data;
  if (const nlattr* a = xdp[IFLA_XDP_ATTACHED]) {
    const auto bytes = payload(*a);
    if (bytes.size() != 1) return protocol_error();
    data.attached = bytes[0];
  }
  auto id = [&](int type, std::uint32_t& field) {
    std::optional<std::uint32_t> v;
    if (!optional_u32(xdp, type, v)) return false;
    field = v.value_or(0);
    return true;
  };
  if (!id(IFLA_XDP_PROG_ID, data.prog_id) || !id(IFLA_XDP_DRV_PROG_ID, data.drv_prog_id) ||
      !id(IFLA_XDP_SKB_PROG_ID, data.skb_prog_id) || !id(IFLA_XDP_HW_PROG_ID, data.hw_prog_id)) {
    return protocol_error();
  }
  out.xdp = data;
  return {};
}

// An RTM_*LINK request for interface `ifindex` (0: none, or by name) with its ifinfomsg;
// attributes follow.
Request link_request(std::uint16_t type, std::uint16_t flags, std::uint32_t ifindex,
                     std::uint32_t ifi_flags = 0, std::uint32_t ifi_change = 0) noexcept {
  Request r(type, flags);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = static_cast<int>(ifindex);
  ifi.ifi_flags = ifi_flags;
  ifi.ifi_change = ifi_change;
  r.put_header(ifi);
  return r;
}

// RTM_NEWLINK setting one u32 attribute of interface `ifindex`.
Request set_link_u32(std::uint32_t ifindex, std::uint16_t type, std::uint32_t value) noexcept {
  Request r = link_request(RTM_NEWLINK, 0, ifindex);
  r.put_u32(type, value);
  return r;
}

}  // namespace

std::error_code decode_link(const nlmsghdr& message, LinkMessage& out) {
  if (message.nlmsg_type != RTM_NEWLINK && message.nlmsg_type != RTM_DELLINK) {
    return protocol_error();
  }
  ifinfomsg ifi{};
  AttributeTable<IFLA_MAX_MTU + 1> attrs{};
  if (auto ec = parse_message(message, ifi, attrs)) return ec;
  out = {};
  out.message_type = message.nlmsg_type;
  out.ifindex = static_cast<std::uint32_t>(ifi.ifi_index);
  out.type = ifi.ifi_type;
  out.flags = ifi.ifi_flags;
  if (const nlattr* a = attrs[IFLA_IFNAME]) {
    const std::string_view name = get_string(*a);
    if (name.empty() || name.size() >= IFNAMSIZ) return protocol_error();
    out.name.assign(name);
  }
  if (!optional_u32(attrs, IFLA_MTU, out.mtu) || !optional_u32(attrs, IFLA_MIN_MTU, out.min_mtu) ||
      !optional_u32(attrs, IFLA_MAX_MTU, out.max_mtu) ||
      !optional_u32(attrs, IFLA_TXQLEN, out.txqlen)) {
    return protocol_error();
  }
  // IFLA_ADDRESS is dev->addr_len bytes: 6 for Ethernet (TAP), absent for TUN (addr_len 0),
  // other sizes for other link types, which have no MAC address to report.
  if (const nlattr* a = attrs[IFLA_ADDRESS]) {
    const auto bytes = payload(*a);
    if (bytes.size() == 6) {
      std::array<std::uint8_t, 6> mac{};
      std::copy(bytes.begin(), bytes.end(), mac.begin());
      out.mac = mac;
    }
  }
  // struct rtnl_link_stats64 grows with kernel versions; its first eight counters never move.
  if (const nlattr* a = attrs[IFLA_STATS64]) {
    const auto bytes = payload(*a);
    std::array<std::uint64_t, 8> counters{};
    if (bytes.size() < sizeof counters) return protocol_error();
    std::memcpy(counters.data(), bytes.data(), sizeof counters);  // payload: 4-byte aligned
    out.stats = LinkCounters{counters[0], counters[1], counters[2], counters[3],
                             counters[4], counters[5], counters[6], counters[7]};
  }
  if (const nlattr* a = attrs[IFLA_XDP]) {
    if (auto ec = decode_xdp(*a, out)) return ec;
  }
  if (const nlattr* a = attrs[IFLA_LINKINFO]) return decode_link_info(*a, out);
  return {};
}

std::error_code query_link(Socket& socket, Request request, LinkMessage& out) noexcept {
  bool found = false;
  auto on_message = [&](const nlmsghdr& message) -> std::error_code {
    if (found || message.nlmsg_type != RTM_NEWLINK) return errc::netlink_protocol;
    found = true;
    return no_throw([&] { return decode_link(message, out); });
  };
  std::error_code ec = socket.transact(request, on_message);
  if (!ec && !found) ec = errc::netlink_protocol;
  return ec;
}

Request get_link(std::uint32_t ifindex) noexcept {
  return link_request(RTM_GETLINK, 0, ifindex);
}

Request get_link(std::string_view name) noexcept {
  Request r = link_request(RTM_GETLINK, 0, 0);
  r.put_string(IFLA_IFNAME, name);
  return r;
}

Request dump_links(std::string_view kind) noexcept {
  Request r = link_request(RTM_GETLINK, NLM_F_DUMP, 0);
  if (!kind.empty()) {
    const std::size_t info = r.begin_nested(IFLA_LINKINFO);
    r.put_string(IFLA_INFO_KIND, kind);
    r.end_nested(info);
  }
  return r;
}

Request set_link_flags(std::uint32_t ifindex, std::uint32_t flags, std::uint32_t change) noexcept {
  return link_request(RTM_NEWLINK, 0, ifindex, flags, change);
}

Request set_link_mtu(std::uint32_t ifindex, std::uint32_t mtu) noexcept {
  return set_link_u32(ifindex, IFLA_MTU, mtu);
}

Request set_link_txqlen(std::uint32_t ifindex, std::uint32_t txqlen) noexcept {
  return set_link_u32(ifindex, IFLA_TXQLEN, txqlen);
}

Request set_link_xdp(std::uint32_t ifindex, int fd, std::uint32_t flags, int expected_fd) noexcept {
  Request r = link_request(RTM_NEWLINK, 0, ifindex);
  const std::size_t nest = r.begin_nested(IFLA_XDP);
  r.put_u32(IFLA_XDP_FD, static_cast<std::uint32_t>(fd));  // s32 in the kernel: -1 detaches
  r.put_u32(IFLA_XDP_FLAGS, flags);
  if ((flags & XDP_FLAGS_REPLACE) != 0) {
    r.put_u32(IFLA_XDP_EXPECTED_FD, static_cast<std::uint32_t>(expected_fd));
  }
  r.end_nested(nest);
  return r;
}

Request set_link_address(std::uint32_t ifindex, std::span<const std::uint8_t> address) noexcept {
  Request r = link_request(RTM_NEWLINK, 0, ifindex);
  r.put_bytes(IFLA_ADDRESS, address);
  return r;
}

Request set_link_name(std::uint32_t ifindex, std::string_view name) noexcept {
  Request r = link_request(RTM_NEWLINK, 0, ifindex);
  r.put_string(IFLA_IFNAME, name);
  return r;
}

Request set_link_netns_fd(std::uint32_t ifindex, std::uint32_t fd) noexcept {
  return set_link_u32(ifindex, IFLA_NET_NS_FD, fd);
}

Request set_link_netns_pid(std::uint32_t ifindex, std::uint32_t pid) noexcept {
  return set_link_u32(ifindex, IFLA_NET_NS_PID, pid);
}

}  // namespace tunkit::detail::netlink
