#pragma once
/// @file
/// What to open: `tunkit::Options`, `tunkit::Mode`, and the typed TUN flag set `tunkit::Flags`.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "tunkit/detail/flags.hpp"
#include "tunkit/export.hpp"

namespace tunkit {

/// Layer of the interface: TUN carries IP packets, TAP carries Ethernet frames.
enum class Mode : std::uint8_t { tun, tap };

/// One interface flag as the tun driver reports it (`TUNGETIFF`) or offers it (`TUNGETFEATURES`).
/// The values are the kernel's `IFF_*` bits, so `Flags::bits()` is usable with raw ioctls.
enum class Flag : std::uint16_t {
  tun = 0x0001,           ///< IFF_TUN: layer-3 device
  tap = 0x0002,           ///< IFF_TAP: layer-2 device
  napi = 0x0010,          ///< IFF_NAPI: receive through NAPI
  napi_frags = 0x0020,    ///< IFF_NAPI_FRAGS
  no_carrier = 0x0040,    ///< IFF_NO_CARRIER: created with carrier off (offered by
                          ///< TUNGETFEATURES, never reported by TUNGETIFF)
  no_pi = 0x1000,         ///< IFF_NO_PI: no packet-information header
  one_queue = 0x2000,     ///< IFF_ONE_QUEUE (obsolete, ignored by the kernel)
  vnet_hdr = 0x4000,      ///< IFF_VNET_HDR: virtio-net header before each packet
  tun_excl = 0x8000,      ///< IFF_TUN_EXCL: creation fails if the device exists
  multi_queue = 0x0100,   ///< IFF_MULTI_QUEUE: one descriptor per queue
  detach_queue = 0x0400,  ///< IFF_DETACH_QUEUE: in TUNGETIFF's answer (`Queue::flags()`), this
                          ///< queue is disabled (`Queue::disable()`); never asked for at open
  persist = 0x0800,       ///< IFF_PERSIST: the device outlives its descriptors
};

/// A set of `Flag`s (`bits()` are the raw `IFF_*` bits: `from_bits` wraps what the kernel
/// returns). Cheap to copy; `constexpr` throughout.
class Flags : public detail::FlagSet<Flags, Flag> {
 public:
  /// No flags (`Flags()`), or one flag (implicit, so that a `Flag` is accepted where `Flags`
  /// are).
  using FlagSet::FlagSet;
};

/// The set of two flags: `Flag::tun | Flag::no_pi`.
constexpr Flags operator|(Flag a, Flag b) noexcept {
  return Flags(a) | Flags(b);
}

/// Human-readable list of flags, e.g. "TUN|NO_PI|PERSIST".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(Flags flags);
/// "tun" or "tap".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(Mode mode) noexcept;

// ---------------------------------------------------------------------------------------------
// TUNSETOFFLOAD flags

/// One `TUNSETOFFLOAD` flag: what user space can take from the kernel without segmentation or
/// checksum. The values are the kernel's `TUN_F_*` bits (include/uapi/linux/if_tun.h), so
/// `Offloads::bits()` is usable with a raw ioctl.
enum class Offload : std::uint16_t {
  csum = 0x01,                 ///< TUN_F_CSUM: packets may carry a partial checksum (NEEDS_CSUM)
  tso4 = 0x02,                 ///< TUN_F_TSO4: TCP over IPv4 super-packets
  tso6 = 0x04,                 ///< TUN_F_TSO6: TCP over IPv6 super-packets
  tso_ecn = 0x08,              ///< TUN_F_TSO_ECN: TSO with the ECN bit (CWR on the first segment)
  ufo = 0x10,                  ///< TUN_F_UFO: UDP fragmentation offload (ignored since Linux 4.14)
  uso4 = 0x20,                 ///< TUN_F_USO4: UDP segmentation over IPv4 (Linux 6.2)
  uso6 = 0x40,                 ///< TUN_F_USO6: UDP segmentation over IPv6 (Linux 6.2)
  udp_tunnel_gso = 0x80,       ///< TUN_F_UDP_TUNNEL_GSO: TSO/USO inside UDP tunnels (Linux 6.17)
  udp_tunnel_gso_csum = 0x100  ///< TUN_F_UDP_TUNNEL_GSO_CSUM: the same, outer UDP checksummed
};

/// A set of `Offload` flags (`bits()` are the raw `TUN_F_*` bits). Cheap to copy; `constexpr`
/// throughout.
class Offloads : public detail::FlagSet<Offloads, Offload> {
 public:
  /// No flags (`Offloads()`), or one (implicit, so that `Offload::csum | Offload::tso4` reads
  /// naturally).
  using FlagSet::FlagSet;
  /// Every flag tunkit knows (0x1FF).
  static constexpr Offloads all() noexcept { return from_bits(0x1FF); }
};

/// Union of two flags.
constexpr Offloads operator|(Offload a, Offload b) noexcept {
  return Offloads(a) | Offloads(b);
}

/// The kernel's name without the `TUN_F_` prefix: "CSUM", "TSO4", ..., "UDP_TUNNEL_GSO_CSUM".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(Offload offload) noexcept;
/// The names joined with '|' ("CSUM|TSO4|TSO6"), "none" for the empty set; unknown bits are
/// appended in hex ("CSUM|0x8000").
[[nodiscard]] TUNKIT_EXPORT std::string to_string(Offloads offloads);

/// The most queues one device may have (the kernel's MAX_TAP_QUEUES).
inline constexpr unsigned max_queues = 256;

/// What to open. Every field has the safe default; set only what you need.
///
/// @code
/// tunkit::TunDevice dev({.name = "tun%d", .mode = tunkit::Mode::tun});
/// @endcode
struct Options {
  /// Exact name ("tun0"), a template with one "%d" ("vpn%d": the kernel picks the number), or empty
  /// (the kernel picks "tunN"/"tapN"). At most 15 bytes; '/', ':', whitespace are rejected before
  /// any syscall.
  std::string name{};
  /// TUN (IP packets) or TAP (Ethernet frames).
  Mode mode = Mode::tun;
  /// Keep the kernel's 4-byte packet-information header (clears IFF_NO_PI). tunkit strips it on
  /// read (see `PacketInfo`) and builds it on write, and reports truncated reads from its
  /// TUN_PKT_STRIP bit. Off by default.
  bool packet_info = false;
  /// IFF_TUN_EXCL: fail with EBUSY instead of attaching when the device already exists.
  bool exclusive = false;
  /// IFF_MULTI_QUEUE: allow more descriptors (queues) on the same device. Implied by `queues > 1`.
  bool multi_queue = false;
  /// How many queues `TunDevice` opens (1..256); more can be added with `TunDevice::add_queue`.
  unsigned queues = 1;
  /// IFF_VNET_HDR: each packet is preceded by a virtio-net header.
  bool vnet_hdr = false;
  /// TUNSETOFFLOAD at open (needs `vnet_hdr`): what the kernel may hand over unsegmented or
  /// with a partial checksum. Flags the running kernel refuses are dropped (see
  /// `TunDevice::offloads()` for what was granted). Unset, the device's offloads are left as its
  /// other users set them (attaching changes nothing they rely on), except that a reader without
  /// `vnet_hdr` resets them to none: such a device cannot hand anyone super-packets or partial
  /// checksums, and one left with offloads by an earlier user would. Set it to `Offloads{}` to
  /// turn offloads off.
  std::optional<Offloads> offloads{};
  /// IFF_NO_CARRIER: create the device with carrier off (turn it on with `set_carrier(true)`).
  bool no_carrier = false;
  /// IFF_NAPI: the kernel receives written packets through NAPI.
  bool napi = false;
  /// IFF_NAPI_FRAGS (with `napi`, TAP only, else EINVAL before any syscall): written frames are
  /// built from page fragments. Needs CAP_NET_ADMIN in the initial user namespace (root on the
  /// host), to create or to attach: root in a user namespace of its own gets EPERM.
  bool napi_frags = false;
  /// TUNSETPERSIST: the device outlives this object (delete it with `set_persist(false)`).
  bool persist = false;
  /// TUNSETOWNER: the user allowed to attach without CAP_NET_ADMIN.
  std::optional<uid_t> owner{};
  /// TUNSETGROUP: the group allowed to attach without CAP_NET_ADMIN.
  std::optional<gid_t> group{};
  /// TUNSETIFINDEX: the interface index to create the device with (0 or unset: the kernel picks;
  /// TUNSETIFF gives EBUSY when it is taken; ignored when the device exists).
  std::optional<unsigned> ifindex{};
  /// Non-blocking I/O: `read` returns EAGAIN instead of waiting when no packet is queued.
  bool non_blocking = false;
};

/// What `Queue::adopt` and `TunDevice::adopt` are told about descriptors someone else opened,
/// for what the kernel does not say (or says only to a process in the device's network
/// namespace). Everything else (name, TUN or TAP, virtio-net header and its size and byte order,
/// multi-queue) is read from the descriptors.
struct AdoptOptions {
  /// The interface the descriptors must belong to; empty: any. A mismatch is an error, so a
  /// worker cannot be handed another device by mistake.
  std::string name{};
  /// Whether the device has the 4-byte packet-information header (created without IFF_NO_PI).
  /// TUNGETIFF cannot tell (its answer reuses that bit for "no socket filter"): tunkit reads it
  /// over rtnetlink (IFLA_TUN_PI), which answers only in the device's network namespace. Unset,
  /// that answer is used, and adopting a descriptor of a device in another namespace fails
  /// asking for this value; set, it is checked against that answer where there is one.
  std::optional<bool> packet_info{};
  /// The offloads the device was given with TUNSETOFFLOAD, which has no getter: recorded as
  /// `TunDevice::offloads()`, never set (adopting changes nothing on the device). Unset: none
  /// known, as for a device this process did not configure.
  std::optional<Offloads> offloads{};
  /// As `Options::non_blocking`: `read` returns EAGAIN instead of waiting.
  bool non_blocking = false;
};

/// One line naming what `options` asks for, e.g.
/// `tun "vpn%d" queues 4 NO_PI|MULTI_QUEUE|VNET_HDR offloads CSUM|TSO4 persist owner 1000`.
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const Options& options);

}  // namespace tunkit
