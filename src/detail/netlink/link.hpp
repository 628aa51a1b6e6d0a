#pragma once
// The link family (RTM_*LINK): what an interface message says, and the requests that read and
// change interfaces.

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "detail/netlink/request.hpp"

namespace tunkit::detail::netlink {

class Socket;

/// The first eight counters of `struct rtnl_link_stats64` (IFLA_STATS64), in its order.
struct LinkCounters {
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t rx_bytes = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_errors = 0;
  std::uint64_t tx_errors = 0;
  std::uint64_t rx_dropped = 0;
  std::uint64_t tx_dropped = 0;
};

/// What IFLA_INFO_DATA of a TUN/TAP device says (`tun_fill_info` in drivers/net/tun.c).
struct TunLinkData {
  std::uint8_t type = 0;                         ///< IFLA_TUN_TYPE: IFF_TUN (1) or IFF_TAP (2)
  bool packet_info = false;                      ///< IFLA_TUN_PI (IFF_NO_PI clear)
  bool vnet_hdr = false;                         ///< IFLA_TUN_VNET_HDR
  bool persist = false;                          ///< IFLA_TUN_PERSIST
  bool multi_queue = false;                      ///< IFLA_TUN_MULTI_QUEUE
  std::optional<std::uint32_t> owner;            ///< IFLA_TUN_OWNER: only when one is set
  std::optional<std::uint32_t> group;            ///< IFLA_TUN_GROUP: only when one is set
  std::optional<std::uint32_t> queues;           ///< IFLA_TUN_NUM_QUEUES (multi-queue only)
  std::optional<std::uint32_t> disabled_queues;  ///< IFLA_TUN_NUM_DISABLED_QUEUES (same)
};

/// An interface as RTM_NEWLINK (or RTM_DELLINK) describes it (a GETLINK answer or a
/// notification).
/// IFLA_XDP of an RTM_NEWLINK (rtnl_xdp_fill): what is attached and the programs' ids.
struct XdpLinkData {
  std::uint8_t attached = 0;      ///< IFLA_XDP_ATTACHED: XDP_ATTACHED_NONE, _DRV, _SKB, _HW, _MULTI
  std::uint32_t prog_id = 0;      ///< IFLA_XDP_PROG_ID: the one program (not with _MULTI)
  std::uint32_t drv_prog_id = 0;  ///< IFLA_XDP_DRV_PROG_ID (native)
  std::uint32_t skb_prog_id = 0;  ///< IFLA_XDP_SKB_PROG_ID (generic)
  std::uint32_t hw_prog_id = 0;   ///< IFLA_XDP_HW_PROG_ID (offloaded)
};

struct LinkMessage {
  std::uint16_t message_type = RTM_NEWLINK;  ///< nlmsg_type: RTM_NEWLINK or RTM_DELLINK
  std::uint32_t ifindex = 0;                 ///< ifi_index
  std::uint16_t type = 0;                    ///< ifi_type (ARPHRD_*)
  std::uint32_t flags = 0;                   ///< ifi_flags (IFF_*)
  std::string name;                          ///< IFLA_IFNAME
  std::optional<std::uint32_t> mtu;          ///< IFLA_MTU
  std::optional<std::uint32_t> min_mtu;      ///< IFLA_MIN_MTU (Linux 4.19+)
  std::optional<std::uint32_t> max_mtu;      ///< IFLA_MAX_MTU (Linux 4.19+)
  std::optional<std::uint32_t> txqlen;       ///< IFLA_TXQLEN
  /// IFLA_ADDRESS: the link-layer address (6 bytes for Ethernet; absent for TUN devices).
  std::optional<std::array<std::uint8_t, 6>> mac;
  std::optional<LinkCounters> stats;  ///< IFLA_STATS64
  std::string kind;                   ///< IFLA_LINKINFO/IFLA_INFO_KIND ("tun", "veth", ...)
  std::optional<TunLinkData> tun;     ///< IFLA_INFO_DATA when `kind` is "tun"
  std::optional<XdpLinkData> xdp;     ///< IFLA_XDP
};

/// Decodes an RTM_NEWLINK or RTM_DELLINK message. `errc::netlink_protocol` when it is malformed.
/// May throw std::bad_alloc (the name).
[[nodiscard]] std::error_code decode_link(const nlmsghdr& message, LinkMessage& out);

/// Sends `request` (an RTM_GETLINK that is not a dump) and decodes its single RTM_NEWLINK
/// answer into `out`: `errc::netlink_protocol` when there is none or more than one, ENOMEM when
/// the name cannot be stored.
[[nodiscard]] std::error_code query_link(Socket& socket, Request request,
                                         LinkMessage& out) noexcept;

/// RTM_GETLINK for the interface with index `ifindex`.
[[nodiscard]] Request get_link(std::uint32_t ifindex) noexcept;
/// RTM_GETLINK for the interface named `name` (IFLA_IFNAME).
[[nodiscard]] Request get_link(std::string_view name) noexcept;
/// RTM_GETLINK dump of every interface, or with a non-empty `kind` only of that kind
/// (IFLA_LINKINFO/IFLA_INFO_KIND: a filter the kernel applies since Linux 4.20; callers still
/// filter, for older kernels).
[[nodiscard]] Request dump_links(std::string_view kind = {}) noexcept;
/// RTM_NEWLINK changing the `change` bits of the interface's flags to those of `flags`.
[[nodiscard]] Request set_link_flags(std::uint32_t ifindex, std::uint32_t flags,
                                     std::uint32_t change) noexcept;
/// RTM_NEWLINK with a nested IFLA_XDP: IFLA_XDP_FD `fd` (-1: detach), IFLA_XDP_FLAGS `flags`
/// (XDP_FLAGS_*) and, with XDP_FLAGS_REPLACE, IFLA_XDP_EXPECTED_FD `expected_fd`.
[[nodiscard]] Request set_link_xdp(std::uint32_t ifindex, int fd, std::uint32_t flags,
                                   int expected_fd = -1) noexcept;
/// RTM_NEWLINK setting IFLA_MTU.
[[nodiscard]] Request set_link_mtu(std::uint32_t ifindex, std::uint32_t mtu) noexcept;
/// RTM_NEWLINK setting IFLA_TXQLEN.
[[nodiscard]] Request set_link_txqlen(std::uint32_t ifindex, std::uint32_t txqlen) noexcept;
/// RTM_NEWLINK setting IFLA_ADDRESS (the link-layer address).
[[nodiscard]] Request set_link_address(std::uint32_t ifindex,
                                       std::span<const std::uint8_t> address) noexcept;
/// RTM_NEWLINK setting IFLA_IFNAME on the interface with index `ifindex` (a rename).
[[nodiscard]] Request set_link_name(std::uint32_t ifindex, std::string_view name) noexcept;
/// RTM_NEWLINK moving the interface into the network namespace of descriptor `fd`
/// (IFLA_NET_NS_FD).
[[nodiscard]] Request set_link_netns_fd(std::uint32_t ifindex, std::uint32_t fd) noexcept;
/// RTM_NEWLINK moving the interface into the network namespace of process `pid`
/// (IFLA_NET_NS_PID).
[[nodiscard]] Request set_link_netns_pid(std::uint32_t ifindex, std::uint32_t pid) noexcept;

}  // namespace tunkit::detail::netlink
