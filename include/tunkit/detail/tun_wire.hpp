#pragma once
/// @file
/// Internal: the rules of the TUN/TAP descriptor's wire format, written once. Not part of the API
/// (namespace `tunkit::detail`, may change in any release); installed because the header-only
/// Asio adapter (`tunkit/asio.hpp`) frames packets by the same rules as `Queue`.
///
/// Covered here: the TUNSETIFF flags an `Options` asks for and the optional ones the kernel must
/// offer first; the per-descriptor bits TUNGETIFF mixes into its answer; the 4-byte
/// packet-information header (`struct tun_pi`); the protocol of a packet; how a read detects a
/// truncated packet. The values are the kernel's (<linux/if_tun.h>), checked against it by
/// static_assert in src/tun/options.cpp; this header does not include kernel headers.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "tunkit/options.hpp"

namespace tunkit::detail {

/// The character device every queue is opened from.
inline constexpr const char* kTunPath = "/dev/net/tun";

/// The largest packet a TUN/TAP descriptor hands over, without its virtio-net header: 64 KiB IP
/// super-packets, plus an Ethernet header and VLAN tags for TAP.
inline constexpr std::size_t kLargestPacket = 65536 + 64;

// ---------------------------------------------------------------------------------------------
// TUNSETIFF / TUNGETIFF flags

/// IFF_ATTACH_QUEUE: TUNSETQUEUE argument that enables a queue.
inline constexpr std::uint16_t kAttachQueue = 0x0200;
/// IFF_DETACH_QUEUE: TUNSETQUEUE argument that disables a queue; TUNGETIFF reports it on a
/// disabled queue.
inline constexpr std::uint16_t kDetachQueue = 0x0400;
/// IFF_NOFILTER: TUNGETIFF's "no socket filter attached" bit, the same value as IFF_NO_PI.
inline constexpr std::uint16_t kNoFilter = 0x1000;

/// An optional TUNSETIFF flag: one that TUNGETFEATURES must offer before tunkit asks for it (an
/// old kernel would ignore or refuse it without saying which).
struct OptionalFlag {
  bool Options::*field;  ///< the option that asks for it
  Flag flag;             ///< the IFF_* bit
  const char* name;      ///< its name in messages ("IFF_MULTI_QUEUE")
};

/// The optional TUNSETIFF flags, in the order their absence is reported.
inline constexpr std::array<OptionalFlag, 5> kOptionalFlags{{
    {&Options::multi_queue, Flag::multi_queue, "IFF_MULTI_QUEUE"},
    {&Options::vnet_hdr, Flag::vnet_hdr, "IFF_VNET_HDR"},
    {&Options::no_carrier, Flag::no_carrier, "IFF_NO_CARRIER"},
    {&Options::napi, Flag::napi, "IFF_NAPI"},
    {&Options::napi_frags, Flag::napi_frags, "IFF_NAPI_FRAGS"},
}};

/// True when `options` asks for several queues (IFF_MULTI_QUEUE), explicitly or by `queues > 1`.
[[nodiscard]] constexpr bool wants_multi_queue(const Options& options) noexcept {
  return options.multi_queue || options.queues > 1;
}

/// True when `options` asks for `f` (one of `kOptionalFlags`).
[[nodiscard]] constexpr bool wants(const Options& options, const OptionalFlag& f) noexcept {
  return f.flag == Flag::multi_queue ? wants_multi_queue(options) : options.*f.field;
}

/// The flags of the TUNSETIFF that opens a queue with `options` (what `to_string(Options)`
/// names, too).
[[nodiscard]] constexpr Flags setiff_flags(const Options& options) noexcept {
  Flags f = options.mode == Mode::tap ? Flag::tap : Flag::tun;
  if (!options.packet_info) f |= Flag::no_pi;
  if (options.exclusive) f |= Flag::tun_excl;
  for (const OptionalFlag& o : kOptionalFlags) {
    if (wants(options, o)) f |= o.flag;
  }
  return f;
}

/// The device's flags from a TUNGETIFF answer on a descriptor opened with or without packet
/// information. TUNGETIFF mixes two per-descriptor bits into the answer: IFF_NOFILTER (the same
/// value as IFF_NO_PI) and IFF_DETACH_QUEUE; NO_PI is reported from how the descriptor was
/// opened instead.
[[nodiscard]] constexpr Flags flags_from_getiff(unsigned answer, bool packet_info) noexcept {
  // IFF_NOFILTER shares IFF_NO_PI's bit and is dropped; IFF_DETACH_QUEUE (a disabled queue) is
  // kept as Flag::detach_queue.
  auto bits = static_cast<std::uint16_t>(answer & ~unsigned{kNoFilter});
  if (!packet_info) bits = static_cast<std::uint16_t>(bits | static_cast<unsigned>(Flag::no_pi));
  return Flags::from_bits(bits);
}

/// The virtio-net header of a device opened with IFF_VNET_HDR, as its queues frame packets.
/// Eight bytes, so that a queue can hold it in one lock-free atomic (`Relaxed<VnetConfig>`).
struct VnetConfig {
  /// Bytes before each packet: any size from 10 on (TUNSETVNETHDRSZ takes an int; the kernel
  /// refuses less than 10); 0 without the header.
  std::uint32_t size = 0;
  /// TUNSETVNETLE in effect: little-endian fields (virtio 1.0), whatever TUNSETVNETBE says.
  bool le = false;
  /// TUNSETVNETBE in effect (kernels with CONFIG_TUN_VNET_CROSS_LE).
  bool be = false;
  /// The fields are big-endian: TUNSETVNETBE without TUNSETVNETLE (tun_is_little_endian()).
  [[nodiscard]] constexpr bool big_endian() const noexcept { return be && !le; }
  /// Equal when both fields are.
  friend constexpr bool operator==(const VnetConfig&, const VnetConfig&) noexcept = default;
};

/// A value several threads read and one writes, with no ordering needed beyond the value itself
/// (a setting read on the hot path): a relaxed atomic that can still be copied and moved along
/// with the object holding it (moves are never concurrent with use). The value is kept as the
/// bytes of one 64-bit word, so that every compiler makes it lock-free without libatomic (clang
/// calls libatomic for a std::atomic of a small struct such as VnetConfig).
template <class T>
class Relaxed {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= sizeof(std::uint64_t),
                "Relaxed holds small trivially copyable values");
  static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
                "must be usable from a signal handler");

 public:
  /// Holds `value`.
  constexpr Relaxed(T value = T{}) noexcept : bits_(bits_of(value)) {}  // NOLINT(google-explicit-*)
  /// Copies the value (not concurrently with a store).
  Relaxed(const Relaxed& other) noexcept : bits_(other.bits_.load(std::memory_order_relaxed)) {}
  /// Copies the value (not concurrently with a store).
  Relaxed& operator=(const Relaxed& other) noexcept {
    bits_.store(other.bits_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    return *this;
  }
  ~Relaxed() = default;
  /// The value.
  [[nodiscard]] T load() const noexcept { return value_of(bits_.load(std::memory_order_relaxed)); }
  /// Sets the value.
  void store(T value) noexcept { bits_.store(bits_of(value), std::memory_order_relaxed); }

 private:
  static constexpr std::uint64_t bits_of(T value) noexcept {
    if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      return static_cast<std::uint64_t>(value);
    } else {
      std::uint64_t bits = 0;
      std::memcpy(&bits, &value, sizeof value);
      return bits;
    }
  }
  static T value_of(std::uint64_t bits) noexcept {
    if constexpr (std::is_integral_v<T> || std::is_enum_v<T>) {
      return static_cast<T>(bits);
    } else {
      T value{};
      // T is trivially copyable; its default member initializers only make it non-trivial to make.
      std::memcpy(static_cast<void*>(&value), &bits, sizeof value);
      return value;
    }
  }
  std::atomic<std::uint64_t> bits_;
};

