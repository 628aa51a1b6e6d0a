#pragma once
/// @file
/// `tunkit::testing::FakeRtnetlink`: a semantic fake of the kernel's NETLINK_ROUTE sockets.

#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tunkit/address.hpp"
#include "tunkit/link.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/testing/export.hpp"

namespace tunkit::testing {

/// A fake of the kernel's rtnetlink (NETLINK_ROUTE) for unit tests: it keeps a table of links
/// (index, name, flags, MTU and its range, txqueuelen, MAC address, counters, addresses with
/// their peers, the network namespace each is in) and of routes, and answers the requests written
/// to its sockets as the kernel does — an ACK (NLMSG_ERROR with error 0) when NLM_F_ACK is set, an
/// NLMSG_ERROR with -errno on failure, dumps as NLM_F_MULTI messages ended by NLMSG_DONE — so
/// code under test can be checked both for its effect (`link()`) and its marshalling
/// (`requests()`), and driven down every errno path (`fail_next()`, `edit_next_reply()`).
///
/// Understood requests, with the kernel's errors (Linux 6.x, see rtnetlink(7)):
/// - RTM_GETLINK by ifi_index or IFLA_IFNAME (ENODEV when absent, EINVAL with neither), or as a
///   dump (filtered by IFLA_LINKINFO/IFLA_INFO_KIND when given; on strict sockets EINVAL for
///   other attributes than IFLA_TARGET_NETNSID, IFLA_EXT_MASK, IFLA_MASTER, IFLA_LINKINFO, or a
///   non-zero ifi_index). Answers RTM_NEWLINK with IFLA_IFNAME, IFLA_MTU, IFLA_MIN_MTU,
///   IFLA_MAX_MTU, IFLA_TXQLEN, IFLA_OPERSTATE, IFLA_STATS64, for Ethernet links IFLA_ADDRESS and
///   IFLA_BROADCAST, and IFLA_LINKINFO for TUN/TAP links (see `set_tun_info_source`).
/// - RTM_NEWLINK on an existing index: ifi_flags/ifi_change (IFF_UP also sets IFF_RUNNING and
///   IFF_LOWER_UP when the link has carrier, as a TUN device with a reader does), IFLA_MTU
///   (EINVAL outside [min_mtu, max_mtu]), IFLA_IFNAME (rename: EEXIST when taken, EBUSY while
///   up, as Linux before 6.2; a template with "%d" picks the lowest free number), IFLA_TXQLEN,
///   IFLA_ADDRESS (EOPNOTSUPP for a link without a MAC address such as TUN, EADDRNOTAVAIL for a
///   multicast or all-zero one, EINVAL for a size other than 6), IFLA_NET_NS_FD / IFLA_NET_NS_PID
///   (see "Namespaces"); NLM_F_EXCL on an existing link is EEXIST.
/// - RTM_NEWADDR / RTM_DELADDR with IFA_LOCAL / IFA_ADDRESS: EEXIST for a duplicate (IPv4: same
///   address and prefix length; IPv6: same address), EADDRNOTAVAIL when deleting an absent one,
///   EINVAL for a bad prefix length or an IPv6 address on a link with MTU below 1280. IFA_LOCAL
///   and IFA_ADDRESS that differ make a point-to-point address with a peer (both families), which
///   dumps report with IFA_LOCAL and IFA_ADDRESS as the kernel does.
/// - RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE (dump) for AF_INET and AF_INET6 routes with
///   RTA_OIF (routes without an output interface, multipath and nexthop objects are EOPNOTSUPP):
///   ENODEV for an unknown interface, ENETDOWN while it is down, EINVAL for IPv4 host bits set in
///   the destination (IPv6 clears them) or an RTA_PREFSRC that is no local address, ENETUNREACH
///   (IPv4) / EHOSTUNREACH (IPv6) for a gateway outside the interface's networks, ENODEV for IPv6
///   on a link with MTU below 1280, EEXIST for the same destination, table and metric with
///   NLM_F_EXCL (without it the route is replaced); IPv6 metric 0 becomes 1024. Deleting matches
///   destination, and when given output interface, gateway, metric (non-zero) and protocol
///   (non-zero); ESRCH when nothing matches. Dumps list the routes added plus those the kernel
///   makes itself (RTPROT_KERNEL): IPv4 prefix routes of primary addresses (and of peers) while
///   the link is up, IPv6 prefix routes (metric 256) of its addresses, including fe80::/64.
///   Taking a link down or removing it drops its routes; removing an IPv4 address drops the
///   routes whose gateway it made reachable; an MTU below 1280 drops IPv6 routes.
/// - RTM_GETADDR dump, of one family or both (AF_UNSPEC: IPv4 first), of every link; on a socket
///   with NETLINK_GET_STRICT_CHK (Linux 4.20+) only of the link in ifa_index (ENODEV, in the
///   NLMSG_DONE status, when it does not exist), and EINVAL for non-zero ifa_prefixlen, ifa_flags
///   or ifa_scope or any attribute. Strict RTM_GETLINK requests need ifi_flags and ifi_change of
///   0. `set_strict_check_supported(false)` makes the fake an older kernel that refuses the option
///   (ENOPROTOOPT) and dumps every link's addresses.
/// - Anything else is EOPNOTSUPP, including RTM_DELLINK, RTM_NEWLINK with NLM_F_CREATE for an
///   absent link (devices belong to FakeKernel, which calls `add_link` / `remove_link`) and
///   RTM_GETADDR without NLM_F_DUMP. A malformed message (short header, overrunning attribute,
///   bad attribute size) is EINVAL: stricter than the kernel, which only logs a warning about
///   bytes left after the attributes, so that marshalling bugs fail tests. A datagram that does
///   not hold a whole netlink header is dropped silently, as by the kernel.
/// - Notifications: sockets bound to multicast groups (nl_groups, or NETLINK_ADD_MEMBERSHIP)
///   receive, in their namespace, RTM_NEWLINK for every change of a link (flags, carrier, MTU,
///   name, txqueuelen, MAC address; also `add_link`, `set_link`, `set_carrier`, `set_admin_up`)
///   and RTM_DELLINK when one goes (RTMGRP_LINK); RTM_NEWADDR / RTM_DELADDR for every address
///   added or removed, by a request or as a side effect (link-local address on up, IPv6
///   addresses dropped on down) (RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR); RTM_NEWROUTE /
///   RTM_DELROUTE for routes added or deleted by requests (RTMGRP_IPV4_ROUTE,
///   RTMGRP_IPV6_ROUTE). Link notifications carry sequence number and port 0, address and route
///   ones those of the request that caused them, as the kernel's do. A socket's queue holds any
///   number of them unless `set_receive_limit` makes it overflow as a full receive buffer does.
/// - Namespaces: every link and socket is in a network namespace, named by a string ("" for the
///   initial one; FakeKernel decides which from the calling thread). Requests see only the links
///   of their socket's namespace (ENODEV for others), dumps list only those, and notifications
///   go only to sockets there. IFLA_NET_NS_FD names the target by a descriptor, resolved by the
///   function given to `set_netns_resolver` (EBADF, or EINVAL for a descriptor that is not a
///   network namespace); IFLA_NET_NS_PID by a process, resolved by `set_pid_resolver` (ESRCH).
///   Moving a link into its own namespace changes nothing; into another, EEXIST when its name is
///   taken there, else it goes down, loses its addresses and routes, and moves (RTM_DELLINK in the
///   old namespace, RTM_NEWLINK in the new one). `lo` (ifindex 1) cannot move: EINVAL.
/// - XDP (IFLA_XDP in RTM_NEWLINK, reported in every RTM_NEWLINK answer) as dev_xdp_attach
///   answers, measured on Linux 6.18: program descriptors resolved by `set_xdp_program_resolver`;
///   more than one mode flag or unknown flags EINVAL; XDP_FLAGS_REPLACE without
///   IFLA_XDP_EXPECTED_FD EINVAL, and EEXIST when the attached program is not the expected one;
///   with XDP_FLAGS_UPDATE_IF_NOEXIST, EBUSY when a program is attached in that mode; EEXIST
///   when the other of native and generic has one; native mode on a link without native XDP
///   (`LinkRecord::native_xdp`: TUN devices) EOPNOTSUPP. No mode flag means native where the
///   link has it, else generic. IFLA_XDP_FD -1 detaches (nothing attached: success).
/// - Side effects as the kernel: a link that comes up with carrier (MTU >= 1280) gets an IPv6
///   link-local address, fe80::ff:fe00:IFINDEX/64 here (the kernel picks a random one for TUN);
///   taking it down, or its MTU below 1280, drops its IPv6 addresses
///   (net.ipv6.conf.*.keep_addr_on_down = 0); removing a link drops its addresses.
/// - Address order as the kernel dumps it: IPv4 primaries in the order added, then secondaries
///   (IFA_F_SECONDARY: in the subnet of an earlier address with the same prefix length); then
///   IPv6 by scope (global before link-local), newest first. Deleting an IPv4 primary promotes
///   its first secondary (net.ipv4.conf.*.promote_secondaries = 1, systemd's default).
/// - NETLINK_CAP_ACK (setsockopt) is honoured: error answers then carry only the request header,
///   else the whole request; so is NETLINK_GET_STRICT_CHK (above). Other options are accepted and
///   ignored. NLMSG_ERROR answers carry NLM_F_CAPPED as the kernel's do.
///
/// Generic netlink (NETLINK_GENERIC sockets, unless `set_generic_netlink(false)`): the
/// controller answers CTRL_CMD_GETFAMILY for "ethtool" (id `kEthtoolFamilyId`; ENOENT for any
/// other name), and the ethtool family answers, for the link in ETHTOOL_A_HEADER_DEV_INDEX
/// (ENODEV when absent from the socket's namespace) and as the kernel does for tun
/// (net/ethtool/, drivers/net/tun.c, measured on Linux 6.18), with `LinkRecord::ethtool`:
/// - LINKMODES_GET/SET: speed, duplex, autoneg; tun stores any value.
/// - DEBUG_GET (compact or verbose bitset) / DEBUG_SET (compact bitset, or named bits):
///   msg_enable; a bit at or past 32 is EINVAL with the extack "cannot modify bits past kernel
///   bitset size".
/// - COALESCE_GET/SET: rx-frames only (others are EOPNOTSUPP), capped at 64 as tun does.
/// - FEATURES_GET/SET: a table of named features (`EthtoolRecord::features`); GET answers
///   hw_features as a verbose bitset over every feature, wanted/active/nochange as lists; SET
///   (named bits; an unknown name is EINVAL "bit name not found") changes the wanted state of
///   changeable features only, as ethnl_set_features, and the active state follows: a TUN/TAP
///   offload feature is active only while the offloads offered with TUNSETOFFLOAD
///   (`set_tun_offloads`) include it, and TUNSETOFFLOAD rewrites its wanted state
///   (tun_set_offload).
/// Every SET needs CAP_NET_ADMIN (EPERM); replies carry the request header with the link's
/// index and name; ETHTOOL_FLAG_OMIT_REPLY is honoured (SET replies are never sent here).
///
/// Sockets: `FakeKernel` allocates the descriptors and forwards the AF_NETLINK socket calls of
/// `tunkit::sys::Syscalls` to the socket methods below (which return results or -errno like the
/// seam). Each descriptor has its own queue of answer datagrams, read by `recvfrom` one at a time.
/// Port ids are assigned at bind (or at the first send) as the kernel does: the first socket gets
/// `kFirstPortId` (the kernel uses the process id), the next ones negative numbers from -4096.
///
/// Thread safety: none. `FakeKernel` serialises every call under its own mutex; use the
/// inspection and scripting methods from one thread, or while no other thread uses the fake.
class TUNKIT_TESTING_EXPORT FakeRtnetlink {
 public:
  /// The port id given to the first socket bound with nl_pid 0.
  static constexpr std::uint32_t kFirstPortId = 4242;

