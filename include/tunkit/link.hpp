#pragma once
/// @file
/// `tunkit::Link`: configure a network interface over rtnetlink (no `ip` command involved).

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

namespace detail::netlink {
class Socket;
}  // namespace detail::netlink

class NetNs;

/// 64-bit interface counters as the kernel reports them (IFLA_STATS64, like `ip -s link`). "rx"
/// is what the interface received: for a TUN/TAP device, the packets the program wrote to it;
/// "tx" is what the stack sent through it: the packets the program reads (or that were dropped
/// because it did not).
struct LinkStats {
  std::uint64_t rx_packets = 0;  ///< packets received
  std::uint64_t tx_packets = 0;  ///< packets transmitted
  std::uint64_t rx_bytes = 0;    ///< bytes received
  std::uint64_t tx_bytes = 0;    ///< bytes transmitted
  std::uint64_t rx_errors = 0;   ///< receive errors
  std::uint64_t tx_errors = 0;   ///< transmit errors
  std::uint64_t rx_dropped = 0;  ///< received packets dropped (e.g. no buffer)
  std::uint64_t tx_dropped = 0;  ///< transmitted packets dropped (e.g. the TUN queue was full)

  /// Equality of every counter.
  friend constexpr bool operator==(const LinkStats&, const LinkStats&) noexcept = default;
};

/// How far an address reaches (the kernel's RT_SCOPE_* values, shared with routes).
enum class AddressScope : std::uint8_t {
  global = 0,    ///< RT_SCOPE_UNIVERSE: everywhere
  site = 200,    ///< RT_SCOPE_SITE (IPv6 site-local, deprecated)
  link = 253,    ///< RT_SCOPE_LINK: this link only (IPv6 fe80::/10, on-link routes)
  host = 254,    ///< RT_SCOPE_HOST: this host only (loopback)
  nowhere = 255  ///< RT_SCOPE_NOWHERE
};

/// One address of an interface with its details, as `ip addr show` lists it.
struct AddressInfo {
  /// The interface's own address (IFA_LOCAL) and the prefix length.
  IpPrefix prefix;
  /// The remote end of a point-to-point address (IFA_ADDRESS when it differs from IFA_LOCAL).
  std::optional<IpAddress> peer;
  /// The address's scope (IPv6 link-local addresses: `AddressScope::link`).
  AddressScope scope = AddressScope::global;
  /// IFA_F_SECONDARY: an IPv4 address in the subnet of an earlier (primary) one.
  bool secondary = false;
  /// IFA_F_TENTATIVE: an IPv6 address still in duplicate address detection (not usable yet).
  bool tentative = false;
  /// Every IFA_F_* flag as the kernel reports it (<linux/if_addr.h>).
  std::uint32_t flags = 0;

  /// Equality of every field.
  friend bool operator==(const AddressInfo&, const AddressInfo&) noexcept = default;
};

/// Who installed a route (the kernel's RTPROT_* values; others via `static_cast`).
enum class RouteProtocol : std::uint8_t {
  unspecified = 0,   ///< RTPROT_UNSPEC
  redirect = 1,      ///< RTPROT_REDIRECT: an ICMP redirect
  kernel = 2,        ///< RTPROT_KERNEL: made by the kernel (prefix routes of addresses)
  boot = 3,          ///< RTPROT_BOOT: `ip route add`'s default
  static_route = 4,  ///< RTPROT_STATIC: configured by an administrator (tunkit's default)
};

/// A route through an interface (`ip route add DESTINATION [via GATEWAY] dev NAME metric N`), in
/// the main routing table.
struct Route {
  /// The destination network, host bits clear ("10.9.0.0/16"; "0.0.0.0/0" or "::/0" for the
  /// default route).
  IpPrefix destination;
  /// The next hop, of the destination's family; none: the destination is directly on the link
  /// (the route gets scope link).
  std::optional<IpAddress> gateway{};
  /// The metric (RTA_PRIORITY); lower wins. 0 asks for the kernel's default: 0 for IPv4, 1024
  /// for IPv6 (which `routes()` then reports).
  std::uint32_t metric = 0;
  /// Who installed it: `static_route` or `boot` when adding; what the kernel says when listing.
  /// Removing ignores it (any protocol matches).
  RouteProtocol protocol = RouteProtocol::static_route;
  /// The preferred source address for packets using the route (RTA_PREFSRC, `ip route ... src`),
  /// which must be an address of this host. Removing ignores it.
  std::optional<IpAddress> source{};

