#pragma once
// tunkit's internal rtnetlink client, in three layers that later features (routes, link events)
// reuse one by one:
//
//  1. Value types (`LinkMessage`, `AddressMessage`) and their encoders/decoders: what a request
//     asks for and what a reply says, in C++ types.
//  2. The message layer: `Request` builds one netlink message in a fixed buffer, `parse_message`
//     gives checked access to a received one. libmnl does the byte work (alignment, padding,
//     attribute headers); nothing here talks to a socket.
//  3. `Socket`: a NETLINK_ROUTE socket opened and driven only through `tunkit::sys::Syscalls`, so a
//     fake kernel sees every call. `transact` sends one request and reads the kernel's answer up
//     to its ACK; `dump` reads a multi-part answer up to NLMSG_DONE.
//
// Errors: the kernel's errno as a `std::system_category()` code; a reply that does not follow the
// protocol (truncated datagram, bad lengths, missing header) as `errc::netlink_protocol`.
// Nothing here reads the global errno, and nothing throws except `decode_link` (std::bad_alloc
// for the name).
//
// References: netlink(7), rtnetlink(7), Documentation/userspace-api/netlink/intro.rst.

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

#include "tunkit/address.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/sys.hpp"

namespace tunkit::detail::netlink {

// ---------------------------------------------------------------------------------------------
// Utilities

/// A non-owning, non-allocating reference to a callable (like C++26 std::function_ref). The
/// referenced callable must outlive the FunctionRef; a default-constructed one is empty.
template <typename Signature>
class FunctionRef;

template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  constexpr FunctionRef() noexcept = default;
  template <typename F>
  requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> &&
           std::is_invocable_r_v<R, F&, Args...>) FunctionRef(F&& f)
  noexcept  // NOLINT(google-explicit-constructor): used like a function
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* object, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(object))(std::forward<Args>(args)...);
        }) {}

  explicit operator bool() const noexcept { return call_ != nullptr; }
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_ = nullptr;
  R (*call_)(void*, Args...) = nullptr;
};

// ---------------------------------------------------------------------------------------------
// Message layer

/// One netlink request message under construction, in a fixed in-object buffer (no allocation).
/// `NLM_F_REQUEST` is always set; `Socket` fills in the sequence number and adds `NLM_F_ACK` to
/// requests that are not dumps. Appending what does not fit marks the request as overflowed
/// (`ok()` false), and `Socket` refuses to send it (EMSGSIZE). Copyable: it holds no pointers.
class Request {
 public:
  /// Room for the header, the family header and the attributes. Link and address requests use
  /// well under 100 bytes; a page leaves room for routes with many next hops.
  static constexpr std::size_t kCapacity = 4096;

  /// An empty message of `type` (RTM_*) with `NLM_F_REQUEST | flags`.
  Request(std::uint16_t type, std::uint16_t flags) noexcept;

  /// Appends the fixed family header that follows `nlmsghdr` (ifinfomsg, ifaddrmsg, rtmsg...).
  /// Must come before any attribute.
  template <typename T>
  requires std::is_trivially_copyable_v<T>
  void put_header(const T& header) noexcept { put_header_bytes(&header, sizeof header); }
  /// Appends an attribute of type `type` with a 32-bit payload in host byte order.
  void put_u32(std::uint16_t type, std::uint32_t value) noexcept;
  /// Appends an attribute holding `value` plus a terminating NUL (NLA_STRING / NLA_NUL_STRING).
  void put_string(std::uint16_t type, std::string_view value) noexcept;
  /// Appends an attribute with raw payload bytes (addresses are in network order).
  void put_bytes(std::uint16_t type, std::span<const std::uint8_t> value) noexcept;
  /// Opens a nested attribute; the attributes appended until `end_nested` go inside it.
  /// Returns its offset in the message, for `end_nested`.
  [[nodiscard]] std::size_t begin_nested(std::uint16_t type) noexcept;
  /// Closes the nested attribute that `begin_nested` returned `offset` for.
  void end_nested(std::size_t offset) noexcept;

