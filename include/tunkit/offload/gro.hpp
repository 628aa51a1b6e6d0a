#pragma once
/// @file
/// The write side of offloads: `Coalescer` merges a batch of packets of the same TCP or UDP flows
/// into super-packets with the virtio-net header that makes the kernel cut them again, so one
/// `write` carries many packets.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "tunkit/export.hpp"
#include "tunkit/vnet.hpp"

namespace tunkit {

namespace detail {
struct GroItem;
struct GroGroup;
struct GroSlot;
}  // namespace detail

/// Construction-time settings of a `Coalescer`.
struct CoalescerOptions {
  /// The most packets one `coalesce` call takes; the flow tables are allocated for this many.
  std::size_t max_batch = 128;
  /// The device's virtio-net header size (`TUNSETVNETHDRSZ`): 10, 12 or more.
  std::size_t header_size = VirtioNetHeader::legacy_size;
  /// Byte order of the header (little-endian unless the device was set to `TUNSETVNETBE`).
  bool little_endian = true;
  /// Merge TCP segments (the device must accept TSO: `Offload::tso4`/`tso6` granted).
  bool tcp = true;
  /// Merge UDP datagrams (the device must accept USO: `Offload::uso4`/`uso6` granted).
  bool udp = true;
  /// Merge only packets whose transport checksum verifies. A merged packet leaves with a
  /// partial checksum that the kernel completes and then trusts, so without this check a
  /// corrupted packet would be accepted where, written alone, it would have been dropped. Turn
  /// off only when the packets were just built (and checksummed) by trusted code.
  bool verify_checksums = true;
};

/// One write to the device produced by `Coalescer::coalesce`.
struct CoalescedPacket {
  /// The virtio-net header (`header_size` bytes) followed by the IP packet: pass to one `write`.
  std::span<const std::byte> bytes;
  /// The IP packet (the part of `bytes` after the virtio-net header).
  std::span<const std::byte> packet;
  /// The virtio-net header in `bytes`, typed: all zero for a packet passed through.
  VirtioNetHeader header;
  /// Index in the batch of the first packet this write carries.
  std::uint32_t first = 0;
  /// Number of batch packets this write carries: 1 for a packet passed through unchanged.
  std::uint32_t count = 0;
};

/// Merges a batch of IP packets about to be written to a TUN device into as few writes as
/// possible: in-order TCP segments of one flow into TSO super-packets and equal-sized UDP
/// datagrams of one flow into USO super-packets (each at most 65535 bytes), with the
/// virtio-net header that makes the kernel cut them back into exactly the packets given, with
/// three exceptions the kernel's own GRO shares: an IPv4 UDP datagram sent without a checksum (0)
/// comes back with one, the urgent pointer field of a segment without URG is not kept, and IPv4
/// UDP datagrams that all carry one IP id (with DF) come back with ids counting up from it (and
/// their header checksums to match). Everything else passes through byte for byte with an
/// all-zero header.
///
/// TCP segments merge when they have the same addresses and ports, IPv4 TOS/TTL/DF (IPv6 traffic
/// class, flow label, hop limit), consecutive IPv4 ids, contiguous sequence numbers, the same
/// ACK number, window, flags and option bytes (timestamps included), and payloads of the first
/// one's size; a shorter segment, or one with PSH or FIN, ends the super-packet; CWR may only
/// start one (then the header has `gso_ecn`); SYN, RST and URG segments, IPv4 options, IPv6
/// extension headers and fragments never merge. UDP datagrams merge under the same IP rules
/// when their payloads all have the first one's size (the last may be shorter), with one more
/// IPv4 id form, as in Linux's UDP GRO (`inet_gro_flush`): with DF set, every datagram may carry
/// the first one's id instead (what an unconnected Linux UDP socket sends: DF, id 0); whether a
/// flow's ids are fixed or counting is decided by its second datagram, and a fixed id without DF
/// never merges. (TCP keeps to counting ids: the kernel's split of a TSO packet written to a TUN
/// device numbers the segments from the first id, a virtio-net header having no way to ask for
/// fixed ids.) Within a flow the order of packets is kept; packets of different flows may be
/// reordered (each write is placed at its first packet).
///
/// Not thread-safe: one `Coalescer` per writing thread. `coalesce` never allocates and never
/// throws.
///
/// @code
/// tunkit::Coalescer gro({.max_batch = 64, .header_size = 12});
/// std::vector<std::byte> arena(tunkit::Coalescer::arena_size(64 * 1500, 64, 12));
/// std::array<tunkit::CoalescedPacket, 64> writes;
/// if (auto n = gro.coalesce(batch, arena, writes))
///   for (std::size_t i = 0; i < *n; ++i) dev.write(writes[i].bytes);
/// @endcode
class TUNKIT_EXPORT Coalescer {
 public:
  /// Allocates the flow tables for `options.max_batch` packets.
  /// @throws tunkit::Error with `errc::out_of_range` for a `header_size` below 10 or a
  /// `max_batch` of 0 or above 2^24; std::bad_alloc.
  explicit Coalescer(CoalescerOptions options = {});
  /// Moves the tables; the moved-from coalescer may only be destroyed or assigned to.
  Coalescer(Coalescer&&) noexcept;
  /// Moves the tables.
  Coalescer& operator=(Coalescer&&) noexcept;
  ~Coalescer();

  /// Turns TCP merging on or off (takes effect at the next `coalesce`).
  void set_tcp(bool on) noexcept { options_.tcp = on; }
  /// Turns UDP merging on or off (takes effect at the next `coalesce`).
  void set_udp(bool on) noexcept { options_.udp = on; }
  /// The settings in force.
  [[nodiscard]] const CoalescerOptions& options() const noexcept { return options_; }

  /// The arena `coalesce` needs at most for `packets` packets of `input_bytes` bytes in all:
  /// every byte given plus one header per packet.
  [[nodiscard]] static constexpr std::size_t arena_size(std::size_t input_bytes,
                                                        std::size_t packets,
                                                        std::size_t header_size) noexcept {
    return input_bytes + packets * header_size;
  }

  /// Coalesces `packets` (IP packets, no virtio-net header) into `out[0..count)`, building each
  /// write (header included) in `arena`; returns the count. The spans in `out` point into
  /// `arena`, valid until it is reused. Fails, before doing anything, with `batch_too_large`
  /// above `max_batch` packets, or `too_many_segments` / `buffer_too_small` when `out` has fewer
  /// entries than `packets` or `arena` is smaller than `arena_size(...)` of the batch.
  [[nodiscard]] OffloadResult<std::size_t> coalesce(
      std::span<const std::span<const std::byte>> packets, std::span<std::byte> arena,
      std::span<CoalescedPacket> out) noexcept;

 private:
  CoalescerOptions options_;
  std::vector<detail::GroItem> items_;    // one per packet of the batch
  std::vector<detail::GroGroup> groups_;  // one per write being built
  std::vector<detail::GroSlot> table_;    // open-addressing flow table, 2^k >= 2 * max_batch
  std::uint32_t generation_ = 0;          // table_ slots of older generations are empty
};

}  // namespace tunkit