  /// Equality of every field.
  friend bool operator==(const Route&, const Route&) noexcept = default;
};

/// Everything `Link::configure` applies, in this order: MTU, txqueuelen, MAC address, addresses,
/// up, routes. Unset fields are left as they are.
struct LinkConfig {
  std::optional<unsigned> mtu{};         ///< `Link::set_mtu`
  std::optional<unsigned> txqueuelen{};  ///< `Link::set_txqueuelen`
  std::optional<MacAddress> mac{};       ///< `Link::set_mac` (TAP only)
  std::vector<IpPrefix> addresses{};     ///< `Link::add_address`, in order
  bool up = false;                       ///< `Link::set_up` when true (false: the state is kept)
  std::vector<Route> routes{};           ///< `Link::add_route`, in order (after up: IPv4 needs it)
};

/// How an XDP program is attached to an interface (IFLA_XDP_ATTACHED).
enum class XdpMode : std::uint8_t {
  none,     ///< no program
  native,   ///< in the driver (XDP_ATTACHED_DRV; `ip link` shows "xdp"): TAP devices, veth, NICs
  generic,  ///< in the stack, on socket buffers (XDP_ATTACHED_SKB: "xdpgeneric"): any device
  offload,  ///< on the NIC itself (XDP_ATTACHED_HW)
  multi,    ///< more than one of the above at once (XDP_ATTACHED_MULTI)
};
/// Which mode `Link::attach_xdp` asks for.
enum class XdpAttachMode : std::uint8_t {
  any,      ///< no mode flag: the kernel picks native where the driver has it, else generic
  native,   ///< XDP_FLAGS_DRV_MODE: refused by drivers without native XDP (TUN devices)
  generic,  ///< XDP_FLAGS_SKB_MODE: works on every device
};
/// The XDP program attached to an interface (RTM_GETLINK's IFLA_XDP).
struct XdpInfo {
  XdpMode mode = XdpMode::none;  ///< how it is attached (none: no program)
  /// The program's id (`bpftool prog show id N`); 0 when none, or with `XdpMode::multi` (see
  /// the per-mode ids).
  std::uint32_t prog_id = 0;
  std::uint32_t native_prog_id = 0;   ///< IFLA_XDP_DRV_PROG_ID
  std::uint32_t generic_prog_id = 0;  ///< IFLA_XDP_SKB_PROG_ID
  std::uint32_t offload_prog_id = 0;  ///< IFLA_XDP_HW_PROG_ID
  /// Equal when mode and every id are.
  friend bool operator==(const XdpInfo&, const XdpInfo&) noexcept = default;
};
/// "none", "native", "generic", "offload", "multi" (`ip link` says "xdp", "xdpgeneric", ...).
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(XdpMode mode) noexcept;
/// "any", "native", "generic".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(XdpAttachMode mode) noexcept;

/// A snapshot of an interface as the kernel reports it (RTM_GETLINK).
struct LinkState {
  std::string name;         ///< IFLA_IFNAME
  unsigned ifindex = 0;     ///< ifi_index
  unsigned mtu = 0;         ///< IFLA_MTU
  unsigned flags = 0;       ///< ifi_flags (IFF_UP, IFF_RUNNING, ...; <linux/if.h>)
  bool up = false;          ///< administratively up (IFF_UP)
  bool running = false;     ///< operationally up (IFF_RUNNING)
  bool lower_up = false;    ///< carrier present (IFF_LOWER_UP)
  unsigned min_mtu = 0;     ///< IFLA_MIN_MTU: the smallest MTU the device accepts (0: not reported)
  unsigned max_mtu = 0;     ///< IFLA_MAX_MTU: the largest MTU the device accepts (0: not reported)
  unsigned txqueuelen = 0;  ///< IFLA_TXQLEN: the transmit queue length, in packets
  std::optional<MacAddress> mac{};  ///< IFLA_ADDRESS of an Ethernet device (TAP); none for TUN
  LinkStats stats;                  ///< IFLA_STATS64
  std::string kind{};  ///< IFLA_INFO_KIND: "tun" (TUN and TAP), "veth", ...; "" if none
  XdpInfo xdp{};       ///< IFLA_XDP: the attached XDP program
};

