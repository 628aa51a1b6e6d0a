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

}  // namespace

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