  /// The ifi_type of a TUN device (ARPHRD_NONE: no link layer).
  static constexpr std::uint16_t kTypeNone = 0xFFFE;
  /// The ifi_type of a TAP device (ARPHRD_ETHER).
  static constexpr std::uint16_t kTypeEther = 1;
  /// The generic-netlink family id of "ethtool" here (the kernel assigns one at boot).
  static constexpr std::uint16_t kEthtoolFamilyId = 0x15;
  /// One device feature as ethtool's FEATURES messages name it.
  struct FeatureRecord {
    std::string name;         ///< the kernel's name ("tx-udp-segmentation")
    bool changeable = false;  ///< in hw_features
    bool wanted = false;      ///< in wanted_features
    /// TUN_F_* bits the reader must offer (TUNSETOFFLOAD) for it to be active; 0: none.
    std::uint32_t needs_offloads = 0;
    /// Equal when every field is.
    friend bool operator==(const FeatureRecord&, const FeatureRecord&) = default;
  };
  /// The ethtool state of a link (a TUN/TAP device's as tun keeps it).
  struct EthtoolRecord {
    std::uint32_t speed = 10000;   ///< Mbit/s (tun's default since Linux 6.2)
    std::uint8_t duplex = 1;       ///< DUPLEX_FULL
    bool autoneg = false;          ///< AUTONEG_DISABLE
    std::uint32_t msg_enable = 0;  ///< NETIF_MSG_* bits
    std::uint32_t rx_frames = 0;   ///< tun's rx_batched
    std::uint32_t offloads = 0;    ///< TUN_F_* bits offered by the last TUNSETOFFLOAD
    /// tun's features, a subset of the kernel's table (order as the kernel's bits).
    std::vector<FeatureRecord> features = default_features();
    /// Whether feature `f` is active now: wanted, and for an offload, offered.
    [[nodiscard]] bool active(const FeatureRecord& f) const {
      return f.wanted && (offloads & f.needs_offloads) == f.needs_offloads;
    }
    /// The features of a new tun device: scatter-gather, GSO and GRO on; the offloads wanted
    /// but waiting for TUNSETOFFLOAD; rx-checksum and loopback fixed off.
    static std::vector<FeatureRecord> default_features();
  };