/// One line like `ip link`'s: `5: tun0: <UP,RUNNING,LOWER_UP> mtu 1500 qlen 500` (plus
/// `link/ether aa:bb:cc:dd:ee:ff` for a device with a MAC address).
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const LinkState& state);

/// Owns one NETLINK_ROUTE socket and configures the interface with a given index through it:
/// everything `ip link`, `ip addr` and `ip route` do for one device (up/down, MTU, addresses with
/// or without a point-to-point peer, routes, MAC address, txqueuelen, name, network namespace),
/// and reads it back (state, statistics, addresses, routes). Move-only; a moved-from Link reports
/// `errc::not_open` from every operation.
///
/// The interface is named by index, so a rename does not lose it. Every operation waits for the
/// kernel's acknowledgement and reports its errno. Each has two forms (Asio's convention): one
/// throws `tunkit::Error`, whose message names the operation, the interface and the cause, plus
/// the fix where it is known, e.g.
/// `tunkit: set MTU 70000 on "tun0": out of range (68..65535)`; the other takes a
/// `std::error_code&` and does not throw: kernel errors arrive as `std::system_category()` codes
/// (EPERM, EEXIST, ...), tunkit's own as `tunkit::errc`
/// (`invalid_address`, `out_of_range`, `netlink_protocol`, `not_open`). Changing the interface
/// needs CAP_NET_ADMIN in its network namespace; reading it does not.
///
/// All kernel access goes through the `sys::Syscalls` seam given at construction, which must
/// outlive the Link. A Link is not thread-safe (it pairs requests with answers on one socket):
/// use one per thread, or serialise calls.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d"});
/// tunkit::Link link(dev.ifindex());
/// link.configure({.mtu = 1400,
///                 .addresses = {tunkit::IpPrefix::parse("10.0.0.1/24")},
///                 .up = true,
///                 .routes = {{.destination = tunkit::IpPrefix::parse("10.9.0.0/16")}}});
/// @endcode
class TUNKIT_EXPORT Link {
 public:
  /// Opens a netlink socket for the interface with index `ifindex` and looks up its name.
  /// @throws tunkit::Error: `errc::link_not_found` when there is no such interface (in the
  ///   calling thread's network namespace); the errno when the socket cannot be opened.
  explicit Link(unsigned ifindex, sys::Syscalls& sys = sys::real());
  /// The interface named `name` (looked up by name once; then followed by index).
  /// @throws tunkit::Error: `errc::link_not_found` when there is no such interface.
  [[nodiscard]] static Link from_name(std::string_view name, sys::Syscalls& sys = sys::real());

  /// Takes over `other`'s socket; `other` is left closed.
  Link(Link&& other) noexcept;
  /// Closes this Link's socket and takes over `other`'s.
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  /// Closes the socket. The interface is left as it is.
  ~Link();

