#include "tunkit/packet/ipv6.hpp"

#include "packet/parse_helpers.hpp"

namespace tunkit {
namespace {

using detail::load16;
using detail::load32;
using detail::load8;

constexpr detail::LayerErrors fail_ipv6{Layer::ipv6};

}  // namespace

ParseResult<Ipv6View> Ipv6View::parse(std::span<const std::byte> packet) noexcept {
  if (!packet.empty() && (load8(packet.data()) >> 4) != 6) {
    return fail_ipv6(ParseReason::bad_version, load8(packet.data()) >> 4);
  }
  if (packet.size() < 40) return fail_ipv6(ParseReason::truncated, packet.size(), 40);
  const std::size_t payload = load16(packet.data() + 4);
  if (payload > packet.size() - 40) {
    return fail_ipv6(ParseReason::payload_beyond_buffer, payload, packet.size() - 40);
  }
  Ipv6View v;
  v.bytes_ = packet.first(40 + payload);
  const std::byte* p = v.bytes_.data();
  const std::size_t end = v.bytes_.size();

  // Walk the extension headers (RFC 8200 section 4). Each is at least 8 bytes long, so the walk
  // ends after at most payload/8 steps whatever the bytes say.
  std::uint8_t next = load8(p + 6);
  std::size_t off = 40;
  for (;;) {
    const auto type = static_cast<IpProtocol>(next);
    if (!detail::is_ipv6_extension(type)) {
      v.upper_protocol_ = next;
      v.upper_offset_ = static_cast<std::uint32_t>(off);
      return v;
    }
    if (type == IpProtocol::hop_by_hop && off != 40) {
      return fail_ipv6(ParseReason::hop_by_hop_not_first, off);
    }
    // Every extension header but the fragment header has its length in its second byte.
    if (type != IpProtocol::fragment && end - off < 2) {
      return fail_ipv6(ParseReason::extension_truncated, off, end);
    }
    const std::size_t len = detail::ipv6_extension_length(type, p + off);
    if (len > end - off) return fail_ipv6(ParseReason::extension_truncated, off, end);
    const std::uint8_t following = load8(p + off);
    if (type == IpProtocol::fragment) {
      const std::uint16_t field = load16(p + off + 2);
      v.has_fragment_ = true;
      v.fragment_offset_ = static_cast<std::uint16_t>(field & 0xFFF8U);
      v.fragment_more_ = (field & 1U) != 0;
      v.fragment_id_ = load32(p + off + 4);
      if (v.fragment_offset_ != 0) {
        // A non-first fragment: what follows is the middle of the upper-layer data, not a header.
        v.upper_protocol_ = following;
        v.upper_offset_ = static_cast<std::uint32_t>(off + len);
        return v;
      }
    }
    next = following;
    off += len;
  }
}

std::optional<Ipv6Fragment> Ipv6View::fragment() const noexcept {
  if (!has_fragment_) return std::nullopt;
  return Ipv6Fragment{fragment_offset_, fragment_more_, fragment_id_};
}

ParseResult<MutableIpv6View> MutableIpv6View::parse(std::span<std::byte> packet) noexcept {
  auto v = Ipv6View::parse(packet);
  if (!v) return v.error();
  return MutableIpv6View(*v, packet.data());
}

void MutableIpv6View::set_src(const IpAddress& a) {
  if (!a.is_v6()) detail::throw_wrong_family("MutableIpv6View::set_src", a, 6);
  detail::store_ip(data_ + 8, a, 16);
}

void MutableIpv6View::set_dst(const IpAddress& a) {
  if (!a.is_v6()) detail::throw_wrong_family("MutableIpv6View::set_dst", a, 6);
  detail::store_ip(data_ + 24, a, 16);
}

void MutableIpv6View::set_traffic_class(std::uint8_t tc) noexcept {
  const std::uint32_t word = load32(data_);
  detail::store32(data_, (word & 0xF00FFFFFU) | (std::uint32_t{tc} << 20));
}

void MutableIpv6View::set_flow_label(std::uint32_t label) noexcept {
  const std::uint32_t word = load32(data_);
  detail::store32(data_, (word & 0xFFF00000U) | (label & 0xFFFFFU));
}

}  // namespace tunkit