// ---------------------------------------------------------------------------------------------
// Packet-information header and protocol

/// Bytes of `struct tun_pi`.
inline constexpr std::size_t kPiSize = 4;
/// TUN_PKT_STRIP: the kernel truncated the packet to the reader's buffer.
inline constexpr std::uint16_t kPiStrip = 0x0001;
/// `struct tun_pi` as bytes: flags (host byte order, measured), then the protocol (big-endian).
using PiBytes = std::array<std::byte, kPiSize>;

/// The EtherType of a packet as the tun driver expects it in the packet-information header of a
/// write: the frame's type field for TAP, from the IP version for TUN; 0 when unknown. (A TUN
/// write with packet information takes the protocol from the header as given: with 0 the write
/// succeeds and the stack drops the packet without a word, measured.)
[[nodiscard]] constexpr std::uint16_t protocol_of(Mode mode,
                                                  std::span<const std::byte> packet) noexcept {
  if (mode == Mode::tap) {
    if (packet.size() < 14) return 0;
    return static_cast<std::uint16_t>((std::to_integer<unsigned>(packet[12]) << 8U) |
                                      std::to_integer<unsigned>(packet[13]));
  }
  if (packet.empty()) return 0;
  switch (std::to_integer<unsigned>(packet[0]) >> 4U) {
    case 4:
      return 0x0800;
    case 6:
      return 0x86DD;
    default:
      return 0;
  }
}