  /// The interface index.
  [[nodiscard]] unsigned ifindex() const noexcept { return ifindex_; }
  /// The name found when the Link was made, or given by `rename` (used in error messages; see
  /// `state()` for the current one, should another program rename the interface).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// Sets IFF_UP (`ip link set NAME up`). Setting it again is not an error.
  /// @throws tunkit::Error, e.g. EPERM without CAP_NET_ADMIN.
  void set_up();
  /// Sets IFF_UP; on failure `ec` is set.
  void set_up(std::error_code& ec) noexcept;
  /// Clears IFF_UP (`ip link set NAME down`). Note that the kernel then drops the interface's
  /// IPv6 addresses (unless sysctl net.ipv6.conf.NAME.keep_addr_on_down is set).
  /// @throws tunkit::Error
  void set_down();
  /// Clears IFF_UP; on failure `ec` is set.
  void set_down(std::error_code& ec) noexcept;
  /// Sets the MTU (IFLA_MTU). The device's range (`LinkState::min_mtu`..`max_mtu`: 68 to 65535
  /// for TUN, 68 to 65521 for TAP) is read first, and an MTU outside it is refused without a
  /// change request: `errc::out_of_range` (which compares equal to
  /// `std::errc::invalid_argument`, the kernel's answer), e.g.
  /// `tunkit: set MTU 70000 on "tun0": out of range (68..65535)`. Kernels that report no range
  /// (before 4.19) answer EINVAL themselves. Below 1280 the kernel disables IPv6 on the
  /// interface (its IPv6 addresses and routes go).
  /// @throws tunkit::Error
  void set_mtu(unsigned mtu);
  /// Sets the MTU; on failure `ec` is set.
  void set_mtu(unsigned mtu, std::error_code& ec) noexcept;
  /// Sets the transmit queue length in packets (IFLA_TXQLEN, `ip link set NAME txqueuelen N`);
  /// for TUN/TAP it is the size of each queue's ring of packets waiting to be read (default 500).
  /// @throws tunkit::Error
  void set_txqueuelen(unsigned packets);
  /// Sets the transmit queue length; on failure `ec` is set.
  void set_txqueuelen(unsigned packets, std::error_code& ec) noexcept;
  /// Sets the link-layer address (IFLA_ADDRESS, `ip link set NAME address MAC`). Only TAP
  /// devices have one: a TUN device answers EOPNOTSUPP. Multicast and all-zero addresses are
  /// refused before any request (`errc::invalid_address`), as the kernel would (EADDRNOTAVAIL).
  /// @throws tunkit::Error
  void set_mac(const MacAddress& mac);
  /// Sets the link-layer address; on failure `ec` is set.
  void set_mac(const MacAddress& mac, std::error_code& ec) noexcept;
  /// Sets a random locally administered unicast address (`MacAddress::random()`) and returns it.
  /// @throws tunkit::Error
  MacAddress set_random_mac();
  /// Reads the link-layer address (RTM_GETLINK): none for a TUN device.
  /// @throws tunkit::Error
  [[nodiscard]] std::optional<MacAddress> mac() const;
  /// Reads the link-layer address; on failure `ec` is set and the result is empty.
  [[nodiscard]] std::optional<MacAddress> mac(std::error_code& ec) const noexcept;
  /// Renames the interface (IFLA_IFNAME, `ip link set NAME name NEW`); `new_name` may be a
  /// template with one "%d" ("wan%d": the kernel picks the number), after which `name()` is the
  /// name the kernel chose. The interface must be down: Linux before 6.2 refuses to rename one
  /// that is up (EBUSY), and tunkit checks the state first so that every kernel behaves alike,
  /// answering EBUSY with the fix: `tunkit: rename "tun0" to "wan0": device busy (the interface
  /// is up: set it down first)`. A name in use is EEXIST; names longer than 15 bytes are
  /// `errc::name_too_long` and names with '/', ':' or whitespace `errc::invalid_name`, both
  /// before any request. A `TunDevice` keeps reporting the name it was opened with.
  /// @throws tunkit::Error
  void rename(std::string_view new_name);
  /// Renames the interface; on failure `ec` is set.
  void rename(std::string_view new_name, std::error_code& ec) noexcept;
  /// Adds an address with its prefix length (RTM_NEWADDR, like `ip addr add`). Adding one that
  /// exists is EEXIST; a prefix length beyond the family's is `errc::invalid_address`.
  /// @throws tunkit::Error
  void add_address(const IpPrefix& prefix);
  /// Adds an address; on failure `ec` is set.
  void add_address(const IpPrefix& prefix, std::error_code& ec) noexcept;
  /// Removes an address (RTM_DELADDR, like `ip addr del`); address and prefix length must both
  /// match. Removing one that is absent is EADDRNOTAVAIL.
  /// @throws tunkit::Error
  void remove_address(const IpPrefix& prefix);
  /// Removes an address; on failure `ec` is set.
  void remove_address(const IpPrefix& prefix, std::error_code& ec) noexcept;
  /// Adds a point-to-point address: `local` for this end and `peer` (with the prefix length) for
  /// the other (`ip addr add LOCAL peer PEER/LEN`; IFA_LOCAL and IFA_ADDRESS). The kernel adds a
  /// route to the peer's network through the interface. The families must match
  /// (`errc::invalid_address` otherwise). EEXIST when `local` with this prefix length exists.
  /// @throws tunkit::Error
  void add_address(const IpAddress& local, const IpPrefix& peer);
  /// Adds a point-to-point address; on failure `ec` is set.
  void add_address(const IpAddress& local, const IpPrefix& peer, std::error_code& ec) noexcept;
  /// Removes a point-to-point address (`ip addr del LOCAL peer PEER/LEN`); EADDRNOTAVAIL when no
  /// address matches.
  /// @throws tunkit::Error
  void remove_address(const IpAddress& local, const IpPrefix& peer);
  /// Removes a point-to-point address; on failure `ec` is set.
  void remove_address(const IpAddress& local, const IpPrefix& peer, std::error_code& ec) noexcept;

