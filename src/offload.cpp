#include "tunkit/offload.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <stdexcept>

#include "packet/checksum_kernels.hpp"
#include "tunkit/checksum.hpp"
#include "tunkit/error.hpp"

namespace tunkit {

namespace {

using detail::load16;
using detail::load32;
using detail::load8;
using detail::store16;
using detail::store32;
using detail::store8;

constexpr std::uint8_t kFlagNeedsCsum = 0x01;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr std::uint8_t kFlagDataValid = 0x02;  // VIRTIO_NET_HDR_F_DATA_VALID
constexpr std::uint8_t kGsoEcn = 0x80;         // VIRTIO_NET_HDR_GSO_ECN

constexpr std::uint8_t kTcp = 6;
constexpr std::uint8_t kUdp = 17;

constexpr std::uint8_t kTcpFin = 0x01;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint8_t kTcpRst = 0x04;
constexpr std::uint8_t kTcpPsh = 0x08;
constexpr std::uint8_t kTcpAck = 0x10;
constexpr std::uint8_t kTcpUrg = 0x20;
constexpr std::uint8_t kTcpCwr = 0x80;

constexpr std::size_t kTcpChecksumOffset = 16;  // offsetof(struct tcphdr, check)
constexpr std::size_t kUdpChecksumOffset = 6;   // offsetof(struct udphdr, check)

// The largest IP packet a super-packet may become: the IPv4 total length and the IPv6 payload
// length are 16-bit fields (no jumbograms, no BIG TCP).
constexpr std::size_t kMaxSuperPacket = 65535;

std::uint32_t clamp32(std::size_t v) noexcept {
  return static_cast<std::uint32_t>(std::min<std::size_t>(v, 0xFFFFFFFFU));
}

OffloadError fail(OffloadReason reason, std::size_t value = 0, std::size_t limit = 0) noexcept {
  return {reason, clamp32(value), clamp32(limit), {}};
}

std::uint8_t raw_gso_type(const VirtioNetHeader& h) noexcept {
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(h.gso_type) |
                                   (h.gso_ecn ? kGsoEcn : 0U));
}

bool known_gso_type(GsoType t) noexcept {
  switch (t) {
    case GsoType::none:
    case GsoType::tcpv4:
    case GsoType::udp:
    case GsoType::tcpv6:
    case GsoType::udp_l4:
      return true;
  }
  return false;
}

std::uint16_t load16_order(const std::byte* p, bool little_endian) noexcept {
  const auto b0 = load8(p), b1 = load8(p + 1);
  return little_endian ? static_cast<std::uint16_t>(b0 | (b1 << 8))
                       : static_cast<std::uint16_t>((b0 << 8) | b1);
}

void store16_order(std::byte* p, std::uint16_t v, bool little_endian) noexcept {
  if (little_endian) {
    store8(p, static_cast<std::uint8_t>(v & 0xFFU));
    store8(p + 1, static_cast<std::uint8_t>(v >> 8));
  } else {
    store16(p, v);
  }
}

// Where the layers of a packet are, as far as the offload engine needs them.
struct Layout {
  std::size_t ip_len = 0;     // IP header, IPv4 options or IPv6 extension headers included
  std::size_t l4_len = 0;     // transport header (TCP options included)
  std::size_t total = 0;      // the IP packet's own length (bytes after it are ignored)
  int version = 0;            // 4 or 6
  std::uint8_t protocol = 0;  // transport protocol
};

// Parses an IP packet carrying TCP or UDP, for the split: the layers, or why not.
std::optional<OffloadError> layout_of(std::span<const std::byte> packet, Layout& out) noexcept {
  const auto pkt = parse_ip(packet);
  if (!pkt) {
    OffloadError e = fail(OffloadReason::malformed_packet);
    e.parse = pkt.error();
    return e;
  }
  if (pkt->is_fragment()) return fail(OffloadReason::fragment);
  out.version = pkt->version();
  out.protocol = static_cast<std::uint8_t>(pkt->protocol());
  out.total = pkt->bytes().size();
  out.ip_len = static_cast<std::size_t>(pkt->transport_bytes().data() - packet.data());
  if (const TcpView* tcp = pkt->tcp()) {
    out.l4_len = tcp->header_length();
  } else if (pkt->udp() != nullptr) {
    out.l4_len = 8;
  } else {
    out.l4_len = 0;
  }
  return std::nullopt;
}

// The segments left of an IPv6 routing header among the extension headers before `upper` (which
// parse_ip validated), or 0. With segments left, the pseudo header carries the final destination
// (RFC 8200 section 8.1), which is not in the IPv6 header.
std::size_t routing_segments_left(std::span<const std::byte> packet, std::size_t upper) noexcept {
  const std::byte* b = packet.data();
  std::uint8_t next = load8(b + 6);
  for (std::size_t off = 40; off < upper;) {
    const auto type = static_cast<IpProtocol>(next);
    if (type == IpProtocol::routing && load8(b + off + 3) != 0) return load8(b + off + 3);
    std::size_t len = 8 * (std::size_t{load8(b + off + 1)} + 1);
    if (type == IpProtocol::ah) len = 4 * (std::size_t{load8(b + off + 1)} + 2);
    if (type == IpProtocol::fragment) len = 8;
    next = load8(b + off);
    off += len;
  }
  return 0;
}

std::optional<OffloadError> check_impl(const VirtioNetHeader& h, std::span<const std::byte> packet,
                                       Layout* layout) noexcept {
  const std::size_t size = packet.size();
  if (!known_gso_type(h.gso_type) || (h.gso_ecn && h.gso_type == GsoType::none)) {
    return fail(OffloadReason::unknown_gso_type, raw_gso_type(h));
  }
  if (h.gso_type != GsoType::none && h.gso_size == 0) {
    return fail(OffloadReason::gso_size_zero, raw_gso_type(h));
  }
  if (h.hdr_len > size) return fail(OffloadReason::hdr_len_beyond_packet, h.hdr_len, size);
  // The kernel's skb_partial_csum_set: the start inside the packet, the 2-byte field too.
  if (h.needs_csum) {
    if (h.csum_start > size)
      return fail(OffloadReason::csum_start_beyond_packet, h.csum_start, size);
    const std::size_t end = std::size_t{h.csum_start} + h.csum_offset + 2;
    if (end > size) return fail(OffloadReason::csum_offset_beyond_packet, end, size);
  }
  if (h.gso_type == GsoType::none) return std::nullopt;

  // A super-packet: the kernel (virtio_net_hdr_to_skb) checks little more than the above and
  // trusts csum_start to find the transport header; a header that does not fit the packet
  // would make it cut garbage, so it is refused here.
  Layout l;
  if (auto e = layout_of(packet, l)) return e;
  bool fits = false;
  switch (h.gso_type) {
    case GsoType::tcpv4:
      fits = l.version == 4 && l.protocol == kTcp;
      break;
    case GsoType::tcpv6:
      fits = l.version == 6 && l.protocol == kTcp;
      break;
    case GsoType::udp:
    case GsoType::udp_l4:
      fits = l.protocol == kUdp;
      break;
    case GsoType::none:
      break;
  }
  if (!fits || l.l4_len == 0) {
    return fail(OffloadReason::gso_type_mismatch, raw_gso_type(h),
                (static_cast<std::size_t>(l.version) << 8) | l.protocol);
  }
  if (h.needs_csum) {
    const std::size_t field =
        l.ip_len + (l.protocol == kTcp ? kTcpChecksumOffset : kUdpChecksumOffset);
    if (h.csum_start != l.ip_len || std::size_t{h.csum_start} + h.csum_offset != field) {
      return fail(OffloadReason::csum_field_mismatch, std::size_t{h.csum_start} + h.csum_offset,
                  field);
    }
  }
  if (layout != nullptr) *layout = l;
  return std::nullopt;
}

std::string_view protocol_name(std::uint8_t protocol) noexcept {
  switch (protocol) {
    case kTcp:
      return "TCP";
    case kUdp:
      return "UDP";
    default:
      return "";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Names and errors

std::string_view to_string(Offload offload) noexcept {
  switch (offload) {
    case Offload::csum:
      return "CSUM";
    case Offload::tso4:
      return "TSO4";
    case Offload::tso6:
      return "TSO6";
    case Offload::tso_ecn:
      return "TSO_ECN";
    case Offload::ufo:
      return "UFO";
    case Offload::uso4:
      return "USO4";
    case Offload::uso6:
      return "USO6";
    case Offload::udp_tunnel_gso:
      return "UDP_TUNNEL_GSO";
    case Offload::udp_tunnel_gso_csum:
      return "UDP_TUNNEL_GSO_CSUM";
  }
  return "?";
}

std::string to_string(Offloads offloads) {
  if (offloads.empty()) return "none";
  std::string out;
  std::uint16_t rest = offloads.bits();
  for (std::uint16_t bit = 1; bit != 0 && bit <= Offloads::all().bits();
       bit = static_cast<std::uint16_t>(bit << 1)) {
    if ((rest & bit) == 0) continue;
    if (!out.empty()) out += '|';
    out += to_string(static_cast<Offload>(bit));
    rest = static_cast<std::uint16_t>(rest & ~bit);
  }
  if (rest != 0) {
    if (!out.empty()) out += '|';
    out += fmt::format("{:#06x}", rest);
  }
  return out;
}

std::string_view to_string(GsoType type) noexcept {
  switch (type) {
    case GsoType::none:
      return "NONE";
    case GsoType::tcpv4:
      return "TCPV4";
    case GsoType::udp:
      return "UDP";
    case GsoType::tcpv6:
      return "TCPV6";
    case GsoType::udp_l4:
      return "UDP_L4";
  }
  return "unknown";
}

std::string to_string(const OffloadError& e) {
  const auto gso_name = [](std::uint32_t raw) {
    const auto type = static_cast<GsoType>(raw & 0x7FU);
    std::string name =
        known_gso_type(type) ? std::string(to_string(type)) : fmt::format("{:#04x}", raw & 0x7FU);
    if ((raw & kGsoEcn) != 0) name += "|ECN";
    return name;
  };
  switch (e.reason) {
    case OffloadReason::bad_header_size:
      return fmt::format("virtio-net header: size {} below 10", e.value);
    case OffloadReason::header_truncated:
      return fmt::format("virtio-net header: {} bytes, the header needs {}", e.value, e.limit);
    case OffloadReason::unknown_gso_type:
      return fmt::format("virtio-net header: unknown gso_type {:#04x}", e.value);
    case OffloadReason::gso_size_zero:
      return fmt::format("virtio-net header: gso_size 0 with gso_type {}", gso_name(e.value));
    case OffloadReason::hdr_len_beyond_packet:
      return fmt::format("virtio-net header: hdr_len {} beyond packet length {}", e.value, e.limit);
    case OffloadReason::csum_start_beyond_packet:
      return fmt::format("virtio-net header: csum_start {} beyond packet length {}", e.value,
                         e.limit);
    case OffloadReason::csum_offset_beyond_packet:
      return fmt::format(
          "virtio-net header: checksum field ends at {} (csum_start + csum_offset + 2), beyond "
          "packet length {}",
          e.value, e.limit);
    case OffloadReason::gso_type_mismatch: {
      const auto protocol = static_cast<std::uint8_t>(e.limit & 0xFFU);
      const std::string_view name = protocol_name(protocol);
      return fmt::format("virtio-net header: gso_type {} does not fit an IPv{} {} packet",
                         gso_name(e.value), e.limit >> 8,
                         name.empty() ? fmt::format("ip-proto-{}", protocol) : std::string(name));
    }
    case OffloadReason::csum_field_mismatch:
      return fmt::format(
          "virtio-net header: checksum field at {} (csum_start + csum_offset) is not the "
          "transport checksum at {}",
          e.value, e.limit);
    case OffloadReason::malformed_packet:
      return fmt::format("malformed packet: {}", to_string(e.parse));
    case OffloadReason::fragment:
      return "packet is an IP fragment";
    case OffloadReason::gso_unsupported:
      return fmt::format("gso_type {} is not split by tunkit (UFO: IP fragmentation)",
                         gso_name(e.value));
    case OffloadReason::too_many_segments:
      return fmt::format("{} segments, only {} output buffers", e.value, e.limit);
    case OffloadReason::buffer_too_small:
      return fmt::format("output buffer of {} bytes, {} needed", e.limit, e.value);
    case OffloadReason::batch_too_large:
      return fmt::format("batch of {} packets above the capacity of {}", e.value, e.limit);
    case OffloadReason::routing_header:
      return fmt::format(
          "IPv6 routing header with {} segments left: the checksum's destination is not the "
          "packet's (not split by tunkit)",
          e.value);
  }
  return "unknown offload error";
}

std::error_code make_error_code(const OffloadError& e) noexcept {
  switch (e.reason) {
    case OffloadReason::malformed_packet:
    case OffloadReason::fragment:
      return errc::malformed_packet;
    case OffloadReason::gso_unsupported:
    case OffloadReason::routing_header:
      return errc::gso_unsupported;
    case OffloadReason::too_many_segments:
    case OffloadReason::buffer_too_small:
      return errc::output_too_small;
    case OffloadReason::batch_too_large:
      return errc::batch_too_large;
    default:
      return errc::invalid_vnet_header;
  }
}

// ---------------------------------------------------------------------------------------------
// VirtioNetHeader

OffloadResult<VirtioNetHeader> VirtioNetHeader::parse(std::span<const std::byte> bytes,
                                                      std::size_t header_size,
                                                      bool little_endian) noexcept {
  if (header_size < legacy_size) return fail(OffloadReason::bad_header_size, header_size);
  if (bytes.size() < header_size) {
    return fail(OffloadReason::header_truncated, bytes.size(), header_size);
  }
  const std::byte* p = bytes.data();
  VirtioNetHeader h;
  const std::uint8_t flags = load8(p);
  h.needs_csum = (flags & kFlagNeedsCsum) != 0;
  h.data_valid = (flags & kFlagDataValid) != 0;
  const std::uint8_t gso = load8(p + 1);
  h.gso_type = static_cast<GsoType>(gso & ~kGsoEcn);
  h.gso_ecn = (gso & kGsoEcn) != 0;
  h.hdr_len = load16_order(p + 2, little_endian);
  h.gso_size = load16_order(p + 4, little_endian);
  h.csum_start = load16_order(p + 6, little_endian);
  h.csum_offset = load16_order(p + 8, little_endian);
  if (header_size >= mrg_rxbuf_size) h.num_buffers = load16_order(p + 10, little_endian);
  return h;
}

OffloadResult<std::size_t> VirtioNetHeader::serialize(std::span<std::byte> out,
                                                      std::size_t header_size,
                                                      bool little_endian) const noexcept {
  if (header_size < legacy_size) return fail(OffloadReason::bad_header_size, header_size);
  if (out.size() < header_size) {
    return fail(OffloadReason::buffer_too_small, header_size, out.size());
  }
  std::byte* p = out.data();
  store8(p, static_cast<std::uint8_t>((needs_csum ? kFlagNeedsCsum : 0U) |
                                      (data_valid ? kFlagDataValid : 0U)));
  store8(p + 1, raw_gso_type(*this));
  store16_order(p + 2, hdr_len, little_endian);
  store16_order(p + 4, gso_size, little_endian);
  store16_order(p + 6, csum_start, little_endian);
  store16_order(p + 8, csum_offset, little_endian);
  if (header_size >= mrg_rxbuf_size) {
    store16_order(p + 10, num_buffers, little_endian);
    std::memset(p + mrg_rxbuf_size, 0, header_size - mrg_rxbuf_size);
  }
  return header_size;
}

std::optional<OffloadError> VirtioNetHeader::check(
    std::span<const std::byte> packet) const noexcept {
  return check_impl(*this, packet, nullptr);
}

std::error_code VirtioNetHeader::validate(std::span<const std::byte> packet) const noexcept {
  if (auto e = check(packet)) return make_error_code(*e);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Checksum completion and GSO split

std::optional<OffloadError> complete_checksum(const VirtioNetHeader& h,
                                              std::span<std::byte> packet) noexcept {
  if (!h.needs_csum) return std::nullopt;
  const std::size_t size = packet.size();
  if (h.csum_start > size) return fail(OffloadReason::csum_start_beyond_packet, h.csum_start, size);
  const std::size_t field = std::size_t{h.csum_start} + h.csum_offset;
  if (field + 2 > size) return fail(OffloadReason::csum_offset_beyond_packet, field + 2, size);
  // The field holds the pseudo-header sum; the bytes from csum_start on (field included) add
  // up to the whole sum. The kernel's skb_checksum_help stores a zero result as 0xFFFF
  // (CSUM_MANGLED_0) so that UDP does not read it as "no checksum"; for TCP both are valid.
  const std::uint16_t c = Checksum().add(packet.subspan(h.csum_start)).checksum();
  store16(packet.data() + field, c == 0 ? std::uint16_t{0xFFFF} : c);
  return std::nullopt;
}

namespace {

// The checksum of the IPv4 header at `p` of `len` bytes, with `total_length` and `id` in it.
// `base` is the sum of the header with those two fields and the checksum field zeroed.
std::uint16_t ipv4_checksum(Checksum base, std::uint16_t total_length, std::uint16_t id) noexcept {
  return base.add_u16(total_length).add_u16(id).checksum();
}

}  // namespace

OffloadResult<std::size_t> gso_split(const VirtioNetHeader& h, std::span<const std::byte> packet,
                                     std::span<const std::span<std::byte>> out,
                                     std::span<std::size_t> sizes) noexcept {
  Layout l;
  if (auto e = check_impl(h, packet, &l)) return *e;
  const std::size_t capacity = std::min(out.size(), sizes.size());

  if (h.gso_type == GsoType::none) {
    if (capacity < 1) return fail(OffloadReason::too_many_segments, 1, capacity);
    if (out[0].size() < packet.size()) {
      return fail(OffloadReason::buffer_too_small, packet.size(), out[0].size());
    }
    std::memcpy(out[0].data(), packet.data(), packet.size());
    if (auto e = complete_checksum(h, out[0].first(packet.size()))) return *e;
    sizes[0] = packet.size();
    return std::size_t{1};
  }
  if (h.gso_type == GsoType::udp) return fail(OffloadReason::gso_unsupported, raw_gso_type(h));
  if (l.version == 6 && l.ip_len > 40) {
    if (const std::size_t left = routing_segments_left(packet, l.ip_len); left != 0) {
      return fail(OffloadReason::routing_header, left);
    }
  }

  const bool tcp = l.protocol == kTcp;
  const std::size_t headers = l.ip_len + l.l4_len;
  const std::size_t payload = l.total - headers;
  const std::size_t mss = h.gso_size;
  const std::size_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  if (capacity < count) return fail(OffloadReason::too_many_segments, count, capacity);

  const std::byte* src = packet.data();
  // Everything that is the same in every segment is summed once: the pseudo header without its
  // length, the IPv4 header and the transport header with their per-segment fields zeroed. The
  // per-segment values are then added as words at the same (even) positions.
  std::array<std::byte, 60> th{};  // transport header template
  std::memcpy(th.data(), src + l.ip_len, l.l4_len);
  const std::uint8_t flags = tcp ? load8(src + l.ip_len + 13) : 0;
  const std::uint32_t seq0 = tcp ? load32(src + l.ip_len + 4) : 0;
  if (tcp) {
    store32(th.data() + 4, 0);  // sequence number
    store8(th.data() + 13, 0);  // flags
    store16(th.data() + kTcpChecksumOffset, 0);
  } else {
    store16(th.data() + 4, 0);  // length
    store16(th.data() + kUdpChecksumOffset, 0);
  }
  Checksum l4_base;
  if (l.version == 4) {
    l4_base.add(packet.subspan(12, 8)).add_u16(l.protocol);
  } else {
    l4_base.add(packet.subspan(8, 32)).add_u16(l.protocol);
  }
  l4_base.add(std::span(th).first(l.l4_len));

  Checksum ip_base;
  std::uint16_t id0 = 0;
  if (l.version == 4) {
    std::array<std::byte, 60> ih{};
    std::memcpy(ih.data(), src, l.ip_len);
    id0 = load16(src + 4);
    store16(ih.data() + 2, 0);
    store16(ih.data() + 4, 0);
    store16(ih.data() + 10, 0);
    ip_base.add(std::span(ih).first(l.ip_len));
  }

  std::size_t offset = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t chunk = std::min(mss, payload - offset);
    const std::size_t len = headers + chunk;
    if (out[i].size() < len) return fail(OffloadReason::buffer_too_small, len, out[i].size());
    std::byte* d = out[i].data();
    std::memcpy(d, src, headers);
    const std::uint16_t payload_sum =
        detail::copy_and_sum(d + headers, src + headers + offset, chunk);
    const auto l4_length = static_cast<std::uint16_t>(len - l.ip_len);

    Checksum sum = l4_base;
    // The pseudo header's length: a 16-bit word for IPv4, 32 bits for IPv6 (RFC 8200 8.1);
    // either way the value of the words is the length.
    sum.add_u16(l4_length);
    std::byte* t = d + l.ip_len;
    if (tcp) {
      std::uint8_t f = flags;
      if (i + 1 < count) f = static_cast<std::uint8_t>(f & ~(kTcpFin | kTcpPsh));
      if (i > 0) f = static_cast<std::uint8_t>(f & ~kTcpCwr);
      const std::uint32_t seq = seq0 + static_cast<std::uint32_t>(offset);
      store32(t + 4, seq);
      store8(t + 13, f);
      sum.add_u32(seq).add_u16(f).add_u16(payload_sum);
      store16(t + kTcpChecksumOffset, sum.checksum());
    } else {
      store16(t + 4, l4_length);
      sum.add_u16(l4_length).add_u16(payload_sum);
      const std::uint16_t c = sum.checksum();
      store16(t + kUdpChecksumOffset, c == 0 ? std::uint16_t{0xFFFF} : c);  // RFC 768
    }
    if (l.version == 4) {
      const auto id = static_cast<std::uint16_t>(id0 + i);
      store16(d + 2, static_cast<std::uint16_t>(len));
      store16(d + 4, id);
      store16(d + 10, ipv4_checksum(ip_base, static_cast<std::uint16_t>(len), id));
    } else {
      store16(d + 4, static_cast<std::uint16_t>(len - 40));
    }
    sizes[i] = len;
    offset += chunk;
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// GRO coalesce

namespace detail {

inline constexpr std::uint32_t kNone = 0xFFFFFFFFU;

enum class GroKind : std::uint8_t { other, tcp, udp };

// One packet of the batch, as classified by the first pass.
struct GroItem {
  std::uint32_t group = 0;     // the write that carries it
  std::uint32_t next = kNone;  // the next packet of that write
  std::uint32_t hash = 0;      // flow hash (tcp and udp only)
  std::uint16_t ip_len = 0;    // IP header bytes (20 or 40: no options, no extensions)
  std::uint16_t l4_len = 0;    // transport header bytes
  std::uint16_t payload = 0;   // payload bytes
  GroKind kind = GroKind::other;
  bool eligible = false;  // may start or join a super-packet
};

// One write being built: a packet passed through, or packets merged.
struct GroGroup {
  std::uint32_t first = 0;     // first packet (batch index)
  std::uint32_t last = 0;      // last packet
  std::uint32_t count = 0;     // packets
  std::uint32_t next_seq = 0;  // TCP: the sequence number the next segment must have
  std::uint32_t length = 0;    // IP length of the merged packet so far
  std::uint16_t gso_size = 0;  // payload of the first packet: the most any other may carry
  bool closed = false;         // no packet may join any more
};

// A flow table entry: the flow's latest group. Empty unless `generation` is the current one.
struct GroSlot {
  std::uint32_t generation = 0;
  std::uint32_t hash = 0;
  std::uint32_t group = 0;
};

}  // namespace detail

namespace {

using detail::GroGroup;
using detail::GroItem;
using detail::GroKind;
using detail::GroSlot;
using detail::kNone;

std::uint64_t load64_native(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v;
  h *= 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 31);
}

// True when the 20-byte IPv4 header at `b` sums to all ones: five 32-bit words, inline (this
// runs once per packet; Checksum::add is built for long buffers).
bool ipv4_header_verifies(const std::byte* b) noexcept {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < 20; i += 4)
    s += load32(b + i);
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  return s == 0xFFFFU;
}

// Byte-wise equality of short fields, without a call to memcmp.
bool equal_bytes(const std::byte* a, const std::byte* b, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (load64_native(a + i) != load64_native(b + i)) return false;
  }
  for (; i + 4 <= n; i += 4) {
    if (load32(a + i) != load32(b + i)) return false;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// Parses one packet for merging. Only what can be merged is looked at closely; everything else
// is `other` and passes through.
GroItem classify_one(std::span<const std::byte> p, const CoalescerOptions& opt) noexcept {
  GroItem it;
  const std::size_t size = p.size();
  if (size < 20 || size > kMaxSuperPacket) return it;
  const std::byte* b = p.data();
  const unsigned version = load8(b) >> 4;
  std::uint8_t protocol = 0;
  std::size_t ip_len = 0;
  bool ip_ok = false;  // the IP layer allows merging
  std::uint64_t h = 0;
  if (version == 4) {
    ip_len = std::size_t{4} * (load8(b) & 0x0FU);
    if (ip_len < 20 || ip_len > size || std::size_t{load16(b + 2)} != size) return it;
    // Only DF may be set: MF or an offset is a fragment, and the reserved bit would be lost
    // (the split copies the first packet's flags), so such packets pass through.
    if ((load16(b + 6) & 0xBFFFU) != 0) return it;
    protocol = load8(b + 9);
    // Merging rewrites the IPv4 header checksum: a header that arrived damaged must not leave
    // repaired.
    ip_ok = ip_len == 20 && (!opt.verify_checksums || ipv4_header_verifies(b));
    h = mix(mix(0x4, load64_native(b + 12)), protocol);
  } else if (version == 6) {
    ip_len = 40;
    if (size < 40 || std::size_t{load16(b + 4)} + 40 != size) return it;
    protocol = load8(b + 6);
    ip_ok = true;
    if (protocol != kTcp && protocol != kUdp) {
      // Extension headers never merge, but a TCP or UDP packet behind them still belongs to its
      // flow, and must close the flow's super-packet so that no later packet overtakes it.
      const auto v6 = Ipv6View::parse(p);
      if (!v6 || v6->is_fragment()) return it;
      protocol = static_cast<std::uint8_t>(v6->upper_protocol());
      ip_len = v6->upper_offset();
      ip_ok = false;
    }
    h = mix(
        mix(mix(mix(mix(0x6, load64_native(b + 8)), load64_native(b + 16)), load64_native(b + 24)),
            load64_native(b + 32)),
        protocol);
  } else {
    return it;
  }
  const std::size_t rest = size - ip_len;
  if (protocol == kTcp && opt.tcp) {
    if (rest < 20) return it;
    const std::size_t th = std::size_t{4} * (load8(b + ip_len + 12) >> 4);
    if (th < 20 || th > rest) return it;
    it.kind = GroKind::tcp;
    it.l4_len = static_cast<std::uint16_t>(th);
    it.payload = static_cast<std::uint16_t>(rest - th);
    const std::uint8_t flags = load8(b + ip_len + 13);
    it.eligible = ip_ok && it.payload > 0 && (flags & kTcpAck) != 0 &&
                  (flags & (kTcpSyn | kTcpRst | kTcpUrg)) == 0;
  } else if (protocol == kUdp && opt.udp) {
    if (rest < 8) return it;
    it.kind = GroKind::udp;
    it.l4_len = 8;
    it.payload = static_cast<std::uint16_t>(rest - 8);
    it.eligible = ip_ok && it.payload > 0 && load16(b + ip_len + 4) == rest;
  } else {
    return it;
  }
  it.ip_len = static_cast<std::uint16_t>(ip_len);
  h = mix(h, load32(b + ip_len));  // ports
  it.hash = static_cast<std::uint32_t>(h ^ (h >> 32));
  return it;
}

// Same version, protocol, addresses and ports (the hashes already matched).
bool same_flow(const GroItem& a, const std::byte* pa, const GroItem& b,
               const std::byte* pb) noexcept {
  // Not the header lengths: a packet with IPv4 options or IPv6 extension headers is still of the
  // flow (it cannot merge, but it keeps its place in the flow).
  if (a.kind != b.kind || load8(pa) >> 4 != load8(pb) >> 4) return false;
  const bool v4 = load8(pa) >> 4 == 4;
  const std::size_t at = v4 ? 12 : 8, n = v4 ? 8 : 32;
  return equal_bytes(pa + at, pb + at, n) && load32(pa + a.ip_len) == load32(pb + b.ip_len);
}

// Whether packet `p` may be appended to group `g` (first packet `f`, last `l`). The IP rules
// are those of the kernel's GRO (inet_gro_receive, ipv6_gro_receive): same TOS, TTL and DF,
// consecutive ids (so the kernel's resegmentation gives back the same ids); same first word
// (traffic class, flow label) and hop limit.
bool can_append(const GroGroup& g, const GroItem& f, const std::byte* fb, const std::byte* lb,
                const GroItem& p, const std::byte* pb) noexcept {
  if (g.closed || !p.eligible || p.payload > g.gso_size ||
      g.length + std::size_t{p.payload} > kMaxSuperPacket) {
    return false;
  }
  if (load8(fb) >> 4 == 4) {
    if (load8(pb + 1) != load8(fb + 1) || load8(pb + 8) != load8(fb + 8) ||
        ((load8(pb + 6) ^ load8(fb + 6)) & 0x40U) != 0 ||
        load16(pb + 4) != static_cast<std::uint16_t>(load16(lb + 4) + 1)) {
      return false;
    }
  } else if (load32(pb) != load32(fb) || load8(pb + 7) != load8(fb + 7)) {
    return false;
  }
  if (p.kind == GroKind::udp) return true;
  // TCP (tcp_gro_receive): contiguous, same ACK, window and option bytes, same flags but for PSH
  // and FIN (which end the super-packet) and CWR (which may only start one), and the same
  // reserved bits next to the data offset (the split copies the first segment's).
  const std::byte* ft = fb + f.ip_len;
  const std::byte* pt = pb + p.ip_len;
  const std::uint8_t pf = load8(pt + 13);
  return load32(pt + 4) == g.next_seq && load8(pt + 12) == load8(ft + 12) &&
         load32(pt + 8) == load32(ft + 8) && load16(pt + 14) == load16(ft + 14) &&
         (pf & kTcpCwr) == 0 &&
         static_cast<std::uint8_t>(pf & ~(kTcpPsh | kTcpFin)) ==
             static_cast<std::uint8_t>(load8(ft + 13) & ~kTcpCwr) &&
         equal_bytes(pt + 20, ft + 20, p.l4_len - 20U);
}

// Whether the group takes no more packets after `p` joined it (or started it).
bool ends_group(const GroItem& p, const std::byte* pb, std::uint16_t gso_size) noexcept {
  if (!p.eligible || p.payload < gso_size) return true;
  return p.kind == GroKind::tcp && (load8(pb + p.ip_len + 13) & (kTcpPsh | kTcpFin)) != 0;
}

}  // namespace

Coalescer::Coalescer(CoalescerOptions options) : options_(options) {
  if (options_.header_size < VirtioNetHeader::legacy_size) {
    throw std::invalid_argument(
        fmt::format("tunkit: Coalescer: virtio-net header size {} below 10", options_.header_size));
  }
  if (options_.max_batch == 0 || options_.max_batch > (std::size_t{1} << 24)) {
    throw std::invalid_argument(
        fmt::format("tunkit: Coalescer: max_batch {} outside 1..2^24", options_.max_batch));
  }
  items_.resize(options_.max_batch);
  groups_.resize(options_.max_batch);
  table_.resize(std::bit_ceil(2 * options_.max_batch));
}

Coalescer::Coalescer(Coalescer&&) noexcept = default;
Coalescer& Coalescer::operator=(Coalescer&&) noexcept = default;
Coalescer::~Coalescer() = default;

OffloadResult<std::size_t> Coalescer::coalesce(std::span<const std::span<const std::byte>> packets,
                                               std::span<std::byte> arena,
                                               std::span<CoalescedPacket> out) noexcept {
  const std::size_t n = packets.size();
  if (n > items_.size()) return fail(OffloadReason::batch_too_large, n, items_.size());
  if (out.size() < n) return fail(OffloadReason::too_many_segments, n, out.size());
  std::size_t input_bytes = 0;
  for (const auto& p : packets)
    input_bytes += p.size();
  const std::size_t hs = options_.header_size;
  const std::size_t needed = arena_size(input_bytes, n, hs);
  if (arena.size() < needed) return fail(OffloadReason::buffer_too_small, needed, arena.size());
  if (n == 0) return std::size_t{0};

  // First pass: sort the packets into groups (writes), reading headers only. A flow's latest
  // group is found through the table; a packet of the flow that cannot join it closes it, so
  // that no later packet of the flow overtakes this one.
  if (++generation_ == 0) {
    std::fill(table_.begin(), table_.end(), GroSlot{});
    generation_ = 1;
  }
  const std::size_t mask = table_.size() - 1;
  std::uint32_t group_count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    GroItem& it = items_[i];
    it = classify_one(packets[i], options_);
    const std::byte* pb = packets[i].data();
    GroSlot* slot = nullptr;
    if (it.kind != GroKind::other) {
      for (std::size_t s = it.hash & mask;; s = (s + 1) & mask) {
        GroSlot& candidate = table_[s];
        if (candidate.generation != generation_) {
          candidate = {generation_, it.hash, kNone};
          slot = &candidate;
          break;
        }
        if (candidate.hash == it.hash) {
          const std::uint32_t f = groups_[candidate.group].first;
          if (same_flow(items_[f], packets[f].data(), it, pb)) {
            slot = &candidate;
            break;
          }
        }
      }
      if (slot->group != kNone) {
        GroGroup& g = groups_[slot->group];
        const GroItem& first = items_[g.first];
        if (can_append(g, first, packets[g.first].data(), packets[g.last].data(), it, pb)) {
          items_[g.last].next = static_cast<std::uint32_t>(i);
          it.group = slot->group;
          g.last = static_cast<std::uint32_t>(i);
          ++g.count;
          g.length += it.payload;
          if (it.kind == GroKind::tcp) g.next_seq += it.payload;
          g.closed = ends_group(it, pb, g.gso_size);
          continue;
        }
        g.closed = true;
      }
    }
    GroGroup& g = groups_[group_count];
    g.first = g.last = static_cast<std::uint32_t>(i);
    g.count = 1;
    g.length = static_cast<std::uint32_t>(packets[i].size());
    g.gso_size = it.payload;
    g.next_seq =
        it.kind == GroKind::tcp ? load32(pb + it.ip_len + 4) + std::uint32_t{it.payload} : 0;
    g.closed = it.kind == GroKind::other || ends_group(it, pb, it.payload);
    it.group = group_count;
    if (slot != nullptr) slot->group = group_count;
    ++group_count;
  }

  // Second pass: build the writes in the order of their first packets.
  std::size_t cursor = 0;
  std::size_t count = 0;
  const auto pass_through = [&](std::uint32_t index) {
    const std::span<const std::byte> p = packets[index];
    std::byte* at = arena.data() + cursor;
    std::memset(at, 0, hs);
    std::memcpy(at + hs, p.data(), p.size());
    out[count++] = {std::span<const std::byte>(at, hs + p.size()),
                    std::span<const std::byte>(at + hs, p.size()), VirtioNetHeader{}, index, 1};
    cursor += hs + p.size();
  };

  for (std::uint32_t gi = 0; gi < group_count; ++gi) {
    const GroGroup& g = groups_[gi];
    if (g.count == 1) {
      pass_through(g.first);
      continue;
    }
    // Merge the members in runs: a member whose checksum does not verify leaves alone, unchanged,
    // and the members before and after it form separate runs.
    const GroItem& head = items_[g.first];
    const std::size_t ip_len = head.ip_len;
    const std::size_t headers = std::size_t{head.ip_len} + head.l4_len;
    const bool tcp = head.kind == GroKind::tcp;
    const bool v4 = ip_len == 20;
    // The part of the pseudo header that every packet of the flow shares.
    Checksum flow_sum;
    if (options_.verify_checksums) {
      const std::byte* hb = packets[g.first].data();
      flow_sum.add(v4 ? std::span<const std::byte>(hb + 12, 8)
                      : std::span<const std::byte>(hb + 8, 32));
      flow_sum.add_u16(tcp ? kTcp : kUdp);
    }
    std::uint32_t run_first = kNone, run_last = kNone, run_count = 0;
    std::size_t run_at = 0, run_len = 0;

    const auto finish_run = [&] {
      if (run_count == 0) return;
      if (run_count == 1) {  // the bytes are exactly the packet's: pass it through
        std::byte* at = arena.data() + run_at;
        std::memset(at, 0, hs);
        out[count++] = {std::span<const std::byte>(at, hs + run_len),
                        std::span<const std::byte>(at + hs, run_len), VirtioNetHeader{}, run_first,
                        1};
      } else {
        std::byte* at = arena.data() + run_at;
        std::byte* d = at + hs;
        const std::byte* last = packets[run_last].data();
        if (v4) {
          store16(d + 2, static_cast<std::uint16_t>(run_len));
          store16(d + 10, 0);
          store16(d + 10, internet_checksum(std::span<const std::byte>(d, 20)));
        } else {
          store16(d + 4, static_cast<std::uint16_t>(run_len - 40));
        }
        const auto l4_length = static_cast<std::uint16_t>(run_len - ip_len);
        // The partial checksum: the pseudo-header sum, not complemented (what the kernel's
        // tcp_v4_send_check and udp4_hwcsum leave for CHECKSUM_PARTIAL).
        Checksum pseudo;
        if (v4) {
          pseudo.add(std::span<const std::byte>(d + 12, 8));
        } else {
          pseudo.add(std::span<const std::byte>(d + 8, 32));
        }
        pseudo.add_u16(tcp ? kTcp : kUdp).add_u16(l4_length);
        VirtioNetHeader vh;
        vh.needs_csum = true;
        vh.csum_start = static_cast<std::uint16_t>(ip_len);
        vh.hdr_len = static_cast<std::uint16_t>(headers);
        vh.gso_size = items_[run_first].payload;
        if (tcp) {
          std::byte* t = d + ip_len;
          const std::uint8_t flags = load8(t + 13);
          store8(t + 13, static_cast<std::uint8_t>(
                             flags | (load8(last + ip_len + 13) & (kTcpPsh | kTcpFin))));
          store16(t + kTcpChecksumOffset, pseudo.fold());
          vh.gso_type = v4 ? GsoType::tcpv4 : GsoType::tcpv6;
          vh.gso_ecn = (flags & kTcpCwr) != 0;
          vh.csum_offset = static_cast<std::uint16_t>(kTcpChecksumOffset);
        } else {
          std::byte* t = d + ip_len;
          store16(t + 4, l4_length);
          store16(t + kUdpChecksumOffset, pseudo.fold());
          vh.gso_type = GsoType::udp_l4;
          vh.csum_offset = static_cast<std::uint16_t>(kUdpChecksumOffset);
        }
        (void)vh.serialize(std::span<std::byte>(at, hs), hs, options_.little_endian);
        out[count++] = {std::span<const std::byte>(at, hs + run_len),
                        std::span<const std::byte>(d, run_len), vh, run_first, run_count};
      }
      cursor = run_at + hs + run_len;
      run_count = 0;
    };

    for (std::uint32_t m = g.first; m != kNone; m = items_[m].next) {
      const GroItem& it = items_[m];
      const std::byte* src = packets[m].data();
      if (run_count == 0) {
        run_at = cursor;
        run_first = m;
        run_len = headers;
        std::memcpy(arena.data() + run_at + hs, src, headers);
      }
      std::byte* dst = arena.data() + run_at + hs + run_len;
      bool ok = true;
      if (options_.verify_checksums) {
        const std::uint16_t payload_sum = detail::copy_and_sum(dst, src + headers, it.payload);
        Checksum sum = flow_sum;
        sum.add_u16(static_cast<std::uint16_t>(it.l4_len + it.payload))
            .add(std::span<const std::byte>(src + ip_len, it.l4_len))
            .add_u16(payload_sum);
        // RFC 768: an IPv4 UDP checksum of zero means none was computed.
        const bool no_checksum = !tcp && v4 && load16(src + ip_len + kUdpChecksumOffset) == 0;
        ok = sum.verifies() || no_checksum;
      } else {
        std::memcpy(dst, src + headers, it.payload);
      }
      if (!ok) {
        if (run_count > 0) {
          finish_run();
        } else {
          cursor = run_at;  // the run was to start with this packet: drop what was copied
        }
        pass_through(m);
        continue;
      }
      run_len += it.payload;
      run_last = m;
      ++run_count;
    }
    finish_run();
  }
  return count;
}

}  // namespace tunkit