/// `protocol_of` for a packet that starts `offset` bytes into `bufs` (after a virtio-net header of
/// that size), wherever the buffers split it.
template <class Buffers>
[[nodiscard]] constexpr std::uint16_t protocol_at(Mode mode, const Buffers& bufs,
                                                  std::size_t offset) noexcept {
  std::array<std::byte, 14> head{};  // an Ethernet header; a TUN packet needs one byte
  std::size_t have = 0;
  for (const auto& b : bufs) {
    if (offset >= b.size()) {
      offset -= b.size();
      continue;
    }
    for (std::size_t i = offset; i < b.size() && have < head.size(); ++i)
      head[have++] = static_cast<std::byte>(b[i]);
    offset = 0;
    if (have == head.size()) break;
  }
  return protocol_of(mode, std::span<const std::byte>(head.data(), have));
}

/// The packet-information header of a write (flags 0).
[[nodiscard]] constexpr PiBytes encode_pi(std::uint16_t protocol) noexcept {
  return {std::byte{0}, std::byte{0}, static_cast<std::byte>(protocol >> 8U),
          static_cast<std::byte>(protocol & 0xFFU)};
}

/// The flags of a read's packet-information header (host byte order).
[[nodiscard]] inline std::uint16_t pi_flags(const PiBytes& pi) noexcept {
  std::uint16_t flags = 0;
  std::memcpy(&flags, pi.data(), sizeof flags);
  return flags;
}

/// The protocol of a read's packet-information header (network byte order on the wire).
[[nodiscard]] constexpr std::uint16_t pi_protocol(const PiBytes& pi) noexcept {
  return static_cast<std::uint16_t>((std::to_integer<unsigned>(pi[2]) << 8U) |
                                    std::to_integer<unsigned>(pi[3]));
}

// ---------------------------------------------------------------------------------------------
// Truncation

/// What one read(2)/readv(2) of `got` bytes means for a caller whose buffers hold `capacity`
/// bytes. Without packet information the kernel truncates silently, so every read passes one
/// spare byte past the caller's buffers: a read that fills it had a longer packet (its head is
/// kept, its tail lost). With packet information the header comes first and its TUN_PKT_STRIP
/// flag says the same.
struct ReadOutcome {
  std::size_t length = 0;   ///< bytes of the packet in the caller's buffers
  bool truncated = false;   ///< the packet was longer than the buffers
  bool short_read = false;  ///< fewer bytes than a packet-information header (never seen)
};

/// The outcome of a read without packet information (one spare byte after the buffers).
[[nodiscard]] constexpr ReadOutcome read_outcome(std::size_t got, std::size_t capacity) noexcept {
  if (got > capacity) return {capacity, true, false};
  return {got, false, false};
}

/// The outcome of a read with packet information (the header `pi` before the buffers).
[[nodiscard]] inline ReadOutcome read_outcome_pi(std::size_t got, const PiBytes& pi) noexcept {
  if (got < kPiSize) return {0, false, true};
  return {got - kPiSize, (pi_flags(pi) & kPiStrip) != 0, false};
}

}  // namespace tunkit::detail
