#include "tunkit/vnet.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "offload/vnet_internal.hpp"
#include "tunkit/options.hpp"
#include "tunkit/packet/ip_packet.hpp"

namespace tunkit {
namespace {

using detail::kGsoEcn;
using detail::kTcp;
using detail::kUdp;
using detail::load8;
using detail::offload_error;
using detail::PacketLayout;
using detail::raw_gso_type;
using detail::store16;
using detail::store8;

constexpr std::uint8_t kFlagNeedsCsum = 0x01;  // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr std::uint8_t kFlagDataValid = 0x02;  // VIRTIO_NET_HDR_F_DATA_VALID

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

// Parses an IP packet carrying TCP or UDP, for the split: the layers, or why not.
std::optional<OffloadError> layout_of(std::span<const std::byte> packet,
                                      PacketLayout& out) noexcept {
  const auto pkt = parse_ip(packet);
  if (!pkt) {
    OffloadError e = offload_error(OffloadReason::malformed_packet);
    e.parse = pkt.error();
    return e;
  }
  if (pkt->is_fragment()) return offload_error(OffloadReason::fragment);
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

namespace detail {

std::optional<OffloadError> check_vnet_header(const VirtioNetHeader& h,
                                              std::span<const std::byte> packet,
                                              PacketLayout* layout) noexcept {
  if (auto e = h.check_fields(packet.size())) return e;
  if (h.gso_type == GsoType::none) return std::nullopt;

  // A super-packet: the kernel (virtio_net_hdr_to_skb) checks little more than the above and
  // trusts csum_start to find the transport header; a header that does not fit the packet
  // would make it cut garbage, so it is refused here.
  PacketLayout l;
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
    return offload_error(OffloadReason::gso_type_mismatch, raw_gso_type(h),
                         (static_cast<std::size_t>(l.version) << 8) | l.protocol);
  }
  if (h.needs_csum) {
    const std::size_t field =
        l.ip_len + (l.protocol == kTcp ? kTcpChecksumOffset : kUdpChecksumOffset);
    if (h.csum_start != l.ip_len || std::size_t{h.csum_start} + h.csum_offset != field) {
      return offload_error(OffloadReason::csum_field_mismatch,
                           std::size_t{h.csum_start} + h.csum_offset, field);
    }
  }
  if (layout != nullptr) *layout = l;
  return std::nullopt;
}

std::optional<OffloadError> kernel_vnet_problem(const VirtioNetHeader& h,
                                                std::span<const std::byte> head, std::size_t size,
                                                Mode mode) noexcept {
  if (auto e = h.check_fields(size)) return e;
  if (h.gso_type == GsoType::none || h.needs_csum) return std::nullopt;
  // virtio_net_hdr_to_skb() dissects a GSO packet without NEEDS_CSUM: TUN takes the IP version
  // from the GSO type (UDP tries both), TAP the frame's EtherType, which must match it.
  head = head.first(std::min(head.size(), kKernelCheckHead));
  std::size_t at = 0;
  int ether_version = 0;
  if (mode == Mode::tap) {
    if (head.size() < 14) return std::nullopt;  // a runt frame: the kernel's own answer
    const unsigned type = (unsigned{load8(head.data() + 12)} << 8U) | load8(head.data() + 13);
    if (type == 0x0800) {
      ether_version = 4;
    } else if (type == 0x86DD) {
      ether_version = 6;
    } else {
      return std::nullopt;  // VLAN tags and the like: left to the kernel's dissector
    }
    at = 14;
  }
  if (head.size() <= at) return std::nullopt;
  const int version = load8(head.data() + at) >> 4U;
  std::uint8_t protocol = 0;
  std::size_t ip_len = 0;
  if (version == 4 && head.size() >= at + 20) {
    protocol = load8(head.data() + at + 9);
    ip_len = std::size_t{load8(head.data() + at) & 0x0FU} * 4;
  } else if (version == 6 && head.size() >= at + 40) {
    protocol = load8(head.data() + at + 6);  // extension headers are not followed here
    ip_len = 40;
  }
  bool fits = ip_len >= 20 && (ether_version == 0 || ether_version == version);
  switch (h.gso_type) {
    case GsoType::tcpv4:
      fits = fits && version == 4 && protocol == kTcp;
      break;
    case GsoType::tcpv6:
      fits = fits && version == 6 && protocol == kTcp;
      break;
    default:  // UDP (UFO); UDP_L4 without NEEDS_CSUM was refused above
      fits = fits && protocol == kUdp;
      break;
  }
  if (!fits) {
    return offload_error(OffloadReason::gso_type_mismatch, raw_gso_type(h),
                         (static_cast<std::size_t>(version) << 8) | protocol);
  }
  const std::size_t end = at + ip_len + (protocol == kTcp ? 20 : 8);
  if (end > size) return offload_error(OffloadReason::transport_beyond_packet, end, size);
  return std::nullopt;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Names and errors

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
    case OffloadReason::gso_size_reserved:
      return "virtio-net header: gso_size 65535 is reserved (the kernel's GSO_BY_FRAGS)";
    case OffloadReason::gso_needs_csum:
      return fmt::format("virtio-net header: gso_type {} without NEEDS_CSUM", gso_name(e.value));
    case OffloadReason::gso_csum_offset:
      return fmt::format(
          "virtio-net header: csum_offset {} with GSO, the transport checksum field is at {}",
          e.value, e.limit);
    case OffloadReason::csum_start_before_transport:
      return fmt::format("virtio-net header: csum_start {} inside the network header (at least {})",
                         e.value, e.limit);
    case OffloadReason::transport_beyond_packet:
      return fmt::format(
          "virtio-net header: the transport header from csum_start ends at {}, beyond packet "
          "length {}",
          e.value, e.limit);
    case OffloadReason::gso_too_many_segments:
      return fmt::format("virtio-net header: UDP_L4 with {} segments, the kernel takes at most {}",
                         e.value, e.limit);
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
  if (header_size < legacy_size) return offload_error(OffloadReason::bad_header_size, header_size);
  if (bytes.size() < header_size) {
    return offload_error(OffloadReason::header_truncated, bytes.size(), header_size);
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
  if (header_size < legacy_size) return offload_error(OffloadReason::bad_header_size, header_size);
  if (out.size() < header_size) {
    return offload_error(OffloadReason::buffer_too_small, header_size, out.size());
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
  return detail::check_vnet_header(*this, packet, nullptr);
}

std::optional<OffloadError> VirtioNetHeader::check_fields(
    std::size_t packet_length) const noexcept {
  const std::size_t size = packet_length;
  if (!known_gso_type(gso_type) || (gso_ecn && gso_type == GsoType::none)) {
    return detail::offload_error(OffloadReason::unknown_gso_type, detail::raw_gso_type(*this));
  }
  const bool gso = gso_type != GsoType::none;
  const bool tcp = gso_type == GsoType::tcpv4 || gso_type == GsoType::tcpv6;
  if (gso && gso_size == 0) {
    return detail::offload_error(OffloadReason::gso_size_zero, detail::raw_gso_type(*this));
  }
  if (gso && gso_size == 0xFFFF) {  // GSO_BY_FRAGS, the kernel's own marker
    return detail::offload_error(OffloadReason::gso_size_reserved, gso_size);
  }
  if (gso_type == GsoType::udp_l4 && !needs_csum) {
    return detail::offload_error(OffloadReason::gso_needs_csum, detail::raw_gso_type(*this));
  }
  if (hdr_len > size) {
    return detail::offload_error(OffloadReason::hdr_len_beyond_packet, hdr_len, size);
  }
  if (!needs_csum) return std::nullopt;
  // skb_partial_csum_set: the start inside the packet, the 2-byte field too; then the transport
  // header may not start inside the shortest network header.
  if (csum_start > size) {
    return detail::offload_error(OffloadReason::csum_start_beyond_packet, csum_start, size);
  }
  const std::size_t end = std::size_t{csum_start} + csum_offset + 2;
  if (end > size) {
    return detail::offload_error(OffloadReason::csum_offset_beyond_packet, end, size);
  }
  const std::size_t min_start = gso_type == GsoType::tcpv6 ? 40 : 20;
  if (csum_start < min_start) {
    return detail::offload_error(OffloadReason::csum_start_before_transport, csum_start, min_start);
  }
  if (!gso) return std::nullopt;
  const std::size_t transport_len = tcp ? 20 : 8;  // sizeof(struct tcphdr) / (struct udphdr)
  const std::size_t transport_end = std::size_t{csum_start} + transport_len;
  if (transport_end > size) {
    return detail::offload_error(OffloadReason::transport_beyond_packet, transport_end, size);
  }
  if (tcp && csum_offset != detail::kTcpChecksumOffset) {
    return detail::offload_error(OffloadReason::gso_csum_offset, csum_offset,
                                 detail::kTcpChecksumOffset);
  }
  if (gso_type == GsoType::udp_l4) {
    if (csum_offset != detail::kUdpChecksumOffset) {
      return detail::offload_error(OffloadReason::gso_csum_offset, csum_offset,
                                   detail::kUdpChecksumOffset);
    }
    constexpr std::size_t kUdpMaxSegments = 128;  // UDP_MAX_SEGMENTS (64 before Linux 6.9)
    const std::size_t payload = size - transport_end;
    if (payload > std::size_t{gso_size} * kUdpMaxSegments) {
      return detail::offload_error(OffloadReason::gso_too_many_segments,
                                   (payload + gso_size - 1) / gso_size, kUdpMaxSegments);
    }
  }
  return std::nullopt;
}

std::optional<OffloadError> VirtioNetHeader::kernel_check(std::span<const std::byte> packet,
                                                          Mode mode) const noexcept {
  return detail::kernel_vnet_problem(*this, packet, packet.size(), mode);
}

std::error_code VirtioNetHeader::validate(std::span<const std::byte> packet) const noexcept {
  if (auto e = check(packet)) return make_error_code(*e);
  return {};
}
}  // namespace tunkit
