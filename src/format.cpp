#include "tunkit/format.hpp"

#include <algorithm>
#include <array>
#include <optional>

namespace tunkit {
namespace {

using Out = fmt::format_context::iterator;

std::string_view protocol_name(IpProtocol p) noexcept {
  switch (p) {
    case IpProtocol::tcp:
      return "TCP";
    case IpProtocol::udp:
      return "UDP";
    case IpProtocol::icmp:
      return "ICMP";
    case IpProtocol::icmpv6:
      return "ICMP6";
    case IpProtocol::esp:
      return "ESP";
    default:
      return {};
  }
}

// "UDP", or "ip-proto-47" for a protocol without a name here (tcpdump's spelling).
Out write_protocol(Out out, IpProtocol p) {
  const std::string_view name = protocol_name(p);
  if (!name.empty()) return fmt::format_to(out, "{}", name);
  return fmt::format_to(out, "ip-proto-{}", static_cast<unsigned>(p));
}

// "proto UDP (17)" / "proto unknown (47)", as tcpdump -v.
Out write_protocol_number(Out out, IpProtocol p) {
  const std::string_view name = protocol_name(p);
  return fmt::format_to(out, "proto {} ({})", name.empty() ? "unknown" : name,
                        static_cast<unsigned>(p));
}

// One line per 16 bytes: "\t0x0010:  4500 0054 ...". Each line is assembled in a small array and
// copied out in one go: a per-byte format_to would dominate the cost of dumping a 64 KiB packet.
Out write_hex(Out out, std::span<const std::byte> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t line = 0; line < bytes.size(); line += 16) {
    if (line != 0) *out++ = '\n';
    out = fmt::format_to(out, "\t0x{:04x}: ", line);
    std::array<char, 16 * 2 + 8> text{};
    std::size_t n = 0;
    const std::size_t end = std::min(bytes.size(), line + 16);
    for (std::size_t i = line; i < end; ++i) {
      if ((i - line) % 2 == 0) text[n++] = ' ';
      const auto b = std::to_integer<unsigned>(bytes[i]);
      text[n++] = kHex[b >> 4];
      text[n++] = kHex[b & 0x0FU];
    }
    out = std::copy_n(text.data(), n, out);
  }
  return out;
}

Out finish(Out out, const detail::PacketFormatSpec& spec, std::span<const std::byte> bytes) {
  if (spec.hex && !bytes.empty()) {
    *out++ = '\n';
    out = write_hex(out, bytes);
  }
  return out;
}

// --- TCP ---------------------------------------------------------------------------------------

Out write_tcp_flags(Out out, TcpFlags flags) {
  static constexpr std::pair<TcpFlag, char> kLetters[] = {
      {TcpFlag::fin, 'F'}, {TcpFlag::syn, 'S'}, {TcpFlag::rst, 'R'}, {TcpFlag::psh, 'P'},
      {TcpFlag::ack, '.'}, {TcpFlag::urg, 'U'}, {TcpFlag::ece, 'E'}, {TcpFlag::cwr, 'W'},
  };
  out = fmt::format_to(out, "Flags [");
  if (flags.bits() == 0) out = fmt::format_to(out, "none");
  for (const auto& [flag, letter] : kLetters) {
    if (flags.has(flag)) *out++ = letter;
  }
  *out++ = ']';
  return out;
}

// Options were validated by TcpView::parse, so every length byte read here is in bounds.
Out write_tcp_options(Out out, std::span<const std::byte> options) {
  if (options.empty()) return out;
  out = fmt::format_to(out, ", options [");
  std::size_t i = 0;
  bool first = true;
  while (i < options.size()) {
    if (!first) *out++ = ',';
    first = false;
    const std::uint8_t kind = detail::load8(&options[i]);
    if (kind == 0) {
      out = fmt::format_to(out, "eol");
      break;
    }
    if (kind == 1) {
      out = fmt::format_to(out, "nop");
      ++i;
      continue;
    }
    const std::size_t len = detail::load8(&options[i + 1]);
    const std::byte* d = &options[i + 2];
    if (kind == 2 && len == 4) {
      out = fmt::format_to(out, "mss {}", detail::load16(d));
    } else if (kind == 3 && len == 3) {
      out = fmt::format_to(out, "wscale {}", detail::load8(d));
    } else if (kind == 4 && len == 2) {
      out = fmt::format_to(out, "sackOK");
    } else if (kind == 5 && (len - 2) % 8 == 0) {
      out = fmt::format_to(out, "sack {}", (len - 2) / 8);
      for (std::size_t b = 0; b + 8 <= len - 2; b += 8) {
        out = fmt::format_to(out, " {{{}:{}}}", detail::load32(d + b), detail::load32(d + b + 4));
      }
    } else if (kind == 8 && len == 10) {
      out = fmt::format_to(out, "TS val {} ecr {}", detail::load32(d), detail::load32(d + 4));
    } else {
      out = fmt::format_to(out, "opt-{}", kind);
    }
    i += len;
  }
  *out++ = ']';
  return out;
}

// "Flags [P.], seq 1:101, ack 5, win 502, length 100"
Out write_tcp_body(Out out, const TcpView& tcp) {
  const TcpFlags flags = tcp.flags();
  const std::size_t length = tcp.payload().size();
  out = write_tcp_flags(out, flags);
  if (length > 0) {
    out =
        fmt::format_to(out, ", seq {}:{}", tcp.seq(),
                       static_cast<std::uint32_t>(tcp.seq() + static_cast<std::uint32_t>(length)));
  } else if ((flags.bits() & (TcpFlags(TcpFlag::syn) | TcpFlag::fin | TcpFlag::rst).bits()) != 0) {
    out = fmt::format_to(out, ", seq {}", tcp.seq());
  }
  if (flags.has(TcpFlag::ack)) out = fmt::format_to(out, ", ack {}", tcp.ack());
  out = fmt::format_to(out, ", win {}", tcp.window());
  if (flags.has(TcpFlag::urg)) out = fmt::format_to(out, ", urg {}", tcp.urgent_pointer());
  out = write_tcp_options(out, tcp.options());
  return fmt::format_to(out, ", length {}", length);
}

// --- ICMP --------------------------------------------------------------------------------------

std::string_view icmp_name(IcmpType t) noexcept {
  switch (t) {
    case IcmpType::echo_reply:
      return "echo reply";
    case IcmpType::destination_unreachable:
      return "destination unreachable";
    case IcmpType::redirect:
      return "redirect";
    case IcmpType::echo_request:
      return "echo request";
    case IcmpType::time_exceeded:
      return "time exceeded";
    case IcmpType::parameter_problem:
      return "parameter problem";
  }
  return {};
}

std::string_view icmpv6_name(Icmpv6Type t) noexcept {
  switch (t) {
    case Icmpv6Type::destination_unreachable:
      return "destination unreachable";
    case Icmpv6Type::packet_too_big:
      return "packet too big";
    case Icmpv6Type::time_exceeded:
      return "time exceeded";
    case Icmpv6Type::parameter_problem:
      return "parameter problem";
    case Icmpv6Type::echo_request:
      return "echo request";
    case Icmpv6Type::echo_reply:
      return "echo reply";
    case Icmpv6Type::router_solicitation:
      return "router solicitation";
    case Icmpv6Type::router_advertisement:
      return "router advertisement";
    case Icmpv6Type::neighbor_solicitation:
      return "neighbor solicitation";
    case Icmpv6Type::neighbor_advertisement:
      return "neighbor advertisement";
    case Icmpv6Type::redirect:
      return "redirect";
  }
  return {};
}

// "ICMP echo request, id 7, seq 1, length 64"
Out write_icmp_body(Out out, const IcmpView& icmp) {
  const IcmpType t = icmp.type();
  const std::string_view name = icmp_name(t);
  if (t == IcmpType::echo_request || t == IcmpType::echo_reply) {
    out = fmt::format_to(out, "ICMP {}, id {}, seq {}", name, icmp.identifier(), icmp.sequence());
  } else if (!name.empty()) {
    out = fmt::format_to(out, "ICMP {}, code {}", name, icmp.code());
  } else {
    out = fmt::format_to(out, "ICMP type {}, code {}", static_cast<unsigned>(t), icmp.code());
  }
  return fmt::format_to(out, ", length {}", icmp.bytes().size());
}

// "ICMP6, echo request, id 7, seq 1, length 64"
Out write_icmpv6_body(Out out, const Icmpv6View& icmp) {
  const Icmpv6Type t = icmp.type();
  const std::string_view name = icmpv6_name(t);
  if (t == Icmpv6Type::echo_request || t == Icmpv6Type::echo_reply) {
    out = fmt::format_to(out, "ICMP6, {}, id {}, seq {}", name, icmp.identifier(), icmp.sequence());
  } else if (const auto target = icmp.nd_target()) {
    out = fmt::format_to(out, "ICMP6, {}, {} {}", name,
                         t == Icmpv6Type::neighbor_solicitation ? "who has" : "tgt is", *target);
  } else if (t == Icmpv6Type::packet_too_big) {
    out = fmt::format_to(out, "ICMP6, {}, mtu {}", name, icmp.rest_of_header());
  } else if (!name.empty()) {
    out = fmt::format_to(out, "ICMP6, {}, code {}", name, icmp.code());
  } else {
    out = fmt::format_to(out, "ICMP6, type {}, code {}", static_cast<unsigned>(t), icmp.code());
  }
  return fmt::format_to(out, ", length {}", icmp.bytes().size());
}

// --- IP ----------------------------------------------------------------------------------------

Out write_ip_packet(Out out, const IpPacket& pkt) {
  const std::string_view ip = pkt.version() == 4 ? "IP" : "IP6";
  const IpAddress src = pkt.src(), dst = pkt.dst();
  if (const TcpView* tcp = pkt.tcp()) {
    out = fmt::format_to(out, "{} {}.{} > {}.{}: ", ip, src, tcp->src_port(), dst, tcp->dst_port());
    return write_tcp_body(out, *tcp);
  }
  if (const UdpView* udp = pkt.udp()) {
    return fmt::format_to(out, "{} {}.{} > {}.{}: UDP, length {}", ip, src, udp->src_port(), dst,
                          udp->dst_port(), udp->payload().size());
  }
  out = fmt::format_to(out, "{} {} > {}: ", ip, src, dst);
  if (const IcmpView* icmp = pkt.icmp()) return write_icmp_body(out, *icmp);
  if (const Icmpv6View* icmp = pkt.icmpv6()) return write_icmpv6_body(out, *icmp);
  out = write_protocol(out, pkt.protocol());
  if (pkt.is_fragment()) {
    std::uint32_t id = 0, offset = 0;
    bool more = false;
    if (const Ipv4View* v4 = pkt.ipv4()) {
      id = v4->identification();
      offset = v4->fragment_offset();
      more = v4->more_fragments();
    } else if (const auto frag = pkt.ipv6()->fragment()) {
      id = frag->identification;
      offset = frag->offset;
      more = frag->more;
    }
    out = fmt::format_to(out, " fragment, id {}, offset {}{}", id, offset, more ? ", more" : "");
  }
  return fmt::format_to(out, ", length {}", pkt.transport_bytes().size());
}

// --- Ethernet, ARP -------------------------------------------------------------------------------

std::string_view ethertype_name(std::uint16_t type) noexcept {
  switch (static_cast<EtherType>(type)) {
    case EtherType::ipv4:
      return "IPv4";
    case EtherType::arp:
      return "ARP";
    case EtherType::ipv6:
      return "IPv6";
    case EtherType::vlan:
      return "802.1Q";
    case EtherType::qinq:
      return "802.1Q-QinQ";
  }
  return "Unknown";
}

Out write_ethernet(Out out, const EthernetView& eth) {
  out = fmt::format_to(out, "{} > {}, ", eth.src(), eth.dst());
  if (const auto vlan = eth.vlan()) {
    out =
        fmt::format_to(out, "ethertype {} ({:#06x}), vlan {}, p {}{}, ", ethertype_name(vlan->tpid),
                       vlan->tpid, vlan->id, vlan->priority, vlan->drop_eligible ? ", DEI" : "");
  }
  return fmt::format_to(out, "ethertype {} ({:#06x}), length {}", ethertype_name(eth.ethertype()),
                        eth.ethertype(), eth.bytes().size());
}

Out write_arp(Out out, const ArpView& arp) {
  switch (arp.operation()) {
    case ArpView::request:
      out =
          fmt::format_to(out, "ARP, Request who-has {} tell {}", arp.target_ip(), arp.sender_ip());
      break;
    case ArpView::reply:
      out = fmt::format_to(out, "ARP, Reply {} is-at {}", arp.sender_ip(), arp.sender_mac());
      break;
    default:
      out = fmt::format_to(out, "ARP, opcode {}", arp.operation());
      break;
  }
  return fmt::format_to(out, ", length {}", arp.bytes().size());
}

}  // namespace
}  // namespace tunkit