  /// Adds a route through the interface to the main table (RTM_NEWROUTE with NLM_F_CREATE |
  /// NLM_F_EXCL, like `ip route add DEST [via GW] dev NAME [metric N] [src SRC]`): scope link
  /// without a gateway, global with one. Checked first (`errc::invalid_address`): the
  /// destination's prefix length, host bits set in it, a gateway or source of another family.
  /// The kernel's answers, each with its hint: ENETDOWN (the interface is down; the kernel says
  /// ENETUNREACH for a route with a gateway then, which tunkit reports as ENETDOWN after looking
  /// at the interface), ENETUNREACH (IPv4) / EHOSTUNREACH (IPv6) when the interface is up and
  /// the gateway is not on a network it reaches,
  /// EEXIST for a route with the same destination and metric, ENODEV for IPv6 when the MTU is
  /// below 1280. The kernel removes routes through an interface when it goes down.
  /// @throws tunkit::Error, e.g. `tunkit: add route 10.9.0.0/16 via 10.0.0.254 on "tun0":
  ///   network is unreachable (the gateway 10.0.0.254 is not on a network this interface
  ///   reaches: add an address in its subnet first)`.
  void add_route(const Route& route);
  /// Adds a route; on failure `ec` is set.
  void add_route(const Route& route, std::error_code& ec) noexcept;
  /// Removes a route through the interface from the main table (RTM_DELROUTE, like `ip route del
  /// DEST [via GW] dev NAME [metric N]`): destination and, when given, gateway and metric
  /// (non-zero) must match; protocol and source are ignored. ESRCH (reported as "no such route")
  /// when none matches.
  /// @throws tunkit::Error
  void remove_route(const Route& route);
  /// Removes a route; on failure `ec` is set.
  void remove_route(const Route& route, std::error_code& ec) noexcept;

  /// Moves the interface into the network namespace `ns` (RTM_NEWLINK with IFLA_NET_NS_FD, like
  /// `ip link set NAME netns NS`). Its addresses and routes stay behind (the kernel drops them);
  /// a TUN/TAP descriptor keeps working. This Link is closed afterwards (`errc::not_open`), since
  /// its socket cannot reach the other namespace: make a new one there, e.g. with
  /// `tunkit::in_netns(ns, [&] { return tunkit::Link::from_name(name); })`. EEXIST when the
  /// target has an interface of the same name; EINVAL when the interface may not move (lo).
  /// Needs CAP_NET_ADMIN in both namespaces.
  /// @throws tunkit::Error
  void move_to_netns(const NetNs& ns);
  /// Moves the interface into `ns`; on failure `ec` is set and the Link stays open.
  void move_to_netns(const NetNs& ns, std::error_code& ec) noexcept;
  /// Moves the interface into the network namespace of process `pid` (IFLA_NET_NS_PID); ESRCH
  /// when there is no such process. Otherwise as `move_to_netns(const NetNs&)`.
  /// @throws tunkit::Error
  void move_to_netns_of(pid_t pid);
  /// Moves the interface into the namespace of `pid`; on failure `ec` is set.
  void move_to_netns_of(pid_t pid, std::error_code& ec) noexcept;

