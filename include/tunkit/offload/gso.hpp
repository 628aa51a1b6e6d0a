#pragma once
/// @file
/// The read side of offloads: `gso_split` cuts a super-packet the kernel handed over into the
/// wire-sized packets it stands for, and `complete_checksum` finishes a partial (NEEDS_CSUM)
/// checksum in place.

#include <cstddef>
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

}  // namespace tunkit
