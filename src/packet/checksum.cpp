#include "tunkit/packet/checksum.hpp"

#include <optional>

#include "packet/checksum_kernels.hpp"
#include "tunkit/packet/ip_packet.hpp"

namespace tunkit {

namespace {

// Where the checksum field sits in each transport header, or 0 when tunkit does not know.
std::size_t checksum_offset(std::uint8_t protocol) noexcept {
  switch (static_cast<IpProtocol>(protocol)) {
    case IpProtocol::tcp:
      return 16;
    case IpProtocol::udp:
      return 6;
    case IpProtocol::icmp:
    case IpProtocol::icmpv6:
      return 2;
    default:
      return 0;
  }
}

}  // namespace

Checksum& Checksum::add(std::span<const std::byte> data) noexcept {
  const std::uint16_t s = detail::ones_sum(data.data(), data.size());
  sum_ += odd_ ? swap16(s) : s;
  if (data.size() % 2 != 0) odd_ = !odd_;
  return *this;
}

std::uint16_t internet_checksum(std::span<const std::byte> data) noexcept {
  return Checksum().add(data).checksum();
}

Checksum pseudo_header_sum(const IpAddress& src, const IpAddress& dst, std::uint8_t protocol,
                           std::uint32_t length) noexcept {
  Checksum sum;
  sum.add(src).add(dst);
  if (src.is_v4()) {
    // RFC 768/793: zero byte, protocol byte, 16-bit length.
    sum.add_u16(protocol).add_u16(static_cast<std::uint16_t>(length));
  } else {
    // RFC 8200 section 8.1: 32-bit upper-layer length, three zero bytes, next header.
    sum.add_u32(length).add_u32(protocol);
  }
  return sum;
}

std::uint16_t ipv4_header_checksum(const Ipv4View& ip) noexcept {
  // Sum around the checksum field (bytes 10-11) rather than copying the header to zero it. Not
  // "add the field's complement": that gives the other zero (0x0000 instead of 0xFFFF) when
  // everything else sums to zero.
  const std::span<const std::byte> header = ip.header();
  return Checksum().add(header.first(10)).add(header.subspan(12)).checksum();
}

bool ipv4_header_checksum_ok(const Ipv4View& ip) noexcept {
  return Checksum().add(ip.header()).verifies();
}

std::uint16_t transport_checksum(const IpAddress& src, const IpAddress& dst, std::uint8_t protocol,
                                 std::span<const std::byte> segment) noexcept {
  const std::size_t offset = checksum_offset(protocol);
  if (offset == 0 || segment.size() < offset + 2) return 0;
  Checksum sum;
  if (static_cast<IpProtocol>(protocol) != IpProtocol::icmp) {
    sum = pseudo_header_sum(src, dst, protocol, static_cast<std::uint32_t>(segment.size()));
  }
  // Sum around the checksum field, as in ipv4_header_checksum. The field's offset is even, so the
  // bytes after it keep their parity.
  sum.add(segment.first(offset)).add(segment.subspan(offset + 2));
  const std::uint16_t c = sum.checksum();
  // RFC 768: a computed UDP checksum of zero is sent as all ones (zero means "none").
  if (c == 0 && static_cast<IpProtocol>(protocol) == IpProtocol::udp) return 0xFFFF;
  return c;
}

namespace {

struct Segment {
  std::uint8_t protocol = 0;
  std::span<const std::byte> bytes;
  std::uint16_t stored = 0;
};

std::optional<Segment> segment_of(const IpPacket& packet) noexcept {
  Segment s;
  if (const TcpView* tcp = packet.tcp()) {
    s = {6, tcp->bytes(), tcp->checksum()};
  } else if (const UdpView* udp = packet.udp()) {
    s = {17, udp->bytes(), udp->checksum()};
  } else if (const IcmpView* icmp = packet.icmp()) {
    s = {1, icmp->bytes(), icmp->checksum()};
  } else if (const Icmpv6View* icmp6 = packet.icmpv6()) {
    s = {58, icmp6->bytes(), icmp6->checksum()};
  } else {
    return std::nullopt;
  }
  return s;
}

}  // namespace

std::uint16_t transport_checksum(const IpPacket& packet) noexcept {
  const auto s = segment_of(packet);
  if (!s) return 0;
  return transport_checksum(packet.src(), packet.dst(), s->protocol, s->bytes);
}

bool transport_checksum_ok(const IpPacket& packet) noexcept {
  const auto s = segment_of(packet);
  if (!s) return true;
  if (s->protocol == 17 && s->stored == 0 && packet.version() == 4) return true;
  Checksum sum;
  if (s->protocol != 1) {
    sum = pseudo_header_sum(packet.src(), packet.dst(), s->protocol,
                            static_cast<std::uint32_t>(s->bytes.size()));
  }
  return sum.add(s->bytes).verifies();
}

}  // namespace tunkit
