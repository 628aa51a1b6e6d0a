#include "tunkit/packet.hpp"

#include <fmt/format.h>

#include <cstring>

#include "tunkit/checksum.hpp"

namespace tunkit {

// ---------------------------------------------------------------------------------------------
// Names and messages

std::string_view to_string(Layer layer) noexcept {
  switch (layer) {
    case Layer::ethernet:
      return "Ethernet";
    case Layer::arp:
      return "ARP";
    case Layer::ip:
      return "IP";
    case Layer::ipv4:
      return "IPv4";
    case Layer::ipv6:
      return "IPv6";
    case Layer::tcp:
      return "TCP";
    case Layer::udp:
      return "UDP";
    case Layer::icmp:
      return "ICMP";
    case Layer::icmpv6:
      return "ICMPv6";
  }
  return "?";
}

std::string_view to_string(ParseReason reason) noexcept {
  switch (reason) {
    case ParseReason::truncated:
      return "truncated";
    case ParseReason::bad_version:
      return "bad version";
    case ParseReason::bad_header_length:
      return "bad header length";
    case ParseReason::header_beyond_buffer:
      return "header beyond buffer";
    case ParseReason::total_length_too_small:
      return "total length below header length";
    case ParseReason::total_length_beyond_buffer:
      return "total length beyond buffer";
    case ParseReason::payload_beyond_buffer:
      return "payload length beyond buffer";
    case ParseReason::bad_data_offset:
      return "bad data offset";
    case ParseReason::bad_length:
      return "bad length";
    case ParseReason::length_beyond_buffer:
      return "length beyond buffer";
    case ParseReason::bad_option:
      return "malformed option";
    case ParseReason::extension_truncated:
      return "extension header truncated";
    case ParseReason::hop_by_hop_not_first:
      return "hop-by-hop options header not first";
    case ParseReason::unsupported_hardware:
      return "unsupported hardware type";
    case ParseReason::unsupported_protocol:
      return "unsupported protocol type";
    case ParseReason::bad_address_length:
      return "unsupported address lengths";
  }
  return "unknown error";
}

std::string to_string(const ParseError& e) {
  const std::string_view layer = to_string(e.layer);
  switch (e.reason) {
    case ParseReason::truncated:
      return fmt::format("{}: truncated ({} bytes, header needs {})", layer, e.value, e.limit);
    case ParseReason::bad_version:
      return fmt::format("{}: bad version {}", layer, e.value);
    case ParseReason::bad_header_length:
      return fmt::format("{}: bad header length {} (minimum 20)", layer, e.value);
    case ParseReason::header_beyond_buffer:
      return fmt::format("{}: header length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::total_length_too_small:
      return fmt::format("{}: total length {} below header length {}", layer, e.value, e.limit);
    case ParseReason::total_length_beyond_buffer:
      return fmt::format("{}: total length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::payload_beyond_buffer:
      return fmt::format("{}: payload length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::bad_data_offset:
      return fmt::format("{}: bad data offset {} bytes (minimum 20)", layer, e.value);
    case ParseReason::bad_length:
      return fmt::format("{}: bad length {} (minimum 8)", layer, e.value);
    case ParseReason::length_beyond_buffer:
      return fmt::format("{}: length {} beyond buffer {}", layer, e.value, e.limit);
    case ParseReason::bad_option:
      return fmt::format("{}: malformed option at offset {}", layer, e.value);
    case ParseReason::extension_truncated:
      return fmt::format("{}: extension header at offset {} runs past the end ({})", layer, e.value,
                         e.limit);
    case ParseReason::hop_by_hop_not_first:
      return fmt::format("{}: hop-by-hop options header at offset {} (allowed only first)", layer,
                         e.value);
    case ParseReason::unsupported_hardware:
      return fmt::format("{}: unsupported hardware type {}", layer, e.value);
    case ParseReason::unsupported_protocol:
      return fmt::format("{}: unsupported protocol type {:#06x}", layer, e.value);
    case ParseReason::bad_address_length:
      return fmt::format("{}: unsupported address lengths {}/{}", layer, e.value, e.limit);
  }
  return fmt::format("{}: {}", layer, to_string(e.reason));
}

std::string to_string(const BuildError& e) {
  switch (e.reason) {
    case BuildReason::buffer_too_small:
      return fmt::format("output buffer too small (need {} bytes)", e.needed);
    case BuildReason::not_echo_request:
      return "not an echo request";
    case BuildReason::not_arp_request:
      return "not an ARP request";
    case BuildReason::not_neighbor_solicitation:
      return "not a valid neighbor solicitation";
    case BuildReason::multicast_destination:
      return "echo request to a multicast address";
  }
  return "unknown error";
}

// ---------------------------------------------------------------------------------------------
// Byte helpers

namespace detail {

MacAddress load_mac(const std::byte* p) noexcept {
  std::array<std::uint8_t, 6> b;
  std::memcpy(b.data(), p, b.size());
  return MacAddress{b};  // braces: clang 14 has no aggregate ()-init
}

IpAddress load_ipv4(const std::byte* p) noexcept {
  std::array<std::uint8_t, 4> b;
  std::memcpy(b.data(), p, b.size());
  return IpAddress::v4(b);
}

IpAddress load_ipv6(const std::byte* p) noexcept {
  std::array<std::uint8_t, 16> b;
  std::memcpy(b.data(), p, b.size());
  return IpAddress::v6(b);
}

void store_mac(std::byte* p, const MacAddress& mac) noexcept {
  std::memcpy(p, mac.bytes.data(), mac.bytes.size());
}

void store_ip(std::byte* p, const IpAddress& address, std::size_t size) noexcept {
  const auto b = address.bytes();
  if (b.size() == size) std::memcpy(p, b.data(), size);
}

}  // namespace detail

namespace {

using detail::load16;
using detail::load32;
using detail::load8;
using detail::store16;
using detail::store32;
using detail::store8;

constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherArp = 0x0806;
constexpr std::uint16_t kEtherIpv6 = 0x86DD;
constexpr std::uint16_t kEtherVlan = 0x8100;
constexpr std::uint16_t kEtherQinq = 0x88A8;

ParseError error(Layer layer, ParseReason reason, std::size_t value = 0, std::size_t limit = 0) {
  // Every number a parser reports is bounded by a span size; clamp rather than wrap if a caller
  // hands us more than 4 GiB.
  const auto clamp = [](std::size_t v) {
    return static_cast<std::uint32_t>(v > 0xFFFFFFFFU ? 0xFFFFFFFFU : v);
  };
  return {layer, reason, clamp(value), clamp(limit)};
}

// Validates IPv4 and TCP option lists, which share one layout (RFC 791 section 3.1, RFC 9293
// section 3.1): kind 0 ends the list, kind 1 is one byte of padding, every other kind has a
// length byte counting itself and the kind (>= 2) that must stay inside the header. Returns the
// offset (from the start of `options`) of the first malformed option, or nullopt.
std::optional<std::size_t> check_options(std::span<const std::byte> options) noexcept {
  std::size_t i = 0;
  while (i < options.size()) {
    const std::uint8_t kind = load8(&options[i]);
    if (kind == 0) break;
    if (kind == 1) {
      ++i;
      continue;
    }
    if (i + 1 >= options.size()) return i;
    const std::size_t len = load8(&options[i + 1]);
    if (len < 2 || len > options.size() - i) return i;
    i += len;
  }
  return std::nullopt;
}

// Finds an option in a list that `check_options` accepted.
std::optional<std::span<const std::byte>> find_option(std::span<const std::byte> options,
                                                      std::uint8_t wanted) noexcept {
  std::size_t i = 0;
  while (i < options.size()) {
    const std::uint8_t kind = load8(&options[i]);
    const std::size_t len = kind <= 1 ? 1 : load8(&options[i + 1]);
    if (kind == wanted) return options.subspan(i, len);
    if (kind == 0) break;
    i += len;
  }
  return std::nullopt;
}

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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Ethernet, ARP

ParseResult<EthernetView> EthernetView::parse(std::span<const std::byte> frame) noexcept {
  if (frame.size() < 14) return error(Layer::ethernet, ParseReason::truncated, frame.size(), 14);
  const std::uint16_t type = load16(frame.data() + 12);
  const bool tagged = type == kEtherVlan || type == kEtherQinq;
  if (tagged && frame.size() < 18) {
    return error(Layer::ethernet, ParseReason::truncated, frame.size(), 18);
  }
  return EthernetView(frame, tagged);
}

std::optional<VlanTag> EthernetView::vlan() const noexcept {
  if (!tagged_) return std::nullopt;
  const std::uint16_t tci = load16(bytes_.data() + 14);
  return VlanTag{load16(bytes_.data() + 12), static_cast<std::uint8_t>(tci >> 13),
                 (tci & 0x1000U) != 0, static_cast<std::uint16_t>(tci & 0x0FFFU)};
}

ParseResult<MutableEthernetView> MutableEthernetView::parse(std::span<std::byte> frame) noexcept {
  auto v = EthernetView::parse(frame);
  if (!v) return v.error();
  return MutableEthernetView(*v, frame.data());
}

ParseResult<ArpView> ArpView::parse(std::span<const std::byte> message) noexcept {
  if (message.size() < 28) return error(Layer::arp, ParseReason::truncated, message.size(), 28);
  const std::byte* p = message.data();
  if (load16(p) != 1) return error(Layer::arp, ParseReason::unsupported_hardware, load16(p));
  if (load16(p + 2) != kEtherIpv4) {
    return error(Layer::arp, ParseReason::unsupported_protocol, load16(p + 2));
  }
  if (load8(p + 4) != 6 || load8(p + 5) != 4) {
    return error(Layer::arp, ParseReason::bad_address_length, load8(p + 4), load8(p + 5));
  }
  return ArpView(p);
}

ParseResult<MutableArpView> MutableArpView::parse(std::span<std::byte> message) noexcept {
  auto v = ArpView::parse(message);
  if (!v) return v.error();
  return MutableArpView(*v, message.data());
}

// ---------------------------------------------------------------------------------------------
// IPv4

ParseResult<Ipv4View> Ipv4View::parse(std::span<const std::byte> packet) noexcept {
  if (!packet.empty() && (load8(packet.data()) >> 4) != 4) {
    return error(Layer::ipv4, ParseReason::bad_version, load8(packet.data()) >> 4);
  }
  if (packet.size() < 20) return error(Layer::ipv4, ParseReason::truncated, packet.size(), 20);
  const std::size_t header = std::size_t{4} * (load8(packet.data()) & 0x0FU);
  if (header < 20) return error(Layer::ipv4, ParseReason::bad_header_length, header, 20);
  if (header > packet.size()) {
    return error(Layer::ipv4, ParseReason::header_beyond_buffer, header, packet.size());
  }
  const std::size_t total = load16(packet.data() + 2);
  if (total < header) {
    return error(Layer::ipv4, ParseReason::total_length_too_small, total, header);
  }
  if (total > packet.size()) {
    return error(Layer::ipv4, ParseReason::total_length_beyond_buffer, total, packet.size());
  }
  if (auto bad = check_options(packet.subspan(20, header - 20))) {
    return error(Layer::ipv4, ParseReason::bad_option, 20 + *bad);
  }
  return Ipv4View(packet.first(total));
}

std::optional<std::span<const std::byte>> Ipv4View::option(std::uint8_t type) const noexcept {
  return find_option(options(), type);
}

ParseResult<MutableIpv4View> MutableIpv4View::parse(std::span<std::byte> packet) noexcept {
  auto v = Ipv4View::parse(packet);
  if (!v) return v.error();
  return MutableIpv4View(*v, packet.data());
}

void MutableIpv4View::update_checksum() noexcept {
  set_checksum(ipv4_header_checksum(*this));
}

// ---------------------------------------------------------------------------------------------
// IPv6

ParseResult<Ipv6View> Ipv6View::parse(std::span<const std::byte> packet) noexcept {
  if (!packet.empty() && (load8(packet.data()) >> 4) != 6) {
    return error(Layer::ipv6, ParseReason::bad_version, load8(packet.data()) >> 4);
  }
  if (packet.size() < 40) return error(Layer::ipv6, ParseReason::truncated, packet.size(), 40);
  const std::size_t payload = load16(packet.data() + 4);
  if (payload > packet.size() - 40) {
    return error(Layer::ipv6, ParseReason::payload_beyond_buffer, payload, packet.size() - 40);
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
    std::size_t len = 0;
    switch (static_cast<IpProtocol>(next)) {
      case IpProtocol::hop_by_hop:
      case IpProtocol::routing:
      case IpProtocol::dest_opts:
        if (next == 0 && off != 40) {
          return error(Layer::ipv6, ParseReason::hop_by_hop_not_first, off);
        }
        if (end - off < 2) return error(Layer::ipv6, ParseReason::extension_truncated, off, end);
        len = 8 * (std::size_t{load8(p + off + 1)} + 1);
        break;
      case IpProtocol::ah:  // RFC 4302: length in 4-byte units, minus 2
        if (end - off < 2) return error(Layer::ipv6, ParseReason::extension_truncated, off, end);
        len = 4 * (std::size_t{load8(p + off + 1)} + 2);
        break;
      case IpProtocol::fragment:
        len = 8;
        break;
      default:
        v.upper_protocol_ = next;
        v.upper_offset_ = static_cast<std::uint32_t>(off);
        return v;
    }
    if (len > end - off) return error(Layer::ipv6, ParseReason::extension_truncated, off, end);
    const std::uint8_t following = load8(p + off);
    if (static_cast<IpProtocol>(next) == IpProtocol::fragment) {
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

void MutableIpv6View::set_traffic_class(std::uint8_t tc) noexcept {
  const std::uint32_t word = load32(data_);
  store32(data_, (word & 0xF00FFFFFU) | (std::uint32_t{tc} << 20));
}

void MutableIpv6View::set_flow_label(std::uint32_t label) noexcept {
  const std::uint32_t word = load32(data_);
  store32(data_, (word & 0xFFF00000U) | (label & 0xFFFFFU));
}

// ---------------------------------------------------------------------------------------------
// TCP, UDP, ICMP, ICMPv6

ParseResult<TcpView> TcpView::parse(std::span<const std::byte> segment) noexcept {
  if (segment.size() < 20) return error(Layer::tcp, ParseReason::truncated, segment.size(), 20);
  const std::size_t header = std::size_t{4} * (load8(segment.data() + 12) >> 4);
  if (header < 20) return error(Layer::tcp, ParseReason::bad_data_offset, header, 20);
  if (header > segment.size()) {
    return error(Layer::tcp, ParseReason::header_beyond_buffer, header, segment.size());
  }
  if (auto bad = check_options(segment.subspan(20, header - 20))) {
    return error(Layer::tcp, ParseReason::bad_option, 20 + *bad);
  }
  return TcpView(segment);
}

std::optional<std::span<const std::byte>> TcpView::option(std::uint8_t kind) const noexcept {
  return find_option(options(), kind);
}

std::optional<std::uint16_t> TcpView::mss() const noexcept {
  const auto o = option(2);
  if (!o || o->size() != 4) return std::nullopt;
  return load16(o->data() + 2);
}

ParseResult<MutableTcpView> MutableTcpView::parse(std::span<std::byte> segment) noexcept {
  auto v = TcpView::parse(segment);
  if (!v) return v.error();
  return MutableTcpView(*v, segment.data());
}

ParseResult<UdpView> UdpView::parse(std::span<const std::byte> datagram) noexcept {
  if (datagram.size() < 8) return error(Layer::udp, ParseReason::truncated, datagram.size(), 8);
  const std::size_t length = load16(datagram.data() + 4);
  if (length < 8) return error(Layer::udp, ParseReason::bad_length, length, 8);
  if (length > datagram.size()) {
    return error(Layer::udp, ParseReason::length_beyond_buffer, length, datagram.size());
  }
  return UdpView(datagram.first(length));
}

ParseResult<MutableUdpView> MutableUdpView::parse(std::span<std::byte> datagram) noexcept {
  auto v = UdpView::parse(datagram);
  if (!v) return v.error();
  return MutableUdpView(*v, datagram.data());
}

ParseResult<IcmpView> IcmpView::parse(std::span<const std::byte> message) noexcept {
  if (message.size() < 8) return error(Layer::icmp, ParseReason::truncated, message.size(), 8);
  return IcmpView(message);
}

ParseResult<MutableIcmpView> MutableIcmpView::parse(std::span<std::byte> message) noexcept {
  auto v = IcmpView::parse(message);
  if (!v) return v.error();
  return MutableIcmpView(*v, message.data());
}

ParseResult<Icmpv6View> Icmpv6View::parse(std::span<const std::byte> message) noexcept {
  if (message.size() < 8) return error(Layer::icmpv6, ParseReason::truncated, message.size(), 8);
  return Icmpv6View(message);
}

std::optional<IpAddress> Icmpv6View::nd_target() const noexcept {
  const Icmpv6Type t = type();
  if ((t != Icmpv6Type::neighbor_solicitation && t != Icmpv6Type::neighbor_advertisement) ||
      bytes().size() < 24) {
    return std::nullopt;
  }
  return detail::load_ipv6(bytes().data() + 8);
}

ParseResult<MutableIcmpv6View> MutableIcmpv6View::parse(std::span<std::byte> message) noexcept {
  auto v = Icmpv6View::parse(message);
  if (!v) return v.error();
  return MutableIcmpv6View(*v, message.data());
}

// ---------------------------------------------------------------------------------------------
// Whole packets

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
  if (packet.empty()) return error(Layer::ip, ParseReason::truncated, 0, 20);
  IpPacket::Transport transport;
  switch (load8(packet.data()) >> 4) {
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
      return error(Layer::ip, ParseReason::bad_version, load8(packet.data()) >> 4);
  }
}

ParseResult<Frame> parse_frame(std::span<const std::byte> frame) noexcept {
  auto eth = EthernetView::parse(frame);
  if (!eth) return eth.error();
  const std::span<const std::byte> payload = eth->payload();
  switch (eth->ethertype()) {
    case kEtherArp: {
      auto arp = ArpView::parse(payload);
      if (!arp) return arp.error();
      return Frame(*eth, *arp);
    }
    case kEtherIpv4:
    case kEtherIpv6: {
      // The EtherType says which version to expect; a mismatch is reported against it.
      const bool v4 = eth->ethertype() == kEtherIpv4;
      const Layer layer = v4 ? Layer::ipv4 : Layer::ipv6;
      if (payload.empty()) return error(layer, ParseReason::truncated, 0, v4 ? 20 : 40);
      const unsigned version = load8(payload.data()) >> 4;
      if (version != (v4 ? 4U : 6U)) return error(layer, ParseReason::bad_version, version);
      auto ip = parse_ip(payload);
      if (!ip) return ip.error();
      return Frame(*eth, *ip);
    }
    default:
      return Frame(*eth, std::monostate{});
  }
}

// ---------------------------------------------------------------------------------------------
// Builders

namespace {

constexpr std::uint8_t kReplyHopLimit = 64;

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
  write_ethernet(p, asker_mac, our_mac, vlan, kEtherArp);
  std::byte* a = p + header;
  store16(a, 1);
  store16(a + 2, kEtherIpv4);
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
  write_ethernet(p, dst_mac, our_mac, vlan, kEtherIpv6);
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
