#include "tunkit/packet/ip_packet.hpp"

#include "packet/parse_helpers.hpp"

namespace tunkit {

// The IP view is one of two alternatives with the same accessors; std::visit picks it without a
// null check on either branch.
IpAddress IpPacket::src() const noexcept {
  return std::visit([](const auto& ip) { return ip.src(); }, ip_);
}

IpAddress IpPacket::dst() const noexcept {
  return std::visit([](const auto& ip) { return ip.dst(); }, ip_);
}

IpProtocol IpPacket::protocol() const noexcept {
  const Ipv4View* v4 = ipv4();
  return v4 != nullptr ? v4->protocol() : std::get<Ipv6View>(ip_).upper_protocol();
}

bool IpPacket::is_fragment() const noexcept {
  return std::visit([](const auto& ip) { return ip.is_fragment(); }, ip_);
}

std::span<const std::byte> IpPacket::transport_bytes() const noexcept {
  const Ipv4View* v4 = ipv4();
  return v4 != nullptr ? v4->payload() : std::get<Ipv6View>(ip_).upper_payload();
}

std::span<const std::byte> IpPacket::bytes() const noexcept {
  return std::visit([](const auto& ip) { return ip.bytes(); }, ip_);
}

namespace {

// Parses the transport header tunkit knows for `protocol`; `icmp_protocol` is the ICMP flavour
// that belongs to this IP version (ICMP in IPv6 or ICMPv6 in IPv4 is left unparsed).
template <class Transport>
std::optional<ParseError> parse_transport(IpProtocol protocol, IpProtocol icmp_protocol,
                                          std::span<const std::byte> bytes,
                                          Transport& out) noexcept {
  const auto take = [&](auto parsed) -> std::optional<ParseError> {
    if (!parsed) return parsed.error();
    out = *parsed;
    return std::nullopt;
  };
  switch (protocol) {
    case IpProtocol::tcp:
      return take(TcpView::parse(bytes));
    case IpProtocol::udp:
      return take(UdpView::parse(bytes));
    case IpProtocol::icmp:
      if (icmp_protocol == IpProtocol::icmp) return take(IcmpView::parse(bytes));
      return std::nullopt;
    case IpProtocol::icmpv6:
      if (icmp_protocol == IpProtocol::icmpv6) return take(Icmpv6View::parse(bytes));
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

}  // namespace

ParseResult<IpPacket> parse_ip(std::span<const std::byte> packet) noexcept {
  if (packet.empty()) return detail::parse_error(Layer::ip, ParseReason::truncated, 0, 20);
  IpPacket::Transport transport;
  switch (detail::load8(packet.data()) >> 4) {
    case 4: {
      auto ip = Ipv4View::parse(packet);
      if (!ip) return ip.error();
      if (!ip->is_fragment()) {
        if (auto e = parse_transport(ip->protocol(), IpProtocol::icmp, ip->payload(), transport)) {
          return *e;
        }
      }
      return IpPacket(*ip, transport);
    }
    case 6: {
      auto ip = Ipv6View::parse(packet);
      if (!ip) return ip.error();
      if (!ip->is_fragment()) {
        if (auto e = parse_transport(ip->upper_protocol(), IpProtocol::icmpv6, ip->upper_payload(),
                                     transport)) {
          return *e;
        }
      }
      return IpPacket(*ip, transport);
    }
    default:
      return detail::parse_error(Layer::ip, ParseReason::bad_version,
                                 detail::load8(packet.data()) >> 4);
  }
}

ParseResult<Frame> parse_frame(std::span<const std::byte> frame) noexcept {
  auto eth = EthernetView::parse(frame);
  if (!eth) return eth.error();
  const std::span<const std::byte> payload = eth->payload();
  switch (eth->ethertype()) {
    case detail::field(EtherType::arp): {
      auto arp = ArpView::parse(payload);
      if (!arp) return arp.error();
      return Frame(*eth, *arp);
    }
    case detail::field(EtherType::ipv4):
    case detail::field(EtherType::ipv6): {
      // The EtherType says which version to expect; a mismatch is reported against it.
      const bool v4 = eth->ethertype() == detail::field(EtherType::ipv4);
      const Layer layer = v4 ? Layer::ipv4 : Layer::ipv6;
      if (payload.empty())
        return detail::parse_error(layer, ParseReason::truncated, 0, v4 ? 20 : 40);
      const unsigned version = detail::load8(payload.data()) >> 4;
      if (version != (v4 ? 4U : 6U))
        return detail::parse_error(layer, ParseReason::bad_version, version);
      auto ip = parse_ip(payload);
      if (!ip) return ip.error();
      return Frame(*eth, *ip);
    }
    default:
      return Frame(*eth, std::monostate{});
  }
}

}  // namespace tunkit
