#pragma once
/// @file
/// `tunkit::TunDeviceInfo`, `tunkit::list_tun_devices`, `tunkit::find_tun_device`: the TUN/TAP
/// devices of a network namespace, as rtnetlink reports them.

#include <sys/types.h>

#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/export.hpp"
#include "tunkit/link.hpp"
#include "tunkit/mac.hpp"
#include "tunkit/options.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

/// A TUN or TAP device as the kernel describes it over rtnetlink: an RTM_GETLINK answer whose
/// IFLA_LINKINFO kind is "tun", with the driver's IFLA_INFO_DATA (IFLA_TUN_*). This works in the
/// calling thread's network namespace and needs no privileges, unlike /sys/class/net, which
/// shows the namespace sysfs was mounted in.
struct TUNKIT_EXPORT TunDeviceInfo {
  /// Name, index, MTU and interface flags (IFF_UP, ...).
  LinkState link;
  /// TUN or TAP (IFLA_TUN_TYPE).
  Mode mode = Mode::tun;
  /// The packet-information header is on (IFF_NO_PI clear; IFLA_TUN_PI).
  bool packet_info = false;
  /// IFF_VNET_HDR (IFLA_TUN_VNET_HDR).
  bool vnet_hdr = false;
  /// The device outlives its descriptors (IFLA_TUN_PERSIST).
  bool persist = false;
  /// IFF_MULTI_QUEUE (IFLA_TUN_MULTI_QUEUE).
  bool multi_queue = false;
  /// TUNSETOWNER, when set (IFLA_TUN_OWNER, as a uid of the caller's user namespace).
  std::optional<uid_t> owner;
  /// TUNSETGROUP, when set (IFLA_TUN_GROUP).
  std::optional<gid_t> group;
  /// Attached, enabled queues (IFLA_TUN_NUM_QUEUES). The kernel reports it for multi-queue
  /// devices only.
  std::optional<unsigned> queues;
  /// Attached queues disabled with TUNSETQUEUE (IFLA_TUN_NUM_DISABLED_QUEUES; multi-queue only).
  std::optional<unsigned> disabled_queues;
  /// The Ethernet address (TAP devices).
  std::optional<MacAddress> mac;

  /// The flags as TUNGETIFF on a queue of the device would report them (TUN/TAP, NO_PI,
  /// VNET_HDR, MULTI_QUEUE, PERSIST).
  [[nodiscard]] Flags flags() const noexcept;
  /// Options that attach one more descriptor to this device with the flags it has (name, mode,
  /// packet info, vnet header, multi-queue). TUNSETIFF on an existing device sets these flags
  /// anew from the request, so attaching with other ones would change the device under its
  /// other users.
  [[nodiscard]] Options attach_options() const;
};

/// Every TUN/TAP device in the calling thread's network namespace, by interface index
/// (RTM_GETLINK dump).
/// @throws tunkit::Error when rtnetlink cannot be asked.
///
/// @code
/// for (const tunkit::TunDeviceInfo& d : tunkit::list_tun_devices())
///   fmt::print("{} {} {}\n", d.link.name, d.mode, d.flags());
/// @endcode
[[nodiscard]] TUNKIT_EXPORT std::vector<TunDeviceInfo> list_tun_devices(
    sys::Syscalls& sys = sys::real());
/// As above; on failure `ec` is set and the result is empty.
[[nodiscard]] TUNKIT_EXPORT std::vector<TunDeviceInfo> list_tun_devices(
    std::error_code& ec, sys::Syscalls& sys = sys::real()) noexcept;

/// The TUN/TAP device named `name`, or nullopt when there is no interface of that name or it is
/// not a TUN/TAP device (RTM_GETLINK by name).
/// @throws tunkit::Error when rtnetlink cannot be asked (and for names longer than 15 bytes).
[[nodiscard]] TUNKIT_EXPORT std::optional<TunDeviceInfo> find_tun_device(
    std::string_view name, sys::Syscalls& sys = sys::real());
/// As above; on failure `ec` is set and the result is nullopt.
[[nodiscard]] TUNKIT_EXPORT std::optional<TunDeviceInfo> find_tun_device(
    std::string_view name, std::error_code& ec, sys::Syscalls& sys = sys::real()) noexcept;

}  // namespace tunkit
