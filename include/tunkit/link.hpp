#pragma once
/// @file
/// `tunkit::Link`: configure a network interface over rtnetlink (no `ip` command involved).

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/address.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

/// A snapshot of an interface as the kernel reports it (RTM_GETLINK).
struct LinkState {
  std::string name;       ///< IFLA_IFNAME
  unsigned ifindex = 0;   ///< ifi_index
  unsigned mtu = 0;       ///< IFLA_MTU
  unsigned flags = 0;     ///< ifi_flags (IFF_UP, IFF_RUNNING, ...; <net/if.h>)
  bool up = false;        ///< administratively up (IFF_UP)
  bool running = false;   ///< operationally up (IFF_RUNNING)
  bool lower_up = false;  ///< carrier present (IFF_LOWER_UP)
};

/// Owns one NETLINK_ROUTE socket and configures the interface with a given index through it:
/// up/down, MTU, IPv4/IPv6 addresses, and reads them back. Move-only.
///
/// The interface is named by index, so a rename does not lose it. Every operation waits for the
/// kernel's acknowledgement and reports its errno; the throwing forms throw `tunkit::Error` naming
/// the operation, the interface and the cause, e.g.
/// `tunkit: set MTU 70000 on "tun0": invalid argument (out of range for this device)`.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d"});
/// tunkit::Link link(dev.ifindex());
/// link.add_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
/// link.set_mtu(1400);
/// link.set_up();
/// @endcode
class Link {
 public:
  /// Opens a netlink socket for the interface with index `ifindex` and looks up its name.
  /// @throws tunkit::Error (`errc::link_not_found` when there is no such interface).
  explicit Link(unsigned ifindex, sys::Syscalls& sys = sys::real());
  /// The interface named `name`.
  /// @throws tunkit::Error (`errc::link_not_found` when there is no such interface).
  [[nodiscard]] static Link from_name(std::string_view name, sys::Syscalls& sys = sys::real());

  Link(Link&& other) noexcept;
  Link& operator=(Link&& other) noexcept;
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link();

  [[nodiscard]] unsigned ifindex() const noexcept { return ifindex_; }
  /// The name found when the Link was made (used in error messages).
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  /// Sets IFF_UP.
  void set_up();
  void set_up(std::error_code& ec) noexcept;
  /// Clears IFF_UP.
  void set_down();
  void set_down(std::error_code& ec) noexcept;
  /// Sets the MTU (IFLA_MTU).
  void set_mtu(unsigned mtu);
  void set_mtu(unsigned mtu, std::error_code& ec) noexcept;
  /// Adds an address with its prefix length (RTM_NEWADDR). Adding one that exists is EEXIST.
  void add_address(const IpPrefix& prefix);
  void add_address(const IpPrefix& prefix, std::error_code& ec) noexcept;
  /// Removes an address (RTM_DELADDR). Removing one that is absent is EADDRNOTAVAIL.
  void remove_address(const IpPrefix& prefix);
  void remove_address(const IpPrefix& prefix, std::error_code& ec) noexcept;

  /// Reads the interface's name, flags and MTU (RTM_GETLINK).
  [[nodiscard]] LinkState state() const;
  [[nodiscard]] LinkState state(std::error_code& ec) const noexcept;
  /// Reads the addresses of the interface, IPv4 and IPv6 (RTM_GETADDR dump).
  [[nodiscard]] std::vector<IpPrefix> addresses() const;
  [[nodiscard]] std::vector<IpPrefix> addresses(std::error_code& ec) const;

 private:
  Link(sys::Syscalls& sys, int fd, unsigned ifindex, std::string name) noexcept;

  sys::Syscalls* sys_ = nullptr;
  int fd_ = -1;
  unsigned ifindex_ = 0;
  mutable std::uint32_t seq_ = 0;
  std::string name_;
};

}  // namespace tunkit
