#pragma once
/// @file
/// Offloads for TUN devices opened with IFF_VNET_HDR: the virtio-net header, the `TUNSETOFFLOAD`
/// flags, and the two transformations that let user space move 64 KiB super-packets instead of
/// MTU-sized ones:
///
/// - **GSO split** (read side): the kernel hands over one TCP or UDP super-packet with a header
///   saying how to cut it (`gso_type`, `gso_size`); `gso_split` cuts it into wire-sized packets
///   with their own IP lengths, IPv4 ids, TCP sequence numbers, flags and checksums.
/// - **GRO coalesce** (write side): `Coalescer` merges a batch of packets of the same TCP or UDP
///   flow into super-packets with a header asking the kernel to cut them again, so one `write`
///   carries many packets.
///
/// Everything here is pure computation over caller-provided buffers: no system calls, no
/// allocation after construction, no exceptions on the hot path. The device side (`TUNSETOFFLOAD`,
/// `TUNSETVNETHDRSZ`) belongs to `TunDevice`.
///
/// Conventions (those of the kernel's `include/linux/virtio_net.h` for a TUN device): offsets in
/// the header count from the first byte of the IP packet (there is no Ethernet header);
/// `NEEDS_CSUM` means the transport checksum field holds the one's-complement sum of the pseudo
/// header only (not complemented) and whoever finishes the packet adds the sum of the bytes from
/// `csum_start` to the end.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/export.hpp"
#include "tunkit/options.hpp"
#include "tunkit/packet.hpp"

namespace tunkit {

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a virtio-net header, a super-packet or a batch was rejected. `OffloadError::value` and
/// `OffloadError::limit` carry the numbers named in each description.
enum class OffloadReason : std::uint8_t {
  bad_header_size = 1,        ///< header size `value` below 10 (sizeof(struct virtio_net_hdr))
  header_truncated,           ///< `value` bytes given, the header needs `limit`
  unknown_gso_type,           ///< gso_type `value` (ECN bit included) is not one the kernel knows
  gso_size_zero,              ///< a GSO type with gso_size 0
  hdr_len_beyond_packet,      ///< hdr_len `value` beyond the packet's `limit` bytes
  csum_start_beyond_packet,   ///< csum_start `value` beyond the packet's `limit` bytes
  csum_offset_beyond_packet,  ///< checksum field end `value` (start + offset + 2) beyond `limit`
  gso_type_mismatch,          ///< gso_type `value` does not fit the packet: IP version and
                              ///< protocol `limit` (version << 8 | protocol)
  csum_field_mismatch,        ///< GSO with NEEDS_CSUM: field at `value` is not the transport
                              ///< checksum, at `limit`
  malformed_packet,           ///< the packet does not parse (`OffloadError::parse` says why)
  fragment,                   ///< the packet is an IP fragment
  gso_unsupported,            ///< gso_type `value` is valid but tunkit does not split it (UFO)
  too_many_segments,          ///< `value` segments needed, `limit` output buffers given
  buffer_too_small,           ///< `value` bytes needed, the buffer has `limit`
  batch_too_large,            ///< `value` packets given, capacity `limit`
  routing_header,             ///< an IPv6 routing header with `value` segments left: the
                              ///< checksum's destination is not the packet's; not split
};

/// The tunkit 0.1 name of `OffloadReason`.
using OffloadErrc [[deprecated("use OffloadReason")]] = OffloadReason;

/// What an offload function rejected and why.
struct OffloadError {
  /// What is wrong.
  OffloadReason reason = OffloadReason::malformed_packet;
  std::uint32_t value = 0;  ///< the offending number (see OffloadReason)
  std::uint32_t limit = 0;  ///< the bound it broke (see OffloadReason)
  ParseError parse{};       ///< for `malformed_packet`: the parser's reason
  /// Equal when every field is.
  friend constexpr bool operator==(const OffloadError&, const OffloadError&) noexcept = default;
};

/// Human-readable reason, e.g. "virtio-net header: hdr_len 1600 beyond packet length 1500".
[[nodiscard]] TUNKIT_EXPORT std::string to_string(const OffloadError& error);

/// The `tunkit::errc` an offload error belongs to: `invalid_vnet_header` (the header is wrong or
/// does not match the packet), `malformed_packet`, `gso_unsupported`, `output_too_small` or
/// `batch_too_large`.
[[nodiscard]] TUNKIT_EXPORT std::error_code make_error_code(const OffloadError& error) noexcept;

/// The outcome of an offload function: a value (a size or a count), or why not.
template <class T>
using OffloadResult = Result<T, OffloadError>;

// ---------------------------------------------------------------------------------------------
// The virtio-net header

/// `gso_type` of a virtio-net header, without the ECN bit (`VirtioNetHeader::gso_ecn`). Other
/// values can be held (`static_cast<GsoType>(n)`) and are reported by `VirtioNetHeader::check`.
enum class GsoType : std::uint8_t {
  none = 0,    ///< VIRTIO_NET_HDR_GSO_NONE: not a super-packet
  tcpv4 = 1,   ///< VIRTIO_NET_HDR_GSO_TCPV4: TCP over IPv4, cut into gso_size payloads
  udp = 3,     ///< VIRTIO_NET_HDR_GSO_UDP: UFO, one UDP datagram cut into IP fragments
  tcpv6 = 4,   ///< VIRTIO_NET_HDR_GSO_TCPV6: TCP over IPv6
  udp_l4 = 5,  ///< VIRTIO_NET_HDR_GSO_UDP_L4: USO, UDP over IPv4/IPv6 cut into datagrams
};

/// "NONE", "TCPV4", "UDP", "TCPV6", "UDP_L4", or "unknown".
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(GsoType type) noexcept;

/// The virtio-net header that precedes each packet on a device opened with IFF_VNET_HDR
/// (`struct virtio_net_hdr`, plus `num_buffers` from 12 bytes on), as plain fields in host order.
/// The wire form is little-endian for the kernel's TUN devices on little-endian hosts (and with
/// `TUNSETVNETLE`); big-endian with `TUNSETVNETBE`.
///
/// @code
/// std::size_t n = dev.read(buf);
/// auto hdr = tunkit::VirtioNetHeader::parse(std::span(buf).first(n));
/// if (!hdr) return log(tunkit::to_string(hdr.error()));
/// auto packet = std::span(buf).first(n).subspan(10);
/// auto count = tunkit::gso_split(*hdr, packet, segments, sizes);
/// @endcode
struct TUNKIT_EXPORT VirtioNetHeader {
  /// Bytes of `struct virtio_net_hdr`: the smallest header `TUNSETVNETHDRSZ` accepts.
  static constexpr std::size_t legacy_size = 10;
  /// Bytes of `struct virtio_net_hdr_mrg_rxbuf` / `virtio_net_hdr_v1` (with `num_buffers`).
  static constexpr std::size_t mrg_rxbuf_size = 12;

