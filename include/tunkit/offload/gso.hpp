#pragma once
/// @file
/// The read side of offloads: `gso_split` cuts a super-packet the kernel handed over into the
/// wire-sized packets it stands for, and `complete_checksum` finishes a partial (NEEDS_CSUM)
/// checksum in place.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tunkit/export.hpp"
#include "tunkit/vnet.hpp"

namespace tunkit {

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
///   each with its UDP length and checksum; over IPv4, ids counting up from the first (as the
///   kernel's `inet_gso_segment` gives them: its fixed-id form, `SKB_GSO_TCP_FIXEDID`, is TCP's
///   only and a virtio-net header cannot carry it) and header checksums.
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

/// What `gso_split_views` stores in each segment's transport (TCP or UDP) checksum field.
enum class SegmentChecksum : std::uint8_t {
  /// The checksum (the default): every segment is a valid packet as it stands. Costs a read of
  /// every payload byte (about half of the split's time for a 64 KiB TCP super-packet).
  full,
  /// The pseudo-header sum over the segment's transport length, not complemented: what the
  /// kernel leaves in a CHECKSUM_PARTIAL packet, the payload never read. The segment is NOT a
  /// valid packet until someone completes the checksum: written to a device with a virtio-net
  /// header with NEEDS_CSUM (`csum_start` at the transport header, `csum_offset` 16 for TCP or 6
  /// for UDP: the kernel completes it, or, delivered locally, trusts it), given to a `Coalescer` as
  /// `PacketParts` with `partial_checksum` set (each write of it then carries NEEDS_CSUM), or
  /// finished with `complete_checksum`. Never for a segment that leaves any other way (sent on
  /// a socket, encrypted as it stands, written to a device without a virtio-net header).
  partial,
};

/// One packet of a split made without copying (`gso_split_views`): its headers, built in the
/// caller's header arena, and its payload, a slice of the super-packet. Write it with one gather
/// write (`Queue::writev({headers, payload})`), hand it to an encryption that takes two parts,
/// or give it to `Coalescer::coalesce` as a `PacketParts`.
struct SegmentView {
  /// IP and transport headers of this segment (in the header arena).
  std::span<const std::byte> headers;
  /// Its payload, in the super-packet given to the split (not copied).
  std::span<const std::byte> payload;
  /// True when the transport checksum field holds only the pseudo-header sum
  /// (`SegmentChecksum::partial`): the checksum must be completed before the packet is valid.
  bool partial_checksum = false;
  /// The segment's length: headers and payload.
  [[nodiscard]] std::size_t size() const noexcept { return headers.size() + payload.size(); }
};

/// The header arena `gso_split_views` needs at most for `segments` segments of a packet whose
/// IP and transport headers take `header_bytes` bytes (`hdr_len` of its virtio-net header; 60 +
/// 60 for any IPv4 TCP packet).
[[nodiscard]] constexpr std::size_t gso_views_arena_size(std::size_t segments,
                                                         std::size_t header_bytes) noexcept {
  return segments * header_bytes;
}

/// As `gso_split`, without copying the payload: each segment is its headers, written to
/// `header_arena`, and a view of its slice of `packet` (which must outlive the views). The
/// transport checksums are computed as `gso_split` computes them (reading the payload once);
/// the result is byte for byte what `gso_split` gives. For `gso_type` NONE the one segment has
/// no headers and views the whole packet, or, with NEEDS_CSUM, copies the bytes up to the
/// checksum field into the arena and completes the checksum there (the packet is never written).
///
/// Fails as `gso_split` does, with `too_many_segments` when `out` is shorter than the segment
/// count and `buffer_too_small` when the arena is shorter than the segments' headers need.
/// This is the form the forwarder example uses: a VPN that encrypts each segment reads the
/// payload once, from where the kernel put it. The checksums are full; the overload taking a
/// `SegmentChecksum` can leave them partial.
///
/// @code
/// std::array<std::byte, 64 * 120> arena;
/// std::array<tunkit::SegmentView, 64> seg;
/// if (auto n = tunkit::gso_split_views(hdr, packet, arena, seg))
///   for (std::size_t i = 0; i < *n; ++i) out.writev(std::array{seg[i].headers, seg[i].payload});
/// @endcode
[[nodiscard]] TUNKIT_EXPORT OffloadResult<std::size_t> gso_split_views(
    const VirtioNetHeader& header, std::span<const std::byte> packet,
    std::span<std::byte> header_arena, std::span<SegmentView> out) noexcept;

/// As above, with the transport checksums as `checksum` says. With `SegmentChecksum::full` the
/// same as the overload without it. With `SegmentChecksum::partial` every segment of a TCP or
/// UDP super-packet gets the pseudo-header sum in its checksum field and
/// `SegmentView::partial_checksum` set, and the payload is not read at all (the IPv4 header
/// checksums are still complete): for a consumer that completes the checksums, such as a
/// `Coalescer` writing to a device with a virtio-net header (see `SegmentChecksum::partial`).
/// A `gso_type` NONE packet is viewed as by the other overload (its checksum completed, not
/// partial). Once completed, each segment is byte for byte what `gso_split` gives.
///
/// @code
/// auto n = tunkit::gso_split_views(hdr, packet, arena, seg, tunkit::SegmentChecksum::partial);
/// for (std::size_t i = 0; n && i < *n; ++i)
///   parts[i] = {seg[i].headers, seg[i].payload, seg[i].partial_checksum};
/// // ... then Coalescer::coalesce(parts, ...) and a gather write to a vnet device.
/// @endcode
[[nodiscard]] TUNKIT_EXPORT OffloadResult<std::size_t> gso_split_views(
    const VirtioNetHeader& header, std::span<const std::byte> packet,
    std::span<std::byte> header_arena, std::span<SegmentView> out,
    SegmentChecksum checksum) noexcept;

}  // namespace tunkit
