#pragma once
/// @file
/// `tunkit::Link`: configure a network interface over rtnetlink (no `ip` command involved).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/address.hpp"
#include "tunkit/export.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

namespace detail::netlink {
class Socket;
}  // namespace detail::netlink

/// A snapshot of an interface as the kernel reports it (RTM_GETLINK).
struct LinkState {
  std::string name;       ///< IFLA_IFNAME
  unsigned ifindex = 0;   ///< ifi_index
  unsigned mtu = 0;       ///< IFLA_MTU
  unsigned flags = 0;     ///< ifi_flags (IFF_UP, IFF_RUNNING, ...; <linux/if.h>)
  bool up = false;        ///< administratively up (IFF_UP)
  bool running = false;   ///< operationally up (IFF_RUNNING)
  bool lower_up = false;  ///< carrier present (IFF_LOWER_UP)
  unsigned min_mtu = 0;   ///< IFLA_MIN_MTU: the smallest MTU the device accepts (0: not reported)
  unsigned max_mtu = 0;   ///< IFLA_MAX_MTU: the largest MTU the device accepts (0: not reported)
};

/// Owns one NETLINK_ROUTE socket and configures the interface with a given index through it:
/// up/down, MTU, IPv4/IPv6 addresses, and reads them back. Move-only; a moved-from Link reports
/// `errc::not_open` from every operation.
///
/// The interface is named by index, so a rename does not lose it. Every operation waits for the
/// kernel's acknowledgement and reports its errno. Each has two forms (Asio's convention): one
/// throws `tunkit::Error`, whose message names the operation, the interface and the cause, plus
/// the fix where it is known, e.g.
/// `tunkit: set MTU 70000 on "tun0": invalid argument (MTU out of range for this device: 68 to
/// 65535)`; the other takes a `std::error_code&` and does not throw: kernel errors arrive as
/// `std::system_category()` codes (EPERM, EEXIST, ...), tunkit's own as `tunkit::errc`
/// (`invalid_address`, `netlink_protocol`, `not_open`). Changing the interface needs
/// CAP_NET_ADMIN in its network namespace; reading it does not.
///
/// All kernel access goes through the `sys::Syscalls` seam given at construction, which must
/// outlive the Link. A Link is not thread-safe (it pairs requests with answers on one socket):
/// use one per thread, or serialise calls.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d"});
/// tunkit::Link link(dev.ifindex());
/// link.add_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
/// link.set_mtu(1400);
/// link.set_up();
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
  /// The name found when the Link was made (used in error messages; see `state()` for the
  /// current one).
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
  /// Sets the MTU (IFLA_MTU). Out of the device's range (`LinkState::min_mtu`..`max_mtu`; 68 to
  /// 65535 for TUN/TAP) is EINVAL. Below 1280 the kernel disables IPv6 on the interface.
  /// @throws tunkit::Error
  void set_mtu(unsigned mtu);
  /// Sets the MTU; on failure `ec` is set.
  void set_mtu(unsigned mtu, std::error_code& ec) noexcept;
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

  /// Reads the interface's current name, flags and MTU (RTM_GETLINK).
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
