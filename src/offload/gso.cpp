#include "tunkit/offload/gso.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "offload/vnet_internal.hpp"
#include "packet/checksum_kernels.hpp"
#include "packet/parse_helpers.hpp"

namespace tunkit {
namespace {

using detail::kTcp;
using detail::kTcpChecksumOffset;
using detail::kUdpChecksumOffset;
using detail::load16;
using detail::load32;
using detail::load8;
using detail::offload_error;
using detail::PacketLayout;
using detail::store16;
using detail::store32;
using detail::store8;

// The segments left of an IPv6 routing header among the extension headers before `upper` (which
// parse_ip validated), or 0. With segments left, the pseudo header carries the final destination
// (RFC 8200 section 8.1), which is not in the IPv6 header.
std::size_t routing_segments_left(std::span<const std::byte> packet, std::size_t upper) noexcept {
  const std::byte* b = packet.data();
  std::uint8_t next = load8(b + 6);
  for (std::size_t off = 40; off < upper;) {
    const auto type = static_cast<IpProtocol>(next);
    if (type == IpProtocol::routing && load8(b + off + 3) != 0) return load8(b + off + 3);
    next = load8(b + off);
    off += detail::ipv6_extension_length(type, b + off);
  }
  return 0;
}

// A 32-bit sum of 16-bit words folded to 16 bits (the one's-complement sum, not complemented).
// Enough for the few words added per segment: every part is at most 0xFFFF.
constexpr std::uint16_t gso_fold32(std::uint32_t s) noexcept {
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

// What every segment of one split shares, summed once: the pseudo header without its length
// (`pseudo`), that and the transport header with its per-segment fields zeroed (`l4`), and the
// IPv4 header with its total length, id and checksum zeroed (`ip`), each folded to 16 bits. The
// per-segment values are then added as words at the same (even) positions.
struct SegmentTemplate {
  std::uint16_t pseudo = 0;
  std::uint16_t l4 = 0;
  std::uint16_t ip = 0;
  std::uint16_t first_id = 0;   // IPv4 id of the first segment
  std::uint32_t first_seq = 0;  // TCP sequence number of the first segment
  TcpFlags flags;               // TCP flags of the super-packet
};

SegmentTemplate segment_template(std::span<const std::byte> packet,
                                 const PacketLayout& l) noexcept {
  const std::byte* src = packet.data();
  const bool tcp = l.protocol == kTcp;
  SegmentTemplate t;
  std::array<std::byte, 60> th{};  // the transport header, per-segment fields zeroed
  std::memcpy(th.data(), src + l.ip_len, l.l4_len);
  if (tcp) {
    t.flags = TcpFlags::from_bits(load8(src + l.ip_len + 13));
    t.first_seq = load32(src + l.ip_len + 4);
    store32(th.data() + 4, 0);  // sequence number
    store8(th.data() + 13, 0);  // flags
    store16(th.data() + kTcpChecksumOffset, 0);
  } else {
    store16(th.data() + 4, 0);  // length
    store16(th.data() + kUdpChecksumOffset, 0);
  }
  Checksum sum = detail::address_sum(src, l.version == 4);
  sum.add_u16(l.protocol);
  t.pseudo = sum.fold();
  t.l4 = sum.add(std::span(th).first(l.l4_len)).fold();

  if (l.version == 4) {
    std::array<std::byte, 60> ih{};
    std::memcpy(ih.data(), src, l.ip_len);
    t.first_id = load16(src + 4);
    store16(ih.data() + 2, 0);
    store16(ih.data() + 4, 0);
    store16(ih.data() + 10, 0);
    t.ip = Checksum().add(std::span(ih).first(l.ip_len)).fold();
  }
  return t;
}

// Copies the `n` header bytes of a segment: two fixed 32-byte copies (inlined, overlapping)
// for the usual 32 to 64 bytes, a call to memcpy otherwise.
inline void copy_segment_headers(std::byte* d, const std::byte* src, std::size_t n) noexcept {
  if (n >= 32 && n <= 64) {
    std::memcpy(d, src, 32);
    std::memcpy(d + n - 32, src + n - 32, 32);
  } else {
    std::memcpy(d, src, n);
  }
}

// Rewrites the per-segment fields of segment `index` of `count` at `d` (`len` bytes, its headers
// copied from the super-packet, its payload summing to `payload_sum`, starting `offset` bytes
// into the super-packet's payload): transport length or sequence number and flags, transport
// checksum, IP length, IPv4 id and header checksum. With `partial`, the transport checksum
// field gets the pseudo-header sum instead (CHECKSUM_PARTIAL) and `payload_sum` is not used.
[[gnu::always_inline]] inline void finish_segment(std::byte* d, std::size_t len,
                                                  const PacketLayout& l, const SegmentTemplate& t,
                                                  std::size_t index, std::size_t count,
                                                  std::size_t offset, std::uint16_t payload_sum,
                                                  bool partial) noexcept {
  // The pseudo header's length: a 16-bit word for IPv4, 32 bits for IPv6 (RFC 8200 8.1); either
  // way the value of the words is the length.
  const auto l4_length = static_cast<std::uint16_t>(len - l.ip_len);
  std::byte* th = d + l.ip_len;
  if (l.protocol == kTcp) {
    TcpFlags f = t.flags;
    if (index + 1 < count) f = f - detail::kTcpEndFlags;
    if (index > 0) f = f - TcpFlag::cwr;
    const std::uint32_t seq = t.first_seq + static_cast<std::uint32_t>(offset);
    store32(th + 4, seq);
    store8(th + 13, f.bits());
    const std::uint16_t c =
        partial
            ? gso_fold32(std::uint32_t{t.pseudo} + l4_length)
            : static_cast<std::uint16_t>(~gso_fold32(std::uint32_t{t.l4} + l4_length + (seq >> 16) +
                                                     (seq & 0xFFFFU) + f.bits() + payload_sum));
    store16(th + kTcpChecksumOffset, c);
  } else {
    store16(th + 4, l4_length);
    if (partial) {
      store16(th + kUdpChecksumOffset, gso_fold32(std::uint32_t{t.pseudo} + l4_length));
    } else {
      const auto c = static_cast<std::uint16_t>(
          ~gso_fold32(std::uint32_t{t.l4} + 2U * l4_length + payload_sum));
      store16(th + kUdpChecksumOffset, c == 0 ? std::uint16_t{0xFFFF} : c);  // RFC 768
    }
  }
  if (l.version == 4) {
    const auto id = static_cast<std::uint16_t>(t.first_id + index);
    const auto total = static_cast<std::uint16_t>(len);
    store16(d + 2, total);
    store16(d + 4, id);
    store16(d + 10, static_cast<std::uint16_t>(~gso_fold32(std::uint32_t{t.ip} + total + id)));
  } else {
    store16(d + 4, static_cast<std::uint16_t>(len - 40));
  }
}

// GSO NONE: the packet copied to out[0], its partial checksum completed.
OffloadResult<std::size_t> copy_whole(const VirtioNetHeader& h, std::span<const std::byte> packet,
                                      std::span<const std::span<std::byte>> out,
                                      std::size_t capacity) noexcept {
  if (capacity < 1) return offload_error(OffloadReason::too_many_segments, 1, capacity);
  if (out[0].size() < packet.size()) {
    return offload_error(OffloadReason::buffer_too_small, packet.size(), out[0].size());
  }
  std::memcpy(out[0].data(), packet.data(), packet.size());
  if (auto e = complete_checksum(h, out[0].first(packet.size()))) return *e;
  return std::size_t{1};
}

// GSO NONE without copying: the packet itself, or, with NEEDS_CSUM, its bytes up to the end of
// the checksum field copied to the arena with the checksum completed there.
OffloadResult<std::size_t> view_whole(const VirtioNetHeader& h, std::span<const std::byte> packet,
                                      std::span<std::byte> arena,
                                      std::span<SegmentView> out) noexcept {
  if (out.empty()) return offload_error(OffloadReason::too_many_segments, 1, 0);
  if (!h.needs_csum) {
    out[0] = {{}, packet};
    return std::size_t{1};
  }
  const std::size_t size = packet.size();
  if (h.csum_start > size) {
    return offload_error(OffloadReason::csum_start_beyond_packet, h.csum_start, size);
  }
  const std::size_t end = std::size_t{h.csum_start} + h.csum_offset + 2;
  if (end > size) return offload_error(OffloadReason::csum_offset_beyond_packet, end, size);
  if (arena.size() < end) return offload_error(OffloadReason::buffer_too_small, end, arena.size());
  std::memcpy(arena.data(), packet.data(), end);
  const std::uint16_t c = Checksum().add(packet.subspan(h.csum_start)).checksum();
  store16(arena.data() + end - 2, c == 0 ? std::uint16_t{0xFFFF} : c);
  out[0] = {arena.first(end), packet.subspan(end)};
  return std::size_t{1};
}

// What both forms of the split check first; the layout of the packet, or why it cannot be split.
std::optional<OffloadError> check_split(const VirtioNetHeader& h, std::span<const std::byte> packet,
                                        PacketLayout& l) noexcept {
  if (auto e = detail::check_vnet_header(h, packet, &l)) return e;
  if (h.gso_type == GsoType::udp) {
    return offload_error(OffloadReason::gso_unsupported, detail::raw_gso_type(h));
  }
  if (h.gso_type != GsoType::none && l.version == 6 && l.ip_len > 40) {
    if (const std::size_t left = routing_segments_left(packet, l.ip_len); left != 0) {
      return offload_error(OffloadReason::routing_header, left);
    }
  }
  return std::nullopt;
}

// The number of segments of a super-packet of layout `l` cut at `mss` payload bytes.
std::size_t segment_count(const PacketLayout& l, std::size_t mss) noexcept {
  const std::size_t payload = l.total - (l.ip_len + l.l4_len);
  return payload == 0 ? 1 : (payload + mss - 1) / mss;
}

}  // namespace

std::optional<OffloadError> complete_checksum(const VirtioNetHeader& h,
                                              std::span<std::byte> packet) noexcept {
  if (!h.needs_csum) return std::nullopt;
  const std::size_t size = packet.size();
  if (h.csum_start > size) {
    return offload_error(OffloadReason::csum_start_beyond_packet, h.csum_start, size);
  }
  const std::size_t field = std::size_t{h.csum_start} + h.csum_offset;
  if (field + 2 > size) {
    return offload_error(OffloadReason::csum_offset_beyond_packet, field + 2, size);
  }
  // The field holds the pseudo-header sum; the bytes from csum_start on (field included) add
  // up to the whole sum. The kernel's skb_checksum_help stores a zero result as 0xFFFF
  // (CSUM_MANGLED_0) so that UDP does not read it as "no checksum"; for TCP both are valid.
  const std::uint16_t c = Checksum().add(packet.subspan(h.csum_start)).checksum();
  store16(packet.data() + field, c == 0 ? std::uint16_t{0xFFFF} : c);
  return std::nullopt;
}

OffloadResult<std::size_t> gso_split(const VirtioNetHeader& h, std::span<const std::byte> packet,
                                     std::span<const std::span<std::byte>> out,
                                     std::span<std::size_t> sizes) noexcept {
  PacketLayout l;
  if (auto e = check_split(h, packet, l)) return *e;
  const std::size_t capacity = std::min(out.size(), sizes.size());
  if (h.gso_type == GsoType::none) {
    auto n = copy_whole(h, packet, out, capacity);
    if (n) sizes[0] = packet.size();
    return n;
  }
  const std::size_t headers = l.ip_len + l.l4_len;
  const std::size_t payload = l.total - headers;
  const std::size_t mss = h.gso_size;
  const std::size_t count = segment_count(l, mss);
  if (capacity < count) return offload_error(OffloadReason::too_many_segments, count, capacity);

  const SegmentTemplate t = segment_template(packet, l);
  const std::byte* src = packet.data();
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t chunk = std::min(mss, payload - offset);
    const std::size_t len = headers + chunk;
    if (out[i].size() < len) {
      return offload_error(OffloadReason::buffer_too_small, len, out[i].size());
    }
    std::byte* d = out[i].data();
    copy_segment_headers(d, src, headers);
    const std::uint16_t payload_sum =
        detail::copy_and_sum(d + headers, src + headers + offset, chunk);
    finish_segment(d, len, l, t, i, count, offset, payload_sum, false);
    sizes[i] = len;
    offset += chunk;
  }
  return count;
}

OffloadResult<std::size_t> gso_split_views(const VirtioNetHeader& h,
                                           std::span<const std::byte> packet,
                                           std::span<std::byte> header_arena,
                                           std::span<SegmentView> out) noexcept {
  return gso_split_views(h, packet, header_arena, out, SegmentChecksum::full);
}

OffloadResult<std::size_t> gso_split_views(const VirtioNetHeader& h,
                                           std::span<const std::byte> packet,
                                           std::span<std::byte> header_arena,
                                           std::span<SegmentView> out,
                                           SegmentChecksum checksum) noexcept {
  PacketLayout l;
  if (auto e = check_split(h, packet, l)) return *e;
  if (h.gso_type == GsoType::none) return view_whole(h, packet, header_arena, out);
  const std::size_t headers = l.ip_len + l.l4_len;
  const std::size_t payload = l.total - headers;
  const std::size_t mss = h.gso_size;
  const std::size_t count = segment_count(l, mss);
  if (out.size() < count) return offload_error(OffloadReason::too_many_segments, count, out.size());
  if (header_arena.size() < count * headers) {
    return offload_error(OffloadReason::buffer_too_small, count * headers, header_arena.size());
  }

  const SegmentTemplate t = segment_template(packet, l);
  const std::byte* src = packet.data();
  const bool partial = checksum == SegmentChecksum::partial;
  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t chunk = std::min(mss, payload - offset);
    std::byte* d = header_arena.data() + i * headers;
    copy_segment_headers(d, src, headers);
    const std::byte* slice = src + headers + offset;
    const std::uint16_t payload_sum = partial ? 0 : detail::ones_sum(slice, chunk);
    finish_segment(d, headers + chunk, l, t, i, count, offset, payload_sum, partial);
    out[i] = {std::span<const std::byte>(d, headers), std::span<const std::byte>(slice, chunk),
              partial};
    offset += chunk;
  }
  return count;
}

}  // namespace tunkit
