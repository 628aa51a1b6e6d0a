#include "tunkit/packet/build.hpp"

#include <array>
#include <cstring>
#include <optional>

#include "packet/parse_helpers.hpp"
#include "tunkit/packet/checksum.hpp"

namespace tunkit {
namespace {

using detail::load8;
using detail::store16;
using detail::store32;
using detail::store8;

constexpr std::uint8_t kReplyHopLimit = 64;

bool is_ipv4_multicast_or_broadcast(const IpAddress& a) noexcept {
  const auto b = a.bytes();
  return (b[0] & 0xF0U) == 0xE0U || (b[0] == 0xFF && b[1] == 0xFF && b[2] == 0xFF && b[3] == 0xFF);
}

bool is_ipv6_multicast(const IpAddress& a) noexcept {
  return a.bytes()[0] == 0xFF;
}

bool is_unspecified(const IpAddress& a) noexcept {
  for (const std::uint8_t b : a.bytes()) {
    if (b != 0) return false;
  }
  return true;
}

BuildError too_small(std::size_t needed) noexcept {
  return {BuildReason::buffer_too_small, needed};
}

// Copies the echo identifier, sequence number and data (ICMP bytes 4..) to `dst`. memmove: when
// the reply is built in place, the source lies at or after the destination.
void move_echo_body(std::span<const std::byte> icmp, std::byte* dst) noexcept {
  std::memmove(dst, icmp.data() + 4, icmp.size() - 4);
}

void write_ethernet(std::byte* p, const MacAddress& dst, const MacAddress& src,
                    const std::optional<VlanTag>& vlan, std::uint16_t ethertype) noexcept {
  detail::store_mac(p, dst);
  detail::store_mac(p + 6, src);
  std::size_t off = 12;
  if (vlan) {
    store16(p + 12, vlan->tpid);
    store16(p + 14, static_cast<std::uint16_t>((vlan->priority & 7U) << 13 |
                                               (vlan->drop_eligible ? 0x1000U : 0U) |
                                               (vlan->id & 0x0FFFU)));
    off = 16;
  }
  store16(p + off, ethertype);
}

void write_ipv6_header(std::byte* p, std::uint16_t payload_length, std::uint8_t next_header,
                       std::uint8_t hop_limit, const IpAddress& src,
                       const IpAddress& dst) noexcept {
  store32(p, 0x60000000U);
  store16(p + 4, payload_length);
  store8(p + 6, next_header);
  store8(p + 7, hop_limit);
  detail::store_ip(p + 8, src, 16);
  detail::store_ip(p + 24, dst, 16);
}

// Writes a 20-byte IPv4 header without options, its checksum computed.
void write_ipv4_header(std::byte* p, std::uint16_t total, std::uint16_t id, bool df,
                       std::uint8_t ttl, IpProtocol protocol, const IpAddress& src,
                       const IpAddress& dst) noexcept {
  store8(p, 0x45);
  store8(p + 1, 0);
  store16(p + 2, total);
  store16(p + 4, id);
  store16(p + 6, df ? 0x4000 : 0);
  store8(p + 8, ttl);
  store8(p + 9, static_cast<std::uint8_t>(protocol));
  store16(p + 10, 0);
  detail::store_ip(p + 12, src, 4);
  detail::store_ip(p + 16, dst, 4);
  store16(p + 10, internet_checksum({p, 20}));
}

// What every request builder checks first: both addresses of the family the packet needs (4, 6,
// or 0: either, the same), an IP length the length field holds, and room in `out`. The IP
// header length and the packet's size, or the error.
struct RequestShape {
  std::size_t ip_header = 0;  // 20 or 40
  std::size_t total = 0;      // the whole packet
};
Result<RequestShape, BuildError> request_shape(const IpAddress& src, const IpAddress& dst,
                                               int version, std::size_t l4_size,
                                               std::size_t out_size) noexcept {
  if (src.family() != dst.family() || (version == 4 && !src.is_v4()) ||
      (version == 6 && !src.is_v6())) {
    return BuildError{BuildReason::address_family_mismatch};
  }
  const std::size_t header = src.is_v4() ? 20 : 40;
  // The IPv4 total length counts the header, the IPv6 payload length does not.
  const std::size_t length = src.is_v4() ? header + l4_size : l4_size;
  if (length > 0xFFFF) return BuildError{BuildReason::packet_too_large, length};
  const std::size_t total = header + l4_size;
  if (out_size < total) return too_small(total);
  return RequestShape{header, total};
}

// Writes the IP header of a request carrying `l4_size` bytes of `protocol`.
void write_request_ip(std::byte* p, const IpAddress& src, const IpAddress& dst, std::size_t l4_size,
                      IpProtocol protocol, std::uint8_t ttl, std::uint16_t id, bool df) noexcept {
  if (src.is_v4()) {
    write_ipv4_header(p, static_cast<std::uint16_t>(20 + l4_size), id, df, ttl, protocol, src, dst);
  } else {
    write_ipv6_header(p, static_cast<std::uint16_t>(l4_size), static_cast<std::uint8_t>(protocol),
                      ttl, src, dst);
  }
}

// Writes the 8-byte echo header and the data of an echo request at `p`, checksum field zero.
void write_echo_request(std::byte* p, std::uint8_t type, const EchoRequest& r) noexcept {
  store8(p, type);
  store8(p + 1, 0);
  store16(p + 2, 0);
  store16(p + 4, r.identifier);
  store16(p + 6, r.sequence);
  if (!r.data.empty()) std::memmove(p + 8, r.data.data(), r.data.size());
}

}  // namespace

BuildResult build_icmp_echo_request(const EchoRequest& r, std::span<std::byte> out) noexcept {
  const std::size_t icmp_size = 8 + r.data.size();
  const auto shape = request_shape(r.src, r.dst, 4, icmp_size, out.size());
  if (!shape) return shape.error();
  std::byte* p = out.data();
  write_request_ip(p, r.src, r.dst, icmp_size, IpProtocol::icmp, r.ttl, r.identification,
                   r.dont_fragment);
  write_echo_request(p + 20, static_cast<std::uint8_t>(IcmpType::echo_request), r);
  store16(p + 22, internet_checksum({p + 20, icmp_size}));
  return shape->total;
}

BuildResult build_icmpv6_echo_request(const EchoRequest& r, std::span<std::byte> out) noexcept {
  const std::size_t icmp_size = 8 + r.data.size();
  const auto shape = request_shape(r.src, r.dst, 6, icmp_size, out.size());
  if (!shape) return shape.error();
  std::byte* p = out.data();
  write_request_ip(p, r.src, r.dst, icmp_size, IpProtocol::icmpv6, r.ttl, 0, false);
  write_echo_request(p + 40, static_cast<std::uint8_t>(Icmpv6Type::echo_request), r);
  store16(p + 42, transport_checksum(r.src, r.dst, 58, {p + 40, icmp_size}));
  return shape->total;
}

BuildResult build_echo_request(const EchoRequest& r, std::span<std::byte> out) noexcept {
  return r.src.is_v4() ? build_icmp_echo_request(r, out) : build_icmpv6_echo_request(r, out);
}

BuildResult build_udp_datagram(const UdpDatagram& d, std::span<std::byte> out) noexcept {
  const std::size_t udp_size = 8 + d.data.size();
  // The UDP length field holds the size too: within 65535 wherever the IP length is.
  const auto shape = request_shape(d.src, d.dst, 0, udp_size, out.size());
  if (!shape) return shape.error();
  std::byte* p = out.data();
  write_request_ip(p, d.src, d.dst, udp_size, IpProtocol::udp, d.ttl, d.identification,
                   d.dont_fragment);
  std::byte* u = p + shape->ip_header;
  store16(u, d.src_port);
  store16(u + 2, d.dst_port);
  store16(u + 4, static_cast<std::uint16_t>(udp_size));
  store16(u + 6, 0);
  if (!d.data.empty()) std::memmove(u + 8, d.data.data(), d.data.size());
  store16(u + 6, transport_checksum(d.src, d.dst, 17, {u, udp_size}));  // 0 is sent as 0xFFFF
  return shape->total;
}

BuildResult build_tcp_syn(const TcpSyn& syn, std::span<std::byte> out) noexcept {
  if (syn.options.size() > 40) return BuildError{BuildReason::tcp_options_too_long};
  const std::size_t tcp_size = 20 + (syn.options.size() + 3) / 4 * 4;
  const auto shape = request_shape(syn.src, syn.dst, 0, tcp_size, out.size());
  if (!shape) return shape.error();
  std::byte* p = out.data();
  write_request_ip(p, syn.src, syn.dst, tcp_size, IpProtocol::tcp, syn.ttl, syn.identification,
                   syn.dont_fragment);
  std::byte* t = p + shape->ip_header;
  store16(t, syn.src_port);
  store16(t + 2, syn.dst_port);
  store32(t + 4, syn.sequence);
  store32(t + 8, 0);
  // Data offset in 32-bit words, reserved bits 0; flags: SYN only.
  store8(t + 12, static_cast<std::uint8_t>(tcp_size / 4 << 4));
  store8(t + 13, 0x02);
  store16(t + 14, syn.window);
  store16(t + 16, 0);
  store16(t + 18, 0);                     // urgent pointer
  std::memset(t + 20, 0, tcp_size - 20);  // the padding: end of option list
  if (!syn.options.empty()) std::memmove(t + 20, syn.options.data(), syn.options.size());
  store16(t + 16, transport_checksum(syn.src, syn.dst, 6, {t, tcp_size}));
  return shape->total;
}

BuildResult build_icmp_echo_reply(const IpPacket& request, std::span<std::byte> out) noexcept {
  const Ipv4View* ip = request.ipv4();
  const IcmpView* icmp = request.icmp();
  if (ip == nullptr || icmp == nullptr || icmp->type() != IcmpType::echo_request) {
    return BuildError{BuildReason::not_echo_request};
  }
  if (is_ipv4_multicast_or_broadcast(ip->dst()))
    return BuildError{BuildReason::multicast_destination};
  const std::size_t icmp_size = icmp->bytes().size();
  const std::size_t total = 20 + icmp_size;  // <= the request's total length, so <= 65535
  if (out.size() < total) return too_small(total);

  const IpAddress src = ip->dst(), dst = ip->src();
  const std::uint8_t tos = ip->tos();
  const std::uint16_t id = ip->identification();
  std::byte* p = out.data();
  move_echo_body(icmp->bytes(), p + 24);

  store8(p, 0x45);
  store8(p + 1, tos);
  store16(p + 2, static_cast<std::uint16_t>(total));
  store16(p + 4, id);
  store16(p + 6, 0);  // no flags, offset 0
  store8(p + 8, kReplyHopLimit);
  store8(p + 9, static_cast<std::uint8_t>(IpProtocol::icmp));
  store16(p + 10, 0);
  detail::store_ip(p + 12, src, 4);
  detail::store_ip(p + 16, dst, 4);
  store16(p + 10, internet_checksum({p, 20}));

  store8(p + 20, static_cast<std::uint8_t>(IcmpType::echo_reply));
  store8(p + 21, 0);
  store16(p + 22, 0);
  store16(p + 22, internet_checksum({p + 20, icmp_size}));
  return total;
}

BuildResult build_icmpv6_echo_reply(const IpPacket& request, std::span<std::byte> out) noexcept {
  const Ipv6View* ip = request.ipv6();
  const Icmpv6View* icmp = request.icmpv6();
  if (ip == nullptr || icmp == nullptr || icmp->type() != Icmpv6Type::echo_request) {
    return BuildError{BuildReason::not_echo_request};
  }
  if (is_ipv6_multicast(ip->dst())) return BuildError{BuildReason::multicast_destination};
  const std::size_t icmp_size = icmp->bytes().size();
  const std::size_t total = 40 + icmp_size;
  if (out.size() < total) return too_small(total);

  const IpAddress src = ip->dst(), dst = ip->src();
  std::byte* p = out.data();
  move_echo_body(icmp->bytes(), p + 44);
  write_ipv6_header(p, static_cast<std::uint16_t>(icmp_size),
                    static_cast<std::uint8_t>(IpProtocol::icmpv6), kReplyHopLimit, src, dst);
  store8(p + 40, static_cast<std::uint8_t>(Icmpv6Type::echo_reply));
  store8(p + 41, 0);
  store16(p + 42, 0);
  store16(p + 42, transport_checksum(src, dst, 58, {p + 40, icmp_size}));
  return total;
}

BuildResult build_echo_reply(const IpPacket& request, std::span<std::byte> out) noexcept {
  return request.version() == 4 ? build_icmp_echo_reply(request, out)
                                : build_icmpv6_echo_reply(request, out);
}

BuildResult build_echo_reply(const Frame& request, std::span<std::byte> out) noexcept {
  const IpPacket* ip = request.ip();
  if (ip == nullptr) return BuildError{BuildReason::not_echo_request};
  const EthernetView& eth = request.ethernet();
  const std::size_t header = eth.header_length();
  const MacAddress src = eth.dst(), dst = eth.src();
  const auto vlan = eth.vlan();
  const std::uint16_t ethertype = eth.ethertype();
  if (out.size() < header) {
    // Find out how much the IP part needs without writing anything.
    auto probe = build_echo_reply(*ip, {});
    if (!probe && probe.error().reason != BuildReason::buffer_too_small) return probe.error();
    return too_small(header + probe.error().needed);
  }
  auto inner = build_echo_reply(*ip, out.subspan(header));
  if (!inner) {
    BuildError e = inner.error();
    if (e.reason == BuildReason::buffer_too_small) e.needed += header;
    return e;
  }
  write_ethernet(out.data(), dst, src, vlan, ethertype);
  return header + *inner;
}

BuildResult build_arp_reply(const Frame& request, const MacAddress& our_mac,
                            std::span<std::byte> out) noexcept {
  const ArpView* arp = request.arp();
  if (arp == nullptr || arp->operation() != ArpView::request) {
    return BuildError{BuildReason::not_arp_request};
  }
  const EthernetView& eth = request.ethernet();
  const std::size_t header = eth.header_length();
  const std::size_t total = header + 28;
  if (out.size() < total) return too_small(total);

  const MacAddress asker_mac = arp->sender_mac();
  const IpAddress asker_ip = arp->sender_ip(), wanted_ip = arp->target_ip();
  const auto vlan = eth.vlan();
  std::byte* p = out.data();
  write_ethernet(p, asker_mac, our_mac, vlan, detail::field(EtherType::arp));
  std::byte* a = p + header;
  store16(a, 1);
  store16(a + 2, detail::field(EtherType::ipv4));
  store8(a + 4, 6);
  store8(a + 5, 4);
  store16(a + 6, ArpView::reply);
  detail::store_mac(a + 8, our_mac);
  detail::store_ip(a + 14, wanted_ip, 4);
  detail::store_mac(a + 18, asker_mac);
  detail::store_ip(a + 24, asker_ip, 4);
  return total;
}

BuildResult build_neighbor_advertisement(const Frame& request, const MacAddress& our_mac,
                                         std::span<std::byte> out) noexcept {
  const BuildError invalid{BuildReason::not_neighbor_solicitation};
  const IpPacket* ip = request.ip();
  if (ip == nullptr || ip->ipv6() == nullptr || ip->icmpv6() == nullptr) return invalid;
  const Ipv6View& ip6 = *ip->ipv6();
  const Icmpv6View& ns = *ip->icmpv6();
  const std::span<const std::byte> msg = ns.bytes();
  // RFC 4861 section 7.1.1 validity checks (the checksum is the caller's business).
  if (ns.type() != Icmpv6Type::neighbor_solicitation || ns.code() != 0 || ip6.hop_limit() != 255 ||
      msg.size() < 24) {
    return invalid;
  }
  const IpAddress target = detail::load_ipv6(msg.data() + 8);
  if (is_ipv6_multicast(target)) return invalid;
  std::optional<MacAddress> source_mac;
  for (std::size_t off = 24; off < msg.size();) {
    if (msg.size() - off < 2) return invalid;
    const std::size_t len = std::size_t{8} * load8(msg.data() + off + 1);
    if (len == 0 || len > msg.size() - off) return invalid;
    if (load8(msg.data() + off) == 1 && len == 8)
      source_mac = detail::load_mac(msg.data() + off + 2);
    off += len;
  }
  const bool dad = is_unspecified(ip6.src());  // duplicate address detection (RFC 4862)
  if (dad && source_mac) return invalid;

  const EthernetView& eth = request.ethernet();
  const std::size_t header = eth.header_length();
  const std::size_t total = header + 40 + 32;
  if (out.size() < total) return too_small(total);

  static constexpr std::array<std::uint8_t, 16> kAllNodes{0xFF, 0x02, 0, 0, 0, 0, 0, 0,
                                                          0,    0,    0, 0, 0, 0, 0, 1};
  const IpAddress dst_ip = dad ? IpAddress::v6(kAllNodes) : ip6.src();
  const MacAddress dst_mac =
      dad ? MacAddress{{0x33, 0x33, 0, 0, 0, 1}} : source_mac.value_or(eth.src());
  const auto vlan = eth.vlan();

  std::byte* p = out.data();
  write_ethernet(p, dst_mac, our_mac, vlan, detail::field(EtherType::ipv6));
  std::byte* v6 = p + header;
  write_ipv6_header(v6, 32, static_cast<std::uint8_t>(IpProtocol::icmpv6), 255, target, dst_ip);
  std::byte* na = v6 + 40;
  store8(na, static_cast<std::uint8_t>(Icmpv6Type::neighbor_advertisement));
  store8(na + 1, 0);
  store16(na + 2, 0);
  // Flags: R (0x80) clear, S (0x40) unless answering DAD, O (0x20) set; 29 reserved bits.
  store32(na + 4, (dad ? 0U : 0x40000000U) | 0x20000000U);
  detail::store_ip(na + 8, target, 16);
  store8(na + 24, 2);  // target link-layer address option, 1 unit of 8 bytes
  store8(na + 25, 1);
  detail::store_mac(na + 26, our_mac);
  store16(na + 2, transport_checksum(target, dst_ip, 58, {na, 32}));
  return total;
}

}  // namespace tunkit