  /// One interface in the fake's table.
  struct LinkRecord {
    unsigned ifindex = 0;             ///< interface index (> 0)
    std::string name;                 ///< interface name (at most 15 bytes)
    unsigned flags = 0;               ///< ifi_flags as reported (IFF_UP, IFF_RUNNING, ...)
    unsigned mtu = 1500;              ///< current MTU
    unsigned min_mtu = 68;            ///< smallest MTU accepted (IFLA_MIN_MTU)
    unsigned max_mtu = 65535;         ///< largest MTU accepted (IFLA_MAX_MTU)
    bool carrier = true;              ///< a reader is attached: up implies RUNNING|LOWER_UP
    std::vector<IpPrefix> addresses;  ///< IPv4 then IPv6, in the kernel's dump order
    /// Peers of point-to-point addresses, by the address (with its prefix length) in
    /// `addresses`.
    std::map<IpPrefix, IpAddress> peers;
    std::uint16_t type = kTypeNone;  ///< ifi_type (ARPHRD_*)
    std::optional<MacAddress> mac;   ///< IFLA_ADDRESS (Ethernet links only)
    unsigned txqlen = 500;           ///< IFLA_TXQLEN
    LinkStats stats;                 ///< IFLA_STATS64 (see `count_packet`)
    std::string netns;               ///< the network namespace it is in ("" the initial one)
    /// The driver has native XDP (ndo_bpf): TAP devices and Ethernet interfaces; TUN devices
    /// have generic XDP only (measured: XDP_FLAGS_DRV_MODE on a TUN is -EOPNOTSUPP).
    bool native_xdp = false;
    std::uint32_t xdp_native_prog = 0;   ///< id of the native-mode XDP program (0: none)
    std::uint32_t xdp_generic_prog = 0;  ///< id of the generic-mode XDP program (0: none)
    EthtoolRecord ethtool;               ///< what the ethtool netlink family reads and sets
  };