  /// False once something did not fit in `kCapacity`.
  [[nodiscard]] bool ok() const noexcept { return !overflow_; }
  /// The netlink header (type, flags, length so far, sequence number).
  [[nodiscard]] nlmsghdr& header() noexcept;
  [[nodiscard]] const nlmsghdr& header() const noexcept;
  /// The message as it goes on the wire (`nlmsg_len` bytes).
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept;

 private:
  void put_header_bytes(const void* data, std::size_t size) noexcept;

  // nlmsghdr and the family headers need 4-byte alignment (NLMSG_ALIGNTO).
  alignas(8) std::array<std::byte, kCapacity> buffer_{};
  bool overflow_ = false;
};

/// Attributes of a received message indexed by type: `table[t]` is the last attribute of type
/// `t`, or null. Types beyond the table are skipped (newer kernels add attributes; ignoring them
/// is the netlink compatibility rule).
template <std::size_t N>
using AttributeTable = std::array<const nlattr*, N>;

/// Copies the fixed family header of `message` into `header` (`header_size` bytes) and indexes
/// its attributes in `table`. `errc::netlink_protocol` when the payload is shorter than the family
/// header or an attribute overruns the message.
[[nodiscard]] std::error_code parse_message(const nlmsghdr& message, void* header,
                                            std::size_t header_size,
                                            std::span<const nlattr*> table) noexcept;

/// Indexes the attributes nested in `nest` (IFLA_LINKINFO, IFLA_INFO_DATA, ...) in `table`.
/// `errc::netlink_protocol` when one overruns the nest.
[[nodiscard]] std::error_code parse_nested(const nlattr& nest,
                                           std::span<const nlattr*> table) noexcept;

/// Typed form of `parse_message`.
template <typename T, std::size_t N>
requires std::is_trivially_copyable_v<T>
[[nodiscard]] std::error_code parse_message(const nlmsghdr& message, T& header,
                                            AttributeTable<N>& table) noexcept {
  return parse_message(message, &header, sizeof header, std::span<const nlattr*>(table));
}

/// The payload of `attribute`.
[[nodiscard]] std::span<const std::uint8_t> payload(const nlattr& attribute) noexcept;
/// A 32-bit attribute's value; nullopt when its payload is not exactly 4 bytes.
[[nodiscard]] std::optional<std::uint32_t> get_u32(const nlattr& attribute) noexcept;
/// A string attribute's text up to its first NUL (the NUL is optional, as in the kernel).
[[nodiscard]] std::string_view get_string(const nlattr& attribute) noexcept;

// ---------------------------------------------------------------------------------------------
// Socket layer

/// Called for each data message (not NLMSG_ERROR/DONE) answering the current request; a non-zero
/// result becomes the transaction's error (the rest of the answer is still read and dropped, so
/// the socket stays in step with the kernel).
using MessageHandler = FunctionRef<std::error_code(const nlmsghdr&)>;

/// A NETLINK_ROUTE socket. Move-only; closes its descriptor (through the seam, once) when
/// destroyed. Not thread-safe: one request at a time.
class Socket {
 public:
  /// The size of each receive buffer. The kernel sizes dump datagrams up to the largest buffer
  /// userspace offered, capped at 32 KiB, so this never truncates a kernel datagram.
  static constexpr std::size_t kReceiveBufferSize = 32768;
  /// How many times `dump` restarts a dump that the kernel marked inconsistent.
  static constexpr int kDumpAttempts = 4;

  /// A closed socket.
  Socket() noexcept = default;
  /// Opens `socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)`, binds it (the kernel
  /// picks the port id; `groups` subscribes to RTNLGRP_* multicast bitmask groups) and reads the
  /// port id back. On failure `ec` is set and nothing is left open.
  [[nodiscard]] static Socket open(sys::Syscalls& sys, std::error_code& ec,
                                   std::uint32_t groups = 0) noexcept;

  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket();