  /// VIRTIO_NET_HDR_F_NEEDS_CSUM (flags bit 0): the transport checksum is partial; finish it
  /// from `csum_start`, storing at `csum_start + csum_offset`.
  bool needs_csum = false;
  /// VIRTIO_NET_HDR_F_DATA_VALID (flags bit 1): the checksum was verified.
  bool data_valid = false;
  /// The segmentation asked for.
  GsoType gso_type = GsoType::none;
  /// VIRTIO_NET_HDR_GSO_ECN (gso_type bit 7): the TCP super-packet has CWR set on its first
  /// segment.
  bool gso_ecn = false;
  /// Length of the headers (IP + transport) of a super-packet. The kernel's value on read is a
  /// hint only (it may cover payload too): tunkit parses the headers itself.
  std::uint16_t hdr_len = 0;
  /// Payload bytes per segment (TCP MSS, or UDP datagram payload).
  std::uint16_t gso_size = 0;
  /// Where the checksummed bytes start (the transport header), from the start of the packet.
  std::uint16_t csum_start = 0;
  /// Where the checksum field is, from `csum_start` (16 for TCP, 6 for UDP).
  std::uint16_t csum_offset = 0;
  /// Merged receive buffers (only in headers of 12 bytes or more; 0 for TUN devices).
  std::uint16_t num_buffers = 0;

  /// Reads the first `header_size` bytes of `bytes` (10, 12 or more; bytes past 12 are
  /// ignored). Flag bits other than NEEDS_CSUM and DATA_VALID are dropped. Fails with
  /// `bad_header_size` or `header_truncated`; the fields themselves are checked by `check`.
  static OffloadResult<VirtioNetHeader> parse(std::span<const std::byte> bytes,
                                              std::size_t header_size = legacy_size,
                                              bool little_endian = true) noexcept;

  /// Writes the header in its first `header_size` bytes of `out` (bytes past 12 are zeroed; a
  /// 10-byte header has no `num_buffers`). Returns `header_size`, or `bad_header_size` /
  /// `buffer_too_small`.
  OffloadResult<std::size_t> serialize(std::span<std::byte> out,
                                       std::size_t header_size = legacy_size,
                                       bool little_endian = true) const noexcept;

  /// Checks the header against the IP packet it precedes, as the kernel does before accepting a
  /// write (and more strictly: a GSO header must fit the packet's IP version and protocol, and a
  /// GSO checksum request must point at the transport checksum). The first problem found, or
  /// nothing when the header is valid.
  ///
  /// @code
  /// if (auto why = hdr.check(packet)) fmt::print("dropped: {}\n", tunkit::to_string(*why));
  /// @endcode
  [[nodiscard]] std::optional<OffloadError> check(std::span<const std::byte> packet) const noexcept;