  /// One route in the fake's table, as added by a request (the kernel's own prefix routes are
  /// derived from the addresses when dumping, and not held here).
  struct RouteRecord {
    IpPrefix destination;              ///< network (host bits clear)
    std::optional<IpAddress> gateway;  ///< RTA_GATEWAY
    std::optional<IpAddress> source;   ///< RTA_PREFSRC
    unsigned oif = 0;                  ///< RTA_OIF
    std::uint32_t metric = 0;          ///< RTA_PRIORITY (IPv6: 0 stored as 1024)
    std::uint32_t table = 254;         ///< RT_TABLE_MAIN unless asked otherwise
    std::uint8_t protocol = 0;         ///< rtm_protocol
    std::uint8_t scope = 0;            ///< rtm_scope
    std::uint8_t type = 1;             ///< rtm_type (RTN_UNICAST)
    /// Equal when every field is.
    friend bool operator==(const RouteRecord&, const RouteRecord&) = default;
  };

  /// One attribute of a recorded request (top level only; nested payloads stay raw).
  struct Attribute {
    std::uint16_t type = 0;             ///< nla_type without the NLA_F_* bits
    std::vector<std::uint8_t> payload;  ///< payload bytes, without padding

    /// The payload as a 32-bit host-order value, when it is exactly 4 bytes.
    [[nodiscard]] std::optional<std::uint32_t> u32() const;
    /// The payload as text up to the first NUL.
    [[nodiscard]] std::string str() const;
  };

