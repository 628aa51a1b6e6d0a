#pragma once
// What tunkit says about a failed TUN/TAP operation: the hints (the fix, or the cause tunkit can
// name) for each errno the tun driver answers, in one place for Queue, TunDevice and BatchIo.

#include <span>
#include <string_view>
#include <system_error>

#include "tunkit/mac.hpp"
#include "tunkit/options.hpp"

namespace tunkit::detail {

/// The display name of a device about to be opened: the name, or the kernel's default template.
[[nodiscard]] std::string_view shown_name(const Options& o) noexcept;

/// The hint for a failed TUNSETIFF: what the errno means for this driver.
[[nodiscard]] std::string_view setiff_hint(int err, const Options& o) noexcept;
/// The hint for a failed open("/dev/net/tun").
[[nodiscard]] std::string_view open_hint(int err) noexcept;
/// "needs CAP_NET_ADMIN" for a permission error, else nothing.
[[nodiscard]] std::string_view cap_hint(std::error_code ec) noexcept;
/// The hint for a failed TUNSETOWNER / TUNSETGROUP: `cap_hint`, or for EINVAL an id that the
/// caller's user namespace does not map, or -1 (the driver's only reasons for EINVAL).
[[nodiscard]] std::string_view owner_hint(std::error_code ec) noexcept;
/// `hint` when `ec` is the errno `err`, else nothing (a hint that explains one errno only).
[[nodiscard]] std::string_view hint_for(std::error_code ec, int err,
                                        std::string_view hint) noexcept;
/// The hint for a failed TUNSETSTEERINGEBPF / TUNSETFILTEREBPF.
[[nodiscard]] std::string_view ebpf_hint(std::error_code ec) noexcept;
/// Why a TUNSETOFFLOAD mask can never be accepted (on a device with or without IFF_VNET_HDR), or
/// empty when it can.
[[nodiscard]] std::string_view offload_problem(Offloads o, bool vnet_hdr) noexcept;
/// Why a TX filter cannot be expressed to the kernel, or empty.
[[nodiscard]] std::string_view tx_filter_problem(std::span<const MacAddress> macs) noexcept;
/// The hint for a failed read, write or wait on a queue.
[[nodiscard]] std::string_view io_hint(std::error_code ec) noexcept;
/// The hint for a write the kernel refused with EINVAL.
[[nodiscard]] std::string_view write_einval_hint(Mode mode) noexcept;

/// TUNSETIFF refused for a device that does not exist: only CAP_NET_ADMIN creates one.
inline constexpr std::string_view kCreateNeedsCap =
    "creating a device needs CAP_NET_ADMIN: run as root, or have an administrator create it "
    "persistent with an owner or group that includes you (see "
    "docs/permissions-and-namespaces.md)";
/// TUNSETIFF refused with Options::napi_frags: the driver checks this flag first, for any device.
inline constexpr std::string_view kNapiFragsNeedsCap =
    "Options::napi_frags (IFF_NAPI_FRAGS) needs CAP_NET_ADMIN in the initial user namespace (root "
    "on the host; root in a user namespace of your own is not enough)";
/// The hint for EBADFD, which tunkit reports only when it observed the interface gone.
inline constexpr std::string_view kInterfaceDeleted = "the interface was deleted";
/// `hint`, unless `ec` is EBADFD: then `kInterfaceDeleted` (see observed.hpp).
[[nodiscard]] std::string_view gone_or(std::error_code ec, std::string_view hint) noexcept;

/// A write with a virtio-net header refused with EINVAL, where tunkit's checks found no reason.
inline constexpr std::string_view kVnetWriteRefused =
    "the kernel refused the virtio-net header or the packet (a TUN device takes IPv4 or IPv6)";
/// A queue joining a device whose other queues frame packets with a virtio-net header.
inline constexpr std::string_view kDeviceHasVnet =
    "other queues hold the device with a virtio-net header (IFF_VNET_HDR): open it with "
    "Options::vnet_hdr";
/// A queue with a virtio-net header joining a device whose other queues have none.
inline constexpr std::string_view kDeviceHasNoVnet =
    "other queues hold the device without a virtio-net header (IFF_VNET_HDR): open it without "
    "Options::vnet_hdr";
/// TUNGETVNETBE/TUNSETVNETBE's EINVAL.
inline constexpr std::string_view kCrossLeHint = "kernel built without CONFIG_TUN_VNET_CROSS_LE?";
/// TUNSETIFF answered success but left a queue with packet information unattached.
inline constexpr std::string_view kFilterBlocksAttach =
    "the kernel does not attach a queue with packet information while a classic BPF filter is "
    "attached: detach_filter() first";
/// TUNSETQUEUE attach answered success but left the queue disabled.
inline constexpr std::string_view kFilterBlocksEnable =
    "the kernel does not re-enable a queue while a classic BPF filter is attached: "
    "detach_filter() first";

/// The TUNSET{PERSIST,OWNER,GROUP,LINK,...} ioctls take their argument by value, not by pointer.
[[nodiscard]] inline void* int_arg(unsigned long v) noexcept {
  return reinterpret_cast<void*>(v);  // NOLINT(performance-no-int-to-ptr)
}

}  // namespace tunkit::detail
