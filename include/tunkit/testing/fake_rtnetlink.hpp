#pragma once
/// @file
/// `tunkit::testing::FakeRtnetlink`: a semantic fake of the kernel's NETLINK_ROUTE sockets.

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
#include <vector>

#include "tunkit/address.hpp"
#include "tunkit/testing/export.hpp"

namespace tunkit::testing {

/// A fake of the kernel's rtnetlink (NETLINK_ROUTE) for unit tests: it keeps a table of links
/// (index, name, flags, MTU and its range, addresses) and answers the requests written to its
/// sockets as the kernel does — an ACK (NLMSG_ERROR with error 0) when NLM_F_ACK is set, an
/// NLMSG_ERROR with -errno on failure, dumps as NLM_F_MULTI messages ended by NLMSG_DONE — so
/// code under test can be checked both for its effect (`link()`) and its marshalling
/// (`requests()`), and driven down every errno path (`fail_next()`, `edit_next_reply()`).
///
/// Understood requests, with the kernel's errors (Linux 6.x, see rtnetlink(7)):
/// - RTM_GETLINK by ifi_index or IFLA_IFNAME (ENODEV when absent, EINVAL with neither), or as a
///   dump. Answers RTM_NEWLINK with IFLA_IFNAME, IFLA_MTU, IFLA_MIN_MTU, IFLA_MAX_MTU,
///   IFLA_TXQLEN, IFLA_OPERSTATE.
/// - RTM_NEWLINK on an existing index: ifi_flags/ifi_change (IFF_UP also sets IFF_RUNNING and
///   IFF_LOWER_UP when the link has carrier, as a TUN device with a reader does), IFLA_MTU
///   (EINVAL outside [min_mtu, max_mtu]), IFLA_IFNAME (rename: EEXIST when taken, EBUSY while
///   up); NLM_F_EXCL on an existing link is EEXIST.
/// - RTM_NEWADDR / RTM_DELADDR with IFA_LOCAL / IFA_ADDRESS: EEXIST for a duplicate (IPv4: same
///   address and prefix length; IPv6: same address), EADDRNOTAVAIL when deleting an absent one,
///   EINVAL for a bad prefix length or an IPv6 address on a link with MTU below 1280.
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
    /// The family header, decoded for link (RTM_*LINK: ifinfomsg) and address (RTM_*ADDR:
    /// ifaddrmsg) messages; zero otherwise.
    std::uint8_t family = 0;            ///< ifi_family / ifa_family
    std::uint32_t ifindex = 0;          ///< ifi_index / ifa_index
    std::uint32_t ifi_flags = 0;        ///< ifinfomsg only
    std::uint32_t ifi_change = 0;       ///< ifinfomsg only
    std::uint8_t prefix_length = 0;     ///< ifaddrmsg only
    std::uint8_t ifa_flags = 0;         ///< ifaddrmsg only
    std::uint8_t scope = 0;             ///< ifaddrmsg only
    std::vector<Attribute> attributes;  ///< top-level attributes, in order
    std::vector<std::byte> bytes;       ///< the whole message as sent

    /// The first attribute of `type`, or null.
    [[nodiscard]] const Attribute* find(std::uint16_t type) const;
    /// True when every bit of `mask` is set in `flags`.
    [[nodiscard]] bool has_flags(std::uint16_t mask) const { return (flags & mask) == mask; }
  };

  /// Edits the answer datagrams of one request before they are queued: change, drop, add.
  using ReplyEditor = std::function<void(std::vector<std::vector<std::byte>>& datagrams)>;
  /// Told of a link after an RTM_NEWLINK request changed it (flags, MTU, name).
  using LinkObserver = std::function<void(const LinkRecord& link)>;

  FakeRtnetlink();
  ~FakeRtnetlink();
  FakeRtnetlink(const FakeRtnetlink&) = delete;
  FakeRtnetlink& operator=(const FakeRtnetlink&) = delete;

  // --- Socket surface, called by FakeKernel for its AF_NETLINK descriptors ---------------------

  /// A new socket on descriptor `fd`: 0, or -EPROTONOSUPPORT for protocols other than
  /// NETLINK_ROUTE (0).
  int open_socket(int fd, int protocol);
  /// bind(2): nl_pid 0 assigns a port id; a port id in use is -EADDRINUSE; -EINVAL for a short or
  /// non-AF_NETLINK address or a second bind to another port id.
  int bind(int fd, const sockaddr* addr, socklen_t len);
  /// getsockname(2): the sockaddr_nl with the socket's port id (0 before it is bound), truncated
  /// to `*len` like the kernel; `*len` is set to the full size.
  int getsockname(int fd, sockaddr* addr, socklen_t* len);
  /// setsockopt(2): accepted (NETLINK_CAP_ACK is honoured, the rest ignored).
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

  // --- Link table ---------------------------------------------------------------------------

  /// Adds a TUN-like link: IFF_POINTOPOINT | IFF_NOARP | IFF_MULTICAST, down, carrier on, MTU
  /// range 68..65535, no addresses. Replaces a link with the same index.
  void add_link(unsigned ifindex, std::string name, unsigned mtu = 1500);
  /// Adds or replaces (by index) a link exactly as given.
  void set_link(LinkRecord link);
  /// Removes a link and its addresses; nothing when absent.
  void remove_link(unsigned ifindex);
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
  /// The link named `name`.
  [[nodiscard]] std::optional<LinkRecord> link_named(std::string_view name) const;
  /// Every link, by index.
  [[nodiscard]] std::vector<LinkRecord> links() const;

  // --- Scripting ----------------------------------------------------------------------------

  /// The next request of nlmsg_type `type` fails with `err` (a positive errno) without effect:
  /// answered by NLMSG_ERROR with -err. Several calls queue up in order.
  void fail_next(std::uint16_t type, int err);
  /// The answer to the next request of nlmsg_type `type` goes through `editor` before it is
  /// queued (to truncate it, corrupt lengths, add stale messages...).
  void edit_next_reply(std::uint16_t type, ReplyEditor editor);
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

 private:
  struct Socket {
    std::uint32_t port_id = 0;
    bool bound = false;
    bool cap_ack = false;
    bool strict = false;  // NETLINK_GET_STRICT_CHK
    std::deque<std::vector<std::byte>> queue;
  };
  class Handler;  // answers one request (fake_rtnetlink.cpp)

  int autobind(Socket& socket);
  LinkRecord* find_link(unsigned ifindex);
  LinkRecord* find_link(std::string_view name);

  std::map<int, Socket> sockets_;
  std::map<unsigned, LinkRecord> links_;
  std::vector<Request> requests_;
  std::multimap<std::uint16_t, int> failures_;  // type → errno, in insertion order per type
  std::multimap<std::uint16_t, ReplyEditor> editors_;
  LinkObserver observer_;
  std::uint32_t next_negative_port_ = 0;  // counts ports given out below -4096
  bool first_port_taken_ = false;
  bool net_admin_ = true;
  bool strict_supported_ = true;
};

}  // namespace tunkit::testing
