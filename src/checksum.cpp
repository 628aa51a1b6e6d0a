#include "tunkit/checksum.hpp"

#include <bit>
#include <cstring>

#include "tunkit/packet.hpp"

namespace tunkit {

namespace {

std::uint64_t load64(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);  // any alignment; compiles to one load
  return v;
}

// One's-complement addition on 64-bit words: the carry out of bit 63 is worth 2^64, which is
// congruent to 1 modulo 0xFFFF, so it is added back at the bottom (end-around carry).
std::uint64_t add_eac(std::uint64_t a, std::uint64_t b) noexcept {
  a += b;
  return a + (a < b ? 1U : 0U);
}

// The 16-bit one's-complement sum of `data` taken as native-order 16-bit words (RFC 1071 section
// 2(B): the sum of byte-swapped words is the byte-swapped sum, so no per-word swapping is needed;
// one swap at the end turns it into the network-order sum on a little-endian host).
//
// 64-bit words are summed into four independent accumulators, counting carries separately, so the
// loop has no dependency chain longer than one add; 2^64 is congruent to 1 modulo 0xFFFF, so the
// carry counts are simply added at the end. Loads go through memcpy: correct at any alignment,
// and as fast as aligned loads on the targets that matter (x86-64, arm64).
std::uint16_t native_sum(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  std::uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  while (n >= 32) {
    const std::uint64_t w0 = load64(p), w1 = load64(p + 8), w2 = load64(p + 16),
                        w3 = load64(p + 24);
    a0 += w0;
    c0 += a0 < w0 ? 1U : 0U;
    a1 += w1;
    c1 += a1 < w1 ? 1U : 0U;
    a2 += w2;
    c2 += a2 < w2 ? 1U : 0U;
    a3 += w3;
    c3 += a3 < w3 ? 1U : 0U;
    p += 32;
    n -= 32;
  }
  std::uint64_t s = add_eac(add_eac(a0, a1), add_eac(a2, a3));
  s = add_eac(s, c0 + c1 + c2 + c3);
  while (n >= 8) {
    s = add_eac(s, load64(p));
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    // The last 1..7 bytes, zero-padded: they keep their position inside the word, so an odd last
    // byte is the high-order byte of its (network-order) word, as RFC 1071 requires.
    std::uint64_t tail = 0;
    std::memcpy(&tail, p, n);
    s = add_eac(s, tail);
  }
  s = (s & 0xFFFFFFFFU) + (s >> 32);
  s = (s & 0xFFFFFFFFU) + (s >> 32);
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

std::uint16_t network_sum(std::span<const std::byte> data) noexcept {
  const std::uint16_t s = native_sum(data.data(), data.size());
  if constexpr (std::endian::native == std::endian::little) {
    return static_cast<std::uint16_t>((s >> 8) | (s << 8));
  } else {
    return s;
  }
}

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
  const std::uint16_t s = network_sum(data);
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
