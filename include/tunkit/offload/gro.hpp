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

/// A packet given to `Coalescer::coalesce` in two parts, as `gso_split_views` makes them or as a
/// packet received into a header buffer and a payload buffer: `head` must hold its IP and
/// transport headers for it to be merged (otherwise it passes through), `tail` holds the rest
/// of its bytes (may be empty).
struct PacketParts {
  std::span<const std::byte> head;  ///< the first bytes, headers included
  std::span<const std::byte> tail;  ///< the bytes after them
  /// The packet's TCP or UDP checksum field holds only the pseudo-header sum, as
  /// `gso_split_views` leaves it with `SegmentChecksum::partial` (`SegmentView::partial_checksum`).
  /// The gathering `coalesce` then writes it with NEEDS_CSUM whether it merges or passes through
  /// (`csum_start` at its transport header), so the kernel completes the checksum, and does not
  /// verify it (there is no checksum to verify, even with `verify_checksums`). Only for writes
  /// to a device with a virtio-net header. Ignored (an all-zero header, the checksum left as
  /// it is) for a packet that is neither TCP nor UDP or whose `head` does not hold its IP and
  /// transport headers; a segment view's always does.
  bool partial_checksum = false;
  /// The packet's length.
  [[nodiscard]] std::size_t size() const noexcept { return head.size() + tail.size(); }
};

/// One write produced by the gathering `Coalescer::coalesce`: pass `pieces` to one gather write
/// (`Queue::writev`, `BatchIo::write_gathered`). The first piece is in the header arena and
/// holds the virtio-net header (and, for a super-packet, the merged IP and transport headers);
/// the others view the payloads of the packets given, adjacent views joined into one.
struct GatheredPacket {
  /// The bytes of the write, in order: header arena first, then the packets' own bytes.
  std::span<const std::span<const std::byte>> pieces;
  /// Bytes of the write in all (the virtio-net header included).
  std::size_t size = 0;
  /// The virtio-net header in the first piece, typed: all zero for a packet passed through
  /// (but for NEEDS_CSUM on one given with `PacketParts::partial_checksum`).
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
/// all-zero header (the gathering form: NEEDS_CSUM for a packet given with a partial checksum,
/// `PacketParts::partial_checksum`).
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
/// Two forms build the writes. The gathering form (recommended, what the forwarder example
/// uses) copies no payload byte: each write is a list of pieces, the headers built in a small
/// header arena and the payloads viewed where the packets are, for one gather write (the TUN
/// driver copies from the pieces anyway). The copying form builds every write whole in an arena,
/// for callers that need the writes in one buffer they own (to queue them, or where gather I/O
/// is not at hand). Both give the same bytes.
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
///
/// // Without copying payloads:
/// std::vector<std::byte> headers(tunkit::Coalescer::gather_arena_size(64, 12));
/// std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(64));
/// std::array<tunkit::GatheredPacket, 64> gathered;
/// if (auto n = gro.coalesce(batch, headers, pieces, gathered))
///   for (std::size_t i = 0; i < *n; ++i) dev.writev(gathered[i].pieces);
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

  /// The header arena the gathering `coalesce` needs at most for `packets` packets: a
  /// virtio-net header per packet and the IP and transport headers of a merged write (at most
  /// 40 + 60 bytes) per packet.
  [[nodiscard]] static constexpr std::size_t gather_arena_size(std::size_t packets,
                                                               std::size_t header_size) noexcept {
    return packets * (header_size + max_merged_headers);
  }
  /// The pieces the gathering `coalesce` needs at most for `packets` packets (three per packet:
  /// header, head, tail).
  [[nodiscard]] static constexpr std::size_t gather_pieces(std::size_t packets) noexcept {
    return 3 * packets;
  }
  /// The most pieces of one gathered write (`Queue::max_buffers`, what one `writev` of a queue
  /// takes): a run of packets that would need more is written as two super-packets.
  static constexpr std::size_t max_gather_pieces = 64;
  /// The most IP and transport header bytes a merged write carries (IPv6, TCP with 40 bytes of
  /// options).
  static constexpr std::size_t max_merged_headers = 100;

  /// Coalesces `packets` (IP packets, no virtio-net header) into `out[0..count)`, building each
  /// write (header included) in `arena`; returns the count. The spans in `out` point into
  /// `arena`, valid until it is reused. Fails, before doing anything, with `batch_too_large`
  /// above `max_batch` packets, or `too_many_segments` / `buffer_too_small` when `out` has fewer
  /// entries than `packets` or `arena` is smaller than `arena_size(...)` of the batch.
  [[nodiscard]] OffloadResult<std::size_t> coalesce(
      std::span<const std::span<const std::byte>> packets, std::span<std::byte> arena,
      std::span<CoalescedPacket> out) noexcept;

  /// Coalesces `packets` into `out[0..count)` without copying their payloads: each write's
  /// virtio-net header and merged headers are built in `header_arena`, its pieces listed in
  /// `pieces` (views of the arena and of the packets, valid while both are). Same merging as the
  /// copying form, same bytes written. Fails, before doing anything, with `batch_too_large`, or
  /// `too_many_segments` / `buffer_too_small` when `out` has fewer entries than `packets`,
  /// `pieces` fewer than `gather_pieces(...)` or the arena is smaller than
  /// `gather_arena_size(...)`.
  [[nodiscard]] OffloadResult<std::size_t> coalesce(
      std::span<const std::span<const std::byte>> packets, std::span<std::byte> header_arena,
      std::span<std::span<const std::byte>> pieces, std::span<GatheredPacket> out) noexcept;
  /// As above, for packets in two parts (`gso_split_views` segments, or a header and a payload
  /// buffer each).
  [[nodiscard]] OffloadResult<std::size_t> coalesce(std::span<const PacketParts> packets,
                                                    std::span<std::byte> header_arena,
                                                    std::span<std::span<const std::byte>> pieces,
                                                    std::span<GatheredPacket> out) noexcept;

 private:
  // Classifies and groups the batch (steps 1 and 2); returns the number of writes.
  std::uint32_t group(std::span<const PacketParts> packets) noexcept;
  // The batch as parts (each packet whole in its head), in parts_.
  std::span<const PacketParts> as_parts(
      std::span<const std::span<const std::byte>> packets) noexcept;

  CoalescerOptions options_;
  std::vector<detail::GroItem> items_;    // one per packet of the batch
  std::vector<detail::GroGroup> groups_;  // one per write being built
  std::vector<detail::GroSlot> table_;    // open-addressing flow table, 2^k >= 2 * max_batch
  std::vector<PacketParts> parts_;        // the batch of a call given whole packets
  std::uint32_t generation_ = 0;          // table_ slots of older generations are empty
};

}  // namespace tunkit