  /// Closes the descriptor (never retried on EINTR). Idempotent.
  void close() noexcept;
  [[nodiscard]] bool is_open() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int native_handle() const noexcept { return fd_; }
  /// The port id the kernel assigned at bind time (nl_pid).
  [[nodiscard]] std::uint32_t port_id() const noexcept { return port_id_; }

  /// Sends `request` (a "doit", not a dump) with a new sequence number and NLM_F_ACK, then
  /// reads until the kernel's NLMSG_ERROR for that sequence: 0 (the ACK) gives success, -errno
  /// gives that errno. Data messages that come before the ACK (a GET's answer) go to `on_message`.
  /// Messages with other sequence numbers (answers to abandoned requests, notifications) are
  /// skipped. EINTR is retried.
  [[nodiscard]] std::error_code transact(Request& request, MessageHandler on_message = {}) noexcept;

  /// Sends `request` with NLM_F_DUMP and passes every message of the answer to `on_message` until
  /// NLMSG_DONE. When the kernel marks the dump inconsistent (NLM_F_DUMP_INTR: the table changed
  /// while it was being dumped), calls `restart` and dumps again, up to `kDumpAttempts` times in
  /// all; the last attempt's messages stand even if still marked (as `ip` does).
  [[nodiscard]] std::error_code dump(Request& request, MessageHandler on_message,
                                     FunctionRef<void()> restart) noexcept;

  /// Reads one datagram without waiting (MSG_DONTWAIT) and passes each of its messages that come
  /// from the kernel (multicast notifications, on a socket bound to groups) to `on_message`; the
  /// first non-zero result of the handler is returned after the whole datagram was read. EAGAIN
  /// when nothing is queued; ENOBUFS when the kernel dropped notifications because the receive
  /// buffer was full (the socket stays usable; what was lost must be read again by a dump).
  /// EINTR is retried.
  [[nodiscard]] std::error_code receive(MessageHandler on_message) noexcept;

 private:
  Socket(sys::Syscalls& sys, int fd) noexcept : sys_(&sys), fd_(fd) {}
  std::error_code exchange(Request& request, MessageHandler on_message,
                           bool& dump_interrupted) noexcept;
  std::error_code send(Request& request) noexcept;

  sys::Syscalls* sys_ = nullptr;
  int fd_ = -1;
  std::uint32_t port_id_ = 0;
  std::uint32_t seq_ = 0;
};

// ---------------------------------------------------------------------------------------------
// rtnetlink value types, encoders and decoders

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
};

/// An interface address as RTM_NEWADDR (or RTM_DELADDR) describes it.
struct AddressMessage {
  std::uint16_t message_type = RTM_NEWADDR;  ///< nlmsg_type: RTM_NEWADDR or RTM_DELADDR
  std::uint32_t ifindex = 0;                 ///< ifa_index
  IpPrefix prefix;                           ///< IFA_LOCAL, else IFA_ADDRESS, with ifa_prefixlen
  /// IFA_ADDRESS when it differs from IFA_LOCAL: the peer of a point-to-point address.
  std::optional<IpAddress> peer;
  std::uint8_t scope = 0;   ///< ifa_scope (RT_SCOPE_*)
  std::uint32_t flags = 0;  ///< IFA_FLAGS when present, else ifa_flags (IFA_F_*)
};

