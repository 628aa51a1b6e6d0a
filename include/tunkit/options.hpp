#pragma once
/// @file
/// What to open: `tunkit::Options`, `tunkit::Mode`, and the typed TUN flag set `tunkit::Flags`.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include "tunkit/export.hpp"

namespace tunkit {

/// Layer of the interface: TUN carries IP packets, TAP carries Ethernet frames.
enum class Mode : std::uint8_t { tun, tap };

/// One interface flag as the tun driver reports it (`TUNGETIFF`) or offers it (`TUNGETFEATURES`).
/// The values are the kernel's `IFF_*` bits, so `Flags::bits()` is usable with raw ioctls.
enum class Flag : std::uint16_t {
  tun = 0x0001,          ///< IFF_TUN: layer-3 device
  tap = 0x0002,          ///< IFF_TAP: layer-2 device
  napi = 0x0010,         ///< IFF_NAPI: receive through NAPI
  napi_frags = 0x0020,   ///< IFF_NAPI_FRAGS
  no_carrier = 0x0040,   ///< IFF_NO_CARRIER: created with carrier off
  no_pi = 0x1000,        ///< IFF_NO_PI: no packet-information header
  one_queue = 0x2000,    ///< IFF_ONE_QUEUE (obsolete, ignored by the kernel)
  vnet_hdr = 0x4000,     ///< IFF_VNET_HDR: virtio-net header before each packet
  tun_excl = 0x8000,     ///< IFF_TUN_EXCL: creation fails if the device exists
  multi_queue = 0x0100,  ///< IFF_MULTI_QUEUE: one descriptor per queue
  persist = 0x0800,      ///< IFF_PERSIST: the device outlives its descriptors
};

/// A set of `Flag`s. Cheap to copy; `constexpr` throughout.
class Flags {
 public:
  /// The empty set.
  constexpr Flags() noexcept = default;
  /// The set of one flag (implicit, so that a `Flag` is accepted where `Flags` are).
  constexpr Flags(Flag f) noexcept : bits_(static_cast<std::uint16_t>(f)) {}  // NOLINT
  /// Wraps raw `IFF_*` bits as returned by the kernel.
  static constexpr Flags from_bits(std::uint16_t bits) noexcept {
    Flags f;
    f.bits_ = bits;
    return f;
  }
  /// True when every flag of `f` is set.
  [[nodiscard]] constexpr bool has(Flags f) const noexcept { return (bits_ & f.bits_) == f.bits_; }
  /// The raw `IFF_*` bits.
  [[nodiscard]] constexpr std::uint16_t bits() const noexcept { return bits_; }
  /// True when no flag is set.
  [[nodiscard]] constexpr bool empty() const noexcept { return bits_ == 0; }
  /// Adds the flags of `o`.
  constexpr Flags& operator|=(Flags o) noexcept {
    bits_ |= o.bits_;
    return *this;
  }
  /// The union of two sets.
  friend constexpr Flags operator|(Flags a, Flags b) noexcept { return a |= b; }
  /// The intersection of two sets.
  friend constexpr Flags operator&(Flags a, Flags b) noexcept {
    return from_bits(a.bits_ & b.bits_);
  }
  /// Equal when the same flags are set.
  friend constexpr bool operator==(Flags, Flags) noexcept = default;

 private:
  std::uint16_t bits_ = 0;
};

/// The set of two flags: `Flag::tun | Flag::no_pi`.
constexpr Flags operator|(Flag a, Flag b) noexcept {
  return Flags(a) | Flags(b);
}

/// Human-readable list of flags, e.g. "TUN|NO_PI|PERSIST".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(Flags flags);
/// "tun" or "tap".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(Mode mode) noexcept;

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
  /// IFF_NO_CARRIER: create the device with carrier off (turn it on with `set_carrier(true)`).
  bool no_carrier = false;
  /// IFF_NAPI: the kernel receives written packets through NAPI.
  bool napi = false;
  /// IFF_NAPI_FRAGS (with `napi`, TAP only): written frames are built from page fragments.
  bool napi_frags = false;
  /// TUNSETPERSIST: the device outlives this object (delete it with `set_persist(false)`).
  bool persist = false;
  /// TUNSETOWNER: the user allowed to attach without CAP_NET_ADMIN.
  std::optional<uid_t> owner{};
  /// TUNSETGROUP: the group allowed to attach without CAP_NET_ADMIN.
  std::optional<gid_t> group{};
  /// TUNSETIFINDEX: the interface index to create the device with (0 or unset: the kernel picks).
  std::optional<unsigned> ifindex{};
  /// Non-blocking I/O: `read` returns EAGAIN instead of waiting when no packet is queued.
  bool non_blocking = false;
};

}  // namespace tunkit