  /// One request message as a socket sent it, decoded for assertions.
  struct Request {
    int fd = -1;                ///< the socket it was sent on
    std::uint16_t type = 0;     ///< nlmsg_type (RTM_*)
    std::uint16_t flags = 0;    ///< nlmsg_flags (NLM_F_*)
    std::uint32_t seq = 0;      ///< nlmsg_seq
    std::uint32_t port_id = 0;  ///< nlmsg_pid
    /// The family header, decoded for link (RTM_*LINK: ifinfomsg), address (RTM_*ADDR:
    /// ifaddrmsg) and route (RTM_*ROUTE: rtmsg) messages; zero otherwise.
    std::uint8_t family = 0;            ///< ifi_family / ifa_family / rtm_family
    std::uint32_t ifindex = 0;          ///< ifi_index / ifa_index
    std::uint32_t ifi_flags = 0;        ///< ifinfomsg only
    std::uint32_t ifi_change = 0;       ///< ifinfomsg only
    std::uint8_t prefix_length = 0;     ///< ifa_prefixlen / rtm_dst_len
    std::uint8_t ifa_flags = 0;         ///< ifaddrmsg only
    std::uint8_t scope = 0;             ///< ifa_scope / rtm_scope
    std::uint8_t table = 0;             ///< rtmsg only: rtm_table
    std::uint8_t protocol = 0;          ///< rtmsg only: rtm_protocol
    std::uint8_t route_type = 0;        ///< rtmsg only: rtm_type
    std::uint8_t genl_cmd = 0;          ///< generic netlink only: genlmsghdr's cmd
    std::vector<Attribute> attributes;  ///< top-level attributes, in order
    std::vector<std::byte> bytes;       ///< the whole message as sent

    /// The first attribute of `type`, or null.
    [[nodiscard]] const Attribute* find(std::uint16_t type) const;
    /// True when every bit of `mask` is set in `flags`.
    [[nodiscard]] bool has_flags(std::uint16_t mask) const { return (flags & mask) == mask; }
  };

  /// What a TUN/TAP link reports in IFLA_LINKINFO (kind "tun"), as tun_fill_info() does.
  struct TunInfo {
    std::uint8_t type = 1;               ///< IFLA_TUN_TYPE: IFF_TUN (1) or IFF_TAP (2)
    bool packet_info = false;            ///< IFLA_TUN_PI
    bool vnet_hdr = false;               ///< IFLA_TUN_VNET_HDR
    bool persist = false;                ///< IFLA_TUN_PERSIST
    bool multi_queue = false;            ///< IFLA_TUN_MULTI_QUEUE (then the two counts below)
    std::optional<std::uint32_t> owner;  ///< IFLA_TUN_OWNER, sent only when set
    std::optional<std::uint32_t> group;  ///< IFLA_TUN_GROUP, sent only when set
    std::uint32_t queues = 0;            ///< IFLA_TUN_NUM_QUEUES
    std::uint32_t disabled_queues = 0;   ///< IFLA_TUN_NUM_DISABLED_QUEUES
  };
  /// Says, for a link index, whether the link is a TUN/TAP device and what it reports.
  using TunInfoSource = std::function<std::optional<TunInfo>(unsigned ifindex)>;

  /// Edits the answer datagrams of one request before they are queued: change, drop, add.
  using ReplyEditor = std::function<void(std::vector<std::vector<std::byte>>& datagrams)>;
  /// Told of a link after an RTM_NEWLINK request changed it (flags, MTU, name, namespace).
  using LinkObserver = std::function<void(const LinkRecord& link)>;
  /// Resolves a namespace descriptor (IFLA_NET_NS_FD) to a namespace name: 0, or -EBADF /
  /// -EINVAL.
  using NetnsResolver = std::function<int(int fd, std::string& netns)>;
  /// Resolves a process id (IFLA_NET_NS_PID) to the name of its namespace: 0, or -ESRCH.
  using PidResolver = std::function<int(std::uint32_t pid, std::string& netns)>;
  /// Resolves an eBPF program descriptor (IFLA_XDP_FD, IFLA_XDP_EXPECTED_FD) to the program's
  /// id, as bpf_prog_get_type_dev(fd, BPF_PROG_TYPE_XDP) does: 0, -EBADF (not open, or not a
  /// BPF descriptor) or -EINVAL (a program of another type).
  using XdpProgramResolver = std::function<int(int fd, std::uint32_t& prog_id)>;