  /// Applies `config` in the order of its fields (MTU, txqueuelen, MAC address, addresses, up,
  /// routes). When a step fails, the steps already applied are undone in reverse order as far as
  /// the kernel allows (routes removed, the interface set down again if this call raised it,
  /// addresses removed, MAC address, txqueuelen and MTU restored), so that the interface is left
  /// as it was; then the step's error is reported, its message ending in
  /// `; the steps before it were undone`. An address or route that exists already is a failure
  /// (EEXIST), not skipped.
  /// @throws tunkit::Error
  ///
  /// @code
  /// link.configure({.mtu = 1400,
  ///                 .addresses = {tunkit::IpPrefix::parse("10.0.0.1/24"),
  ///                               tunkit::IpPrefix::parse("fd00::1/64")},
  ///                 .up = true,
  ///                 .routes = {{.destination = tunkit::IpPrefix::parse("10.9.0.0/16"),
  ///                             .gateway = tunkit::IpAddress::parse("10.0.0.2")}}});
  /// @endcode
  void configure(const LinkConfig& config);
  /// Applies `config`; on failure `ec` is the failed step's error and the earlier steps are undone.
  void configure(const LinkConfig& config, std::error_code& ec) noexcept;

  /// Reads the interface's current name, flags, MTU and its range, txqueuelen, MAC address and
  /// counters (RTM_GETLINK).
  /// @throws tunkit::Error (ENODEV when the interface was deleted meanwhile).
  [[nodiscard]] LinkState state() const;
  /// Reads the interface's state; on failure `ec` is set and the result is empty.
  [[nodiscard]] LinkState state(std::error_code& ec) const noexcept;
  /// Reads the interface's addresses, IPv4 and IPv6, in the kernel's order (IPv4 first)
  /// (RTM_GETADDR dump).
  /// @throws tunkit::Error
  [[nodiscard]] std::vector<IpPrefix> addresses() const;
  /// Reads the addresses; on failure `ec` is set and the result is empty.
  [[nodiscard]] std::vector<IpPrefix> addresses(std::error_code& ec) const noexcept;
  /// Reads the addresses with their peers, scopes and flags, in the order of `addresses()`
  /// (RTM_GETADDR dump).
  /// @throws tunkit::Error
  [[nodiscard]] std::vector<AddressInfo> address_details() const;
  /// Reads the address details; on failure `ec` is set and the result is empty.
  [[nodiscard]] std::vector<AddressInfo> address_details(std::error_code& ec) const noexcept;
  /// Waits until `address` on this interface is usable: an IPv6 address leaves the tentative
  /// state when duplicate address detection ends (about a second after it was added, or after
  /// the link came up; `ip addr` shows "tentative" until then, and a socket cannot bind to it).
  /// IPv4 addresses are usable at once. Event-driven: tunkit subscribes to the kernel's address
  /// notifications before it reads the address's flags, so no transition is missed.
  /// @throws tunkit::Error: EADDRNOTAVAIL when the interface has no such address (also when it
  ///   is removed meanwhile), EADDRINUSE when duplicate address detection failed (another node
  ///   has it: IFA_F_DADFAILED), ETIMEDOUT after `timeout`; the link's errors otherwise.
  void wait_address_usable(const IpAddress& address, std::chrono::milliseconds timeout) const;
  /// Waits as above; on failure `ec` is set.
  void wait_address_usable(const IpAddress& address, std::chrono::milliseconds timeout,
                           std::error_code& ec) const noexcept;
  /// Reads the main table's routes through the interface, IPv4 then IPv6, including those the
  /// kernel made for its addresses (`RouteProtocol::kernel`), like `ip route show dev NAME` and
  /// `ip -6 route show dev NAME` (RTM_GETROUTE dumps). Multipath routes are not listed.
  /// @throws tunkit::Error
  [[nodiscard]] std::vector<Route> routes() const;
  /// Reads the routes; on failure `ec` is set and the result is empty.
  [[nodiscard]] std::vector<Route> routes(std::error_code& ec) const noexcept;
  /// Reads the interface's 64-bit counters (IFLA_STATS64 of RTM_GETLINK, like `ip -s link`).
  /// @throws tunkit::Error
  [[nodiscard]] LinkStats statistics() const;
  /// Reads the counters; on failure `ec` is set and the result is zero.
  [[nodiscard]] LinkStats statistics(std::error_code& ec) const noexcept;
  /// Attaches the XDP program `prog_fd` (a BPF_PROG_TYPE_XDP descriptor from bpf(2); tunkit
  /// does not compile programs) to the interface, like `ip link set NAME xdp fd`: it then runs on
  /// every packet the interface receives, before the stack. For a TUN/TAP device that is every
  /// packet a program writes into it. Never replaces another program
  /// (XDP_FLAGS_UPDATE_IF_NOEXIST): use `replace_xdp` for that. The kernel keeps its own
  /// reference: `prog_fd` may be closed afterwards. TUN devices have generic XDP only (their
  /// driver has no native XDP); TAP devices have both.
  /// @throws tunkit::Error: "a program is already attached" (EBUSY, naming the attached
  ///   program's id and mode), native mode on a driver without it (EOPNOTSUPP), a descriptor
  ///   that is not an XDP program (EINVAL/EBADF).
  void attach_xdp(int prog_fd, XdpAttachMode mode = XdpAttachMode::any);
  /// Attaches as above; on failure `ec` is set and nothing changed.
  void attach_xdp(int prog_fd, XdpAttachMode mode, std::error_code& ec) noexcept;
  /// Replaces the attached program `expected_prog_fd` by `prog_fd` in one step: packets never
  /// meet an interface without a program (XDP_FLAGS_REPLACE with IFLA_XDP_EXPECTED_FD). Refused
  /// (EEXIST) when the attached program is not `expected_prog_fd`, e.g. someone else replaced
  /// it meanwhile; nothing changes then.
  /// @throws tunkit::Error
  void replace_xdp(int prog_fd, int expected_prog_fd, XdpAttachMode mode = XdpAttachMode::any);
  /// Replaces as above; on failure `ec` is set and nothing changed.
  void replace_xdp(int prog_fd, int expected_prog_fd, XdpAttachMode mode,
                   std::error_code& ec) noexcept;
  /// Detaches the attached XDP program, in whichever mode it runs (read first: the kernel
  /// detaches only the mode it is asked for). Success when none is attached.
  /// @throws tunkit::Error
  void detach_xdp();
  /// Detaches as above; on failure `ec` is set.
  void detach_xdp(std::error_code& ec) noexcept;
  /// Reads which XDP program is attached, and how (IFLA_XDP of RTM_GETLINK).
  /// @throws tunkit::Error
  [[nodiscard]] XdpInfo xdp() const;
  /// Reads the XDP program; on failure `ec` is set and the result is empty.
  [[nodiscard]] XdpInfo xdp(std::error_code& ec) const noexcept;
  /// Reads the transmit queue length (IFLA_TXQLEN).
  /// @throws tunkit::Error
  [[nodiscard]] unsigned txqueuelen() const;
  /// Reads the transmit queue length; on failure `ec` is set and the result is 0.
  [[nodiscard]] unsigned txqueuelen(std::error_code& ec) const noexcept;

 private:
  Link(std::unique_ptr<detail::netlink::Socket> socket, unsigned ifindex,
       std::string name) noexcept;

  // The socket lives behind a pointer so that this header stays free of netlink internals.
  // const operations still send requests through it: a request is not a change of the Link.
  std::unique_ptr<detail::netlink::Socket> socket_;
  unsigned ifindex_ = 0;
  std::string name_;
};

}  // namespace tunkit