/// A route as RTM_NEWROUTE describes it, and as route requests carry it.
struct RouteMessage {
  std::uint16_t message_type = RTM_NEWROUTE;  ///< nlmsg_type (decoded messages)
  IpPrefix destination;                       ///< RTA_DST (absent: the default route) / dst_len
  std::optional<IpAddress> gateway;           ///< RTA_GATEWAY
  std::optional<IpAddress> source;            ///< RTA_PREFSRC
  std::uint32_t oif = 0;                      ///< RTA_OIF (0: none, e.g. multipath)
  std::uint32_t priority = 0;                 ///< RTA_PRIORITY (the metric)
  std::uint32_t table = RT_TABLE_MAIN;        ///< RTA_TABLE, else rtm_table
  std::uint8_t protocol = RTPROT_STATIC;      ///< rtm_protocol (RTPROT_*)
  std::uint8_t scope = RT_SCOPE_UNIVERSE;     ///< rtm_scope (RT_SCOPE_*)
  std::uint8_t type = RTN_UNICAST;            ///< rtm_type (RTN_*)
};

/// Decodes an RTM_NEWLINK or RTM_DELLINK message. `errc::netlink_protocol` when it is malformed.
/// May throw std::bad_alloc (the name).
[[nodiscard]] std::error_code decode_link(const nlmsghdr& message, LinkMessage& out);
/// Decodes an RTM_NEWADDR or RTM_DELADDR message. EAFNOSUPPORT (system category) for families
/// other than AF_INET / AF_INET6, which a dump of all families also returns (MCTP...): callers
/// skip those; `errc::netlink_protocol` when the message is malformed.
[[nodiscard]] std::error_code decode_address(const nlmsghdr& message, AddressMessage& out) noexcept;
/// Decodes an RTM_NEWROUTE or RTM_DELROUTE message. EAFNOSUPPORT for families other than AF_INET /
/// AF_INET6 (multicast routing tables, MPLS); `errc::netlink_protocol` when it is malformed.
[[nodiscard]] std::error_code decode_route(const nlmsghdr& message, RouteMessage& out) noexcept;

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
/// RTM_NEWADDR (NLM_F_CREATE | NLM_F_EXCL) adding `prefix` to the interface: IFA_LOCAL and
/// IFA_ADDRESS for IPv4 (equal: no peer), IFA_ADDRESS for IPv6. With a `peer`, IFA_LOCAL is
/// `prefix.address` and IFA_ADDRESS the peer, for both families (point-to-point).
[[nodiscard]] Request add_address(std::uint32_t ifindex, const IpPrefix& prefix,
                                  const std::optional<IpAddress>& peer = std::nullopt) noexcept;
/// RTM_DELADDR removing `prefix` from the interface (same attributes as `add_address`).
[[nodiscard]] Request remove_address(std::uint32_t ifindex, const IpPrefix& prefix,
                                     const std::optional<IpAddress>& peer = std::nullopt) noexcept;
/// RTM_NEWROUTE (NLM_F_CREATE | NLM_F_EXCL) adding `route`: rtm_table RT_TABLE_MAIN (and
/// RTA_TABLE for tables beyond 255), rtm_protocol, rtm_scope and rtm_type as given; RTA_DST
/// (unless the prefix length is 0), RTA_OIF, RTA_GATEWAY, RTA_PREFSRC, RTA_PRIORITY when set.
[[nodiscard]] Request add_route(const RouteMessage& route) noexcept;
/// RTM_DELROUTE for `route`, as `ip route del` sends it: rtm_protocol 0 (any), rtm_scope
/// RT_SCOPE_NOWHERE (any), rtm_type 0 (any); RTA_PRIORITY only when non-zero (0 matches any).
[[nodiscard]] Request remove_route(const RouteMessage& route) noexcept;
/// RTM_GETROUTE dump of one family (AF_INET or AF_INET6), every table; callers filter.
[[nodiscard]] Request dump_routes(std::uint8_t family) noexcept;
/// RTM_GETADDR dump of both families. `ifindex` goes into ifa_index, which kernels with strict
/// checking use as a filter; others dump every interface, so callers still filter.
[[nodiscard]] Request dump_addresses(std::uint32_t ifindex) noexcept;

}  // namespace tunkit::detail::netlink