  FakeRtnetlink();
  ~FakeRtnetlink();
  FakeRtnetlink(const FakeRtnetlink&) = delete;
  FakeRtnetlink& operator=(const FakeRtnetlink&) = delete;

  // --- Socket surface, called by FakeKernel for its AF_NETLINK descriptors ---------------------

  /// A new socket on descriptor `fd` in namespace `netns`: 0, or -EPROTONOSUPPORT for protocols
  /// other than NETLINK_ROUTE (0) and NETLINK_GENERIC (16; see `set_generic_netlink`).
  int open_socket(int fd, int protocol, std::string netns = {});
  /// bind(2): nl_pid 0 assigns a port id; a port id in use is -EADDRINUSE; -EINVAL for a short or
  /// non-AF_NETLINK address or a second bind to another port id. nl_groups subscribes to those
  /// multicast groups (RTMGRP_* bits).
  int bind(int fd, const sockaddr* addr, socklen_t len);
  /// getsockname(2): the sockaddr_nl with the socket's port id (0 before it is bound), truncated
  /// to `*len` like the kernel; `*len` is set to the full size.
  int getsockname(int fd, sockaddr* addr, socklen_t* len);
  /// setsockopt(2): accepted (NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK and
  /// NETLINK_ADD_MEMBERSHIP / NETLINK_DROP_MEMBERSHIP for groups 1 to 32 are honoured, the rest
  /// ignored).
  int setsockopt(int fd, int level, int name, const void* value, socklen_t len);
  /// sendto(2): handles every netlink message of the datagram and queues the answers on `fd`.
  /// Returns `len`; -ECONNREFUSED for a destination other than the kernel (nl_pid != 0),
  /// -EINVAL for a short destination address.
  ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* addr,
                 socklen_t addrlen);
  /// recvfrom(2): pops one datagram (MSG_PEEK leaves it), -EAGAIN when none is queued. A datagram
  /// longer than `len` is cut and the rest discarded; with MSG_TRUNC the real length is returned.
  /// The source address is the kernel's (nl_pid 0).
  ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                   socklen_t* addrlen);
  /// The socket on `fd` is closed: its queue and port id go away.
  void close_socket(int fd);
  /// Lets at most `datagrams` datagrams wait on `fd` (0: no limit, the default), as a receive
  /// buffer (SO_RCVBUF) does, counted in datagrams rather than bytes. A notification that finds
  /// the queue full is dropped and the socket overflows, as in the kernel (netlink_overrun,
  /// netlink_broadcast_deliver, netlink_rcv_wake): every later notification is dropped too
  /// until the queue has been read empty, and the next `recvfrom` fails with -ENOBUFS once,
  /// before the datagrams still queued, which stay (they are older than the loss). 0 when done,
  /// -EBADF for an unknown descriptor.
  int set_receive_limit(int fd, std::size_t datagrams);

  // --- Link table ---------------------------------------------------------------------------

  /// Adds a TUN-like link in the initial namespace: IFF_POINTOPOINT | IFF_NOARP |
  /// IFF_MULTICAST, down, carrier on, MTU range 68..65535, no addresses. Replaces a link with the
  /// same index. Notifies RTM_NEWLINK.
  void add_link(unsigned ifindex, std::string name, unsigned mtu = 1500);
  /// Adds or replaces (by index) a link exactly as given. Notifies RTM_NEWLINK.
  void set_link(LinkRecord link);
  /// Removes a link with its addresses and routes; nothing when absent. Notifies RTM_DELADDR for
  /// each address, then RTM_DELLINK.
  void remove_link(unsigned ifindex);
  /// Counts one packet of `bytes` in the link's IFLA_STATS64: received (`rx`: the program wrote
  /// it to the device) or transmitted (the program read what the stack sent through the device:
  /// the tun driver counts it then), or dropped (the queue was full or nobody held the device).
  void count_packet(unsigned ifindex, bool rx, std::size_t bytes, bool dropped = false);
  /// Installs the resolver of IFLA_NET_NS_FD (without one, every descriptor is -EINVAL).
  void set_netns_resolver(NetnsResolver resolver) { netns_resolver_ = std::move(resolver); }
  /// Installs the resolver of IFLA_NET_NS_PID (without one, every pid is -ESRCH).
  void set_pid_resolver(PidResolver resolver) { pid_resolver_ = std::move(resolver); }
  /// Installs the resolver of XDP program descriptors (without one, every descriptor is -EBADF).
  void set_xdp_program_resolver(XdpProgramResolver resolver) {
    xdp_resolver_ = std::move(resolver);
  }
  /// Sets whether the link has carrier (a reader attached); updates RUNNING/LOWER_UP when up.
  void set_carrier(unsigned ifindex, bool carrier);
  /// Sets or clears IFF_UP with the same effects as an RTM_NEWLINK request (link-local address,
  /// IPv6 addresses dropped when going down), without a request and without telling the
  /// observer: for FakeKernel's own `set_up`.
  void set_admin_up(unsigned ifindex, bool up);
  /// Installs `observer` (replacing any previous one; empty to remove): FakeKernel uses it to
  /// follow IFF_UP changes made over netlink. It runs inside `sendto`, so it must not call back
  /// into whatever serialises the calls to this object.
  void set_link_observer(LinkObserver observer) { observer_ = std::move(observer); }
  /// The link with index `ifindex`.
  [[nodiscard]] std::optional<LinkRecord> link(unsigned ifindex) const;
  /// The link named `name` in namespace `netns`.
  [[nodiscard]] std::optional<LinkRecord> link_named(std::string_view name,
                                                     std::string_view netns = {}) const;
  /// Every link, by index, of every namespace.
  [[nodiscard]] std::vector<LinkRecord> links() const;
  /// The routes added by requests (not the kernel's own prefix routes), in the order added.
  [[nodiscard]] const std::vector<RouteRecord>& routes() const { return routes_; }

  // --- Scripting ----------------------------------------------------------------------------

  /// The next request of nlmsg_type `type` fails with `err` (a positive errno) without effect:
  /// answered by NLMSG_ERROR with -err. Several calls queue up in order.
  void fail_next(std::uint16_t type, int err);
  /// As `fail_next`, with the kernel's extended-ack message `extack` (NLMSGERR_ATTR_MSG, with
  /// NLM_F_ACK_TLVS) in the error answer when the socket turned NETLINK_EXT_ACK on, as the
  /// kernel does for refusals that set one (NL_SET_ERR_MSG).
  void fail_next(std::uint16_t type, int err, std::string extack);
  /// The next generic-netlink request with command `cmd` (ETHTOOL_MSG_*, or CTRL_CMD_* to the
  /// controller) fails with `err`, with `extack` as the kernel's message when not empty.
  void fail_next_genl(std::uint8_t cmd, int err, std::string extack = {});
  /// Whether NETLINK_GENERIC sockets open (default true); false: -EPROTONOSUPPORT, as a kernel
  /// without generic netlink.
  void set_generic_netlink(bool supported) { generic_supported_ = supported; }
  /// TUNSETOFFLOAD on link `ifindex` offered the TUN_F_* `bits`: the offload features follow
  /// (tun_set_offload rewrites their wanted state, and they are active when offered). FakeKernel
  /// calls it for its TUN/TAP devices.
  void set_tun_offloads(unsigned ifindex, std::uint32_t bits);
  /// The answer to the next request of nlmsg_type `type` goes through `editor` before it is
  /// queued (to truncate it, corrupt lengths, add stale messages...).
  void edit_next_reply(std::uint16_t type, ReplyEditor editor);
  /// Installs `source` (empty to remove): links it describes carry IFLA_LINKINFO with kind "tun"
  /// and IFLA_INFO_DATA in RTM_NEWLINK answers, and match a dump's IFLA_INFO_KIND "tun" filter.
  /// FakeKernel installs one for its TUN/TAP devices. Like the observer it runs inside `sendto`.
  void set_tun_info_source(TunInfoSource source) { tun_info_ = std::move(source); }
  /// Whether the caller has CAP_NET_ADMIN (default true). Without it every request that changes
  /// something (RTM_NEW*, RTM_DEL*, RTM_SET*) fails with EPERM, as in the kernel.
  void set_net_admin(bool has) { net_admin_ = has; }
  /// Whether setsockopt(NETLINK_GET_STRICT_CHK) is known (default true, as Linux 4.20+); when
  /// false it fails with -ENOPROTOOPT, as on older kernels, and no socket is strict.
  void set_strict_check_supported(bool supported) { strict_supported_ = supported; }

  // --- Inspection ---------------------------------------------------------------------------

  /// Every request message received so far, in order.
  [[nodiscard]] const std::vector<Request>& requests() const { return requests_; }
  /// Forgets the recorded requests.
  void clear_requests() { requests_.clear(); }
  /// The number of open netlink sockets.
  [[nodiscard]] std::size_t open_sockets() const { return sockets_.size(); }
  /// The number of answer datagrams waiting on `fd` (0 for an unknown descriptor).
  [[nodiscard]] std::size_t pending(int fd) const;
  /// The number of notifications dropped on `fd` because its queue was full (see
  /// `set_receive_limit`; 0 for an unknown descriptor).
  [[nodiscard]] std::size_t dropped(int fd) const;

 private:
  struct Socket {
    std::uint32_t port_id = 0;
    bool bound = false;
    bool cap_ack = false;
    bool ext_ack = false;      // NETLINK_EXT_ACK
    bool strict = false;       // NETLINK_GET_STRICT_CHK
    std::uint32_t groups = 0;  // multicast groups (RTMGRP_* bits)
    int protocol = 0;          // NETLINK_ROUTE or NETLINK_GENERIC
    std::string netns;
    std::deque<std::vector<std::byte>> queue;
    std::size_t limit = 0;    // datagrams that may wait (0: no limit)
    bool congested = false;   // NETLINK_S_CONGESTED: drop notifications until read empty
    int error = 0;            // sk_err: reported by the next recvfrom, once
    std::size_t dropped = 0;  // notifications lost to a full queue
  };
  class Handler;  // answers one request (src/testing/fake_rtnetlink/internal.hpp)
  // Answers one generic-netlink request (src/testing/fake_rtnetlink/ethtool.cpp).
  std::vector<std::vector<std::byte>> genl(Socket& socket, const nlmsghdr* nlh,
                                           const Request& request);

  int autobind(Socket& socket);
  LinkRecord* find_link(unsigned ifindex);
  LinkRecord* find_link(std::string_view name, std::string_view netns);
  // Queues `message` on every socket of `netns` subscribed to a group of `groups`.
  void notify(std::uint32_t groups, std::string_view netns, const std::vector<std::byte>& message);
  void notify_link(const LinkRecord& link, std::uint16_t type = 16 /* RTM_NEWLINK */);
  void notify_address(const LinkRecord& link, const IpPrefix& prefix, std::uint16_t type,
                      std::uint32_t seq = 0, std::uint32_t port = 0);
  // Drops the routes that `link` can no longer carry (after down, MTU, address changes).
  void prune_routes(const LinkRecord& link);
  // The namespace of link `ifindex`, if it exists.
  [[nodiscard]] std::optional<std::string_view> link_netns(unsigned ifindex) const;

  std::map<int, Socket> sockets_;
  std::map<unsigned, LinkRecord> links_;
  std::vector<RouteRecord> routes_;
  std::vector<Request> requests_;
  // type → errno and extack text, in insertion order per type
  std::multimap<std::uint16_t, std::pair<int, std::string>> failures_;
  std::multimap<std::uint16_t, ReplyEditor> editors_;
  // generic-netlink cmd → errno and extack text
  std::multimap<std::uint8_t, std::pair<int, std::string>> genl_failures_;
  LinkObserver observer_;
  NetnsResolver netns_resolver_;
  PidResolver pid_resolver_;
  XdpProgramResolver xdp_resolver_;
  TunInfoSource tun_info_;
  std::uint32_t next_negative_port_ = 0;  // counts ports given out below -4096
  bool first_port_taken_ = false;
  bool net_admin_ = true;
  bool strict_supported_ = true;
  bool generic_supported_ = true;
};

}  // namespace tunkit::testing