  /// `check` as an error code: empty when valid, else `errc::invalid_vnet_header` (or
  /// `errc::malformed_packet` for a GSO header over a packet that does not parse).
  [[nodiscard]] std::error_code validate(std::span<const std::byte> packet) const noexcept;

  /// Equal when every field is.
  friend constexpr bool operator==(const VirtioNetHeader&,
                                   const VirtioNetHeader&) noexcept = default;
};

// ---------------------------------------------------------------------------------------------
// GSO split and checksum completion

/// Finishes the partial checksum of a packet whose header has NEEDS_CSUM, in place: sums the
/// bytes from `csum_start` to the end (the field holds the pseudo-header sum) and stores the
/// complement at `csum_start + csum_offset` (0 is stored as 0xFFFF, as the kernel does). Does
/// nothing without NEEDS_CSUM. Fails when the checksum field lies beyond the packet.
///
/// @code
/// if (hdr.needs_csum && hdr.gso_type == tunkit::GsoType::none)
///   if (auto err = tunkit::complete_checksum(hdr, packet)) drop(*err);
/// @endcode
[[nodiscard]] TUNKIT_EXPORT std::optional<OffloadError> complete_checksum(
    const VirtioNetHeader& header, std::span<std::byte> packet) noexcept;

/// Cuts one super-packet (the IP packet after the virtio-net header, as read from the device)
/// into the packets it stands for, written to `out[0..count)` with their lengths in
/// `sizes[0..count)`; returns the count. Never allocates.
///
/// - `gso_type` TCPV4/TCPV6: every segment but the last carries `gso_size` payload bytes; IPv4
///   total length, id (incremented per segment, wrapping) and header checksum, IPv6 payload
///   length, TCP sequence number and checksum are rewritten; FIN and PSH are kept on the last
///   segment only, CWR on the first only. IPv4 options and IPv6 extension headers are copied.
/// - `gso_type` UDP_L4 (USO): datagrams of `gso_size` payload bytes (the last may be shorter),
///   each with its UDP length and checksum.
/// - `gso_type` NONE: the packet is copied to `out[0]`, its checksum completed if NEEDS_CSUM.
/// - A super-packet whose payload fits in one segment gives one packet.
///
/// Fails on a header that `VirtioNetHeader::check` rejects, on UFO (`gso_unsupported`), on
/// fragments, on IPv6 routing headers with segments left (`routing_header`), with
/// `too_many_segments` when `out` or `sizes` is shorter than the segment count
/// (`value` says how many are needed) and with `buffer_too_small` when an output buffer is
/// shorter than its segment; the outputs are then unspecified.
///
/// @code
/// std::array<std::array<std::byte, 1500>, 64> storage;
/// std::array<std::span<std::byte>, 64> out;
/// std::array<std::size_t, 64> sizes;
/// for (std::size_t i = 0; i < out.size(); ++i) out[i] = storage[i];
/// auto n = tunkit::gso_split(hdr, packet, out, sizes);
/// if (n) for (std::size_t i = 0; i < *n; ++i) forward(out[i].first(sizes[i]));
/// @endcode
[[nodiscard]] TUNKIT_EXPORT OffloadResult<std::size_t> gso_split(
    const VirtioNetHeader& header, std::span<const std::byte> packet,
    std::span<const std::span<std::byte>> out, std::span<std::size_t> sizes) noexcept;

// ---------------------------------------------------------------------------------------------
// GRO coalesce

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
/// two exceptions the kernel's own GRO shares: an IPv4 UDP datagram sent without a checksum (0)
/// comes back with one, and the urgent pointer field of a segment without URG is not kept.
/// Everything else passes through byte for byte with an all-zero header.
///
/// TCP segments merge when they have the same addresses and ports, IPv4 TOS/TTL/DF (IPv6 traffic
/// class, flow label, hop limit), consecutive IPv4 ids, contiguous sequence numbers, the same
/// ACK number, window, flags and option bytes (timestamps included), and payloads of the first
/// one's size; a shorter segment, or one with PSH or FIN, ends the super-packet; CWR may only
/// start one (then the header has `gso_ecn`); SYN, RST and URG segments, IPv4 options, IPv6
/// extension headers and fragments never merge. UDP datagrams merge under the same IP rules
/// when their payloads all have the first one's size (the last may be shorter). Within a flow
/// the order of packets is kept; packets of different flows may be reordered (each write is
/// placed at its first packet).
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
  /// @throws std::invalid_argument for a `header_size` below 10 or a `max_batch` of 0 or above
  /// 2^24; std::bad_alloc.
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