using tunkit::finish;

fmt::format_context::iterator fmt::formatter<tunkit::EthernetView>::format(
    const tunkit::EthernetView& v, fmt::format_context& ctx) const {
  return finish(tunkit::write_ethernet(ctx.out(), v), *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::ArpView>::format(
    const tunkit::ArpView& v, fmt::format_context& ctx) const {
  return finish(tunkit::write_arp(ctx.out(), v), *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::Ipv4View>::format(
    const tunkit::Ipv4View& v, fmt::format_context& ctx) const {
  auto out = fmt::format_to(ctx.out(), "IP {} > {}: ", v.src(), v.dst());
  out = tunkit::write_protocol_number(out, v.protocol());
  out = fmt::format_to(out, ", ttl {}, id {}", v.ttl(), v.identification());
  if (v.is_fragment()) {
    out = fmt::format_to(out, ", fragment offset {}{}", v.fragment_offset(),
                         v.more_fragments() ? ", more" : "");
  }
  out = fmt::format_to(out, ", length {}", v.total_length());
  return finish(out, *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::Ipv6View>::format(
    const tunkit::Ipv6View& v, fmt::format_context& ctx) const {
  auto out = fmt::format_to(ctx.out(), "IP6 {} > {}: ", v.src(), v.dst());
  out = tunkit::write_protocol_number(out, v.upper_protocol());
  out = fmt::format_to(out, ", hlim {}", v.hop_limit());
  if (const auto frag = v.fragment(); frag && v.is_fragment()) {
    out = fmt::format_to(out, ", fragment id {}, offset {}{}", frag->identification, frag->offset,
                         frag->more ? ", more" : "");
  }
  out = fmt::format_to(out, ", length {}", v.payload_length());
  return finish(out, *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::TcpView>::format(
    const tunkit::TcpView& v, fmt::format_context& ctx) const {
  auto out = fmt::format_to(ctx.out(), "TCP {} > {}: ", v.src_port(), v.dst_port());
  return finish(tunkit::write_tcp_body(out, v), *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::UdpView>::format(
    const tunkit::UdpView& v, fmt::format_context& ctx) const {
  auto out = fmt::format_to(ctx.out(), "UDP {} > {}, length {}", v.src_port(), v.dst_port(),
                            v.payload().size());
  return finish(out, *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::IcmpView>::format(
    const tunkit::IcmpView& v, fmt::format_context& ctx) const {
  return finish(tunkit::write_icmp_body(ctx.out(), v), *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::Icmpv6View>::format(
    const tunkit::Icmpv6View& v, fmt::format_context& ctx) const {
  return finish(tunkit::write_icmpv6_body(ctx.out(), v), *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::IpPacket>::format(
    const tunkit::IpPacket& v, fmt::format_context& ctx) const {
  return finish(tunkit::write_ip_packet(ctx.out(), v), *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::Frame>::format(
    const tunkit::Frame& v, fmt::format_context& ctx) const {
  auto out = tunkit::write_ethernet(ctx.out(), v.ethernet());
  if (const tunkit::ArpView* arp = v.arp()) {
    out = tunkit::write_arp(fmt::format_to(out, ": "), *arp);
  } else if (const tunkit::IpPacket* ip = v.ip()) {
    out = tunkit::write_ip_packet(fmt::format_to(out, ": "), *ip);
  }
  return finish(out, *this, v.bytes());
}

fmt::format_context::iterator fmt::formatter<tunkit::HexDump>::format(
    const tunkit::HexDump& v, fmt::format_context& ctx) const {
  return tunkit::write_hex(ctx.out(), v.bytes);
}
