// Fuzzes the reply and request builders. Input: one control byte, then an IP packet or an
// Ethernet frame. The control byte picks the output buffer size (so "buffer too small" is
// exercised as well).
//
// Properties: whenever a reply builder succeeds, the reply re-parses, is the right kind of reply
// with the request's identifiers, carries valid checksums, and building in place (in the
// request's own buffer) gives exactly the same bytes. A builder that reports "buffer too small"
// succeeds with the size it asked for. An IP packet that is an echo request, a UDP datagram or a
// TCP SYN is built again by the request builder from its fields: the result re-parses with those
// fields and valid checksums.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "tunkit/packet.hpp"
#include "tunkit/packet/checksum.hpp"

#include "fuzz_check.hpp"

namespace {

constexpr tunkit::MacAddress kOurMac{{0x02, 0x00, 0x5e, 0x00, 0x53, 0x01}};

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void check_ip_reply(const tunkit::IpPacket& request, const tunkit::IpPacket& reply) {
  TUNKIT_FUZZ_CHECK(reply.version() == request.version());
  TUNKIT_FUZZ_CHECK(reply.src() == request.dst());
  TUNKIT_FUZZ_CHECK(reply.dst() == request.src());
  TUNKIT_FUZZ_CHECK(tunkit::transport_checksum_ok(reply));
  if (const auto* v4 = reply.ipv4()) {
    TUNKIT_FUZZ_CHECK(tunkit::ipv4_header_checksum_ok(*v4));
    const auto* icmp = reply.icmp();
    TUNKIT_FUZZ_CHECK(icmp != nullptr);
    TUNKIT_FUZZ_CHECK(icmp->type() == tunkit::IcmpType::echo_reply);
    TUNKIT_FUZZ_CHECK(icmp->identifier() == request.icmp()->identifier());
    TUNKIT_FUZZ_CHECK(icmp->sequence() == request.icmp()->sequence());
    TUNKIT_FUZZ_CHECK(same(icmp->payload(), request.icmp()->payload()));
  } else {
    const auto* icmp = reply.icmpv6();
    TUNKIT_FUZZ_CHECK(icmp != nullptr);
    TUNKIT_FUZZ_CHECK(icmp->type() == tunkit::Icmpv6Type::echo_reply);
    TUNKIT_FUZZ_CHECK(icmp->identifier() == request.icmpv6()->identifier());
    TUNKIT_FUZZ_CHECK(same(icmp->payload(), request.icmpv6()->payload()));
  }
}

// Runs `build(request, out)` out of place with the chosen size, then (on success) in place in a
// copy of the request, then (on "too small") again with the size asked for; returns the reply.
template <class Parse, class Build>
std::vector<std::byte> build_all_ways(std::span<const std::byte> packet, std::size_t out_size,
                                      Parse parse, Build build) {
  const auto request = parse(packet);
  if (!request) return {};
  std::vector<std::byte> out(out_size);
  auto r = build(*request, std::span(out));
  if (!r && r.error().reason == tunkit::BuildReason::buffer_too_small) {
    TUNKIT_FUZZ_CHECK(r.error().needed > out_size);
    out.assign(r.error().needed, std::byte{0});
    r = build(*request, std::span(out));
    TUNKIT_FUZZ_CHECK(r);
  }
  if (!r) return {};
  TUNKIT_FUZZ_CHECK(*r <= out.size());
  out.resize(*r);

  std::vector<std::byte> in_place(packet.begin(), packet.end());
  in_place.resize(std::max(in_place.size(), out.size()));
  const auto same_request = parse(std::span<const std::byte>(in_place).first(packet.size()));
  TUNKIT_FUZZ_CHECK(same_request);
  const auto n = build(*same_request, std::span(in_place));
  TUNKIT_FUZZ_CHECK(n && *n == out.size());
  TUNKIT_FUZZ_CHECK(same(std::span(in_place).first(*n), out));
  return out;
}

// Runs a request builder with `out_size` bytes, then (on "too small") with the size asked for;
// returns the packet built, re-parsed (or nothing when the builder refused the fields).
template <class Build>
std::optional<std::vector<std::byte>> build_request(std::size_t out_size, Build build) {
  std::vector<std::byte> out(out_size);
  auto r = build(std::span(out));
  if (!r && r.error().reason == tunkit::BuildReason::buffer_too_small) {
    TUNKIT_FUZZ_CHECK(r.error().needed > out_size);
    out.assign(r.error().needed, std::byte{0});
    r = build(std::span(out));
    TUNKIT_FUZZ_CHECK(r && *r == out.size());
  }
  if (!r) return std::nullopt;
  out.resize(*r);
  const auto again = tunkit::parse_ip(out);
  TUNKIT_FUZZ_CHECK(again);
  TUNKIT_FUZZ_CHECK(tunkit::transport_checksum_ok(*again));
  if (const auto* v4 = again->ipv4()) TUNKIT_FUZZ_CHECK(tunkit::ipv4_header_checksum_ok(*v4));
  return out;
}

// Builds the request `p` is (an echo request, a UDP datagram, a TCP SYN) again from its fields.
void check_requests(const tunkit::IpPacket& p, std::size_t out_size) {
  const auto* v4 = p.ipv4();
  const std::uint8_t ttl = v4 != nullptr ? v4->ttl() : p.ipv6()->hop_limit();
  const std::uint16_t id = v4 != nullptr ? v4->identification() : 0;
  const bool df = v4 != nullptr && v4->dont_fragment();
  const tunkit::IcmpView* icmp = p.icmp();
  const tunkit::Icmpv6View* icmp6 = p.icmpv6();
  if ((icmp != nullptr && icmp->type() == tunkit::IcmpType::echo_request) ||
      (icmp6 != nullptr && icmp6->type() == tunkit::Icmpv6Type::echo_request)) {
    const tunkit::detail::IcmpBase& m =
        icmp != nullptr ? static_cast<const tunkit::detail::IcmpBase&>(*icmp) : *icmp6;
    const tunkit::EchoRequest r{.src = p.src(),
                                .dst = p.dst(),
                                .identifier = m.identifier(),
                                .sequence = m.sequence(),
                                .data = m.payload(),
                                .ttl = ttl,
                                .identification = id,
                                .dont_fragment = df};
    const auto built = build_request(
        out_size, [&](std::span<std::byte> out) { return tunkit::build_echo_request(r, out); });
    TUNKIT_FUZZ_CHECK(built);
    const auto q = tunkit::parse_ip(*built);
    TUNKIT_FUZZ_CHECK(q->src() == p.src() && q->dst() == p.dst());
    const tunkit::detail::IcmpBase& n =
        q->icmp() != nullptr ? static_cast<const tunkit::detail::IcmpBase&>(*q->icmp())
                             : *q->icmpv6();
    TUNKIT_FUZZ_CHECK(n.identifier() == m.identifier() && n.sequence() == m.sequence());
    TUNKIT_FUZZ_CHECK(same(n.payload(), m.payload()));
  }
  if (const tunkit::UdpView* udp = p.udp()) {
    const tunkit::UdpDatagram d{.src = p.src(),
                                .dst = p.dst(),
                                .src_port = udp->src_port(),
                                .dst_port = udp->dst_port(),
                                .data = udp->payload(),
                                .ttl = ttl,
                                .identification = id,
                                .dont_fragment = df};
    const auto built = build_request(
        out_size, [&](std::span<std::byte> out) { return tunkit::build_udp_datagram(d, out); });
    TUNKIT_FUZZ_CHECK(built);
    const auto q = tunkit::parse_ip(*built);
    TUNKIT_FUZZ_CHECK(q->udp() != nullptr && q->udp()->src_port() == udp->src_port() &&
                      q->udp()->dst_port() == udp->dst_port());
    TUNKIT_FUZZ_CHECK(same(q->udp()->payload(), udp->payload()));
  }
  if (const tunkit::TcpView* tcp = p.tcp();
      tcp != nullptr && tcp->flags().has(tunkit::TcpFlag::syn)) {
    const tunkit::TcpSyn syn{.src = p.src(),
                             .dst = p.dst(),
                             .src_port = tcp->src_port(),
                             .dst_port = tcp->dst_port(),
                             .sequence = tcp->seq(),
                             .window = tcp->window(),
                             .options = tcp->options(),
                             .ttl = ttl,
                             .identification = id,
                             .dont_fragment = df};
    const auto built = build_request(
        out_size, [&](std::span<std::byte> out) { return tunkit::build_tcp_syn(syn, out); });
    TUNKIT_FUZZ_CHECK(built);
    const auto q = tunkit::parse_ip(*built);
    TUNKIT_FUZZ_CHECK(q->tcp() != nullptr && q->tcp()->seq() == tcp->seq());
    TUNKIT_FUZZ_CHECK(q->tcp()->flags() == tunkit::TcpFlags(tunkit::TcpFlag::syn));
    TUNKIT_FUZZ_CHECK(same(q->tcp()->options(), tcp->options()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto packet = std::as_bytes(std::span(data + 1, size - 1));
  // Output sizes from 0 to a little more than the packet, in 1/8 steps of the packet size.
  const std::size_t out_size = (packet.size() + 64) * (data[0] % 9U) / 8U;

  const auto parse_ip = [](std::span<const std::byte> b) { return tunkit::parse_ip(b); };
  const auto parse_frame = [](std::span<const std::byte> b) { return tunkit::parse_frame(b); };

  // Echo replies from IP packets (TUN).
  const auto echo = build_all_ways(packet, out_size, parse_ip,
                                   [](const tunkit::IpPacket& req, std::span<std::byte> out) {
                                     return tunkit::build_echo_reply(req, out);
                                   });
  if (!echo.empty()) {
    const auto reply = tunkit::parse_ip(echo);
    TUNKIT_FUZZ_CHECK(reply);
    check_ip_reply(*tunkit::parse_ip(packet), *reply);
  }

  if (const auto request = tunkit::parse_ip(packet)) check_requests(*request, out_size);

  // Frame builders (TAP).
  const auto frame_echo = build_all_ways(packet, out_size, parse_frame,
                                         [](const tunkit::Frame& req, std::span<std::byte> out) {
                                           return tunkit::build_echo_reply(req, out);
                                         });
  if (!frame_echo.empty()) {
    const auto reply = tunkit::parse_frame(frame_echo);
    const auto request = tunkit::parse_frame(packet);
    TUNKIT_FUZZ_CHECK(reply && reply->ip() != nullptr);
    TUNKIT_FUZZ_CHECK(reply->ethernet().src() == request->ethernet().dst());
    TUNKIT_FUZZ_CHECK(reply->ethernet().dst() == request->ethernet().src());
    TUNKIT_FUZZ_CHECK(reply->ethernet().vlan() == request->ethernet().vlan());
    check_ip_reply(*request->ip(), *reply->ip());
  }

  const auto arp = build_all_ways(packet, out_size, parse_frame,
                                  [](const tunkit::Frame& req, std::span<std::byte> out) {
                                    return tunkit::build_arp_reply(req, kOurMac, out);
                                  });
  if (!arp.empty()) {
    const auto reply = tunkit::parse_frame(arp);
    const auto request = tunkit::parse_frame(packet);
    TUNKIT_FUZZ_CHECK(reply && reply->arp() != nullptr);
    const tunkit::ArpView& a = *reply->arp();
    TUNKIT_FUZZ_CHECK(a.operation() == tunkit::ArpView::reply);
    TUNKIT_FUZZ_CHECK(a.sender_mac() == kOurMac);
    TUNKIT_FUZZ_CHECK(a.sender_ip() == request->arp()->target_ip());
    TUNKIT_FUZZ_CHECK(a.target_ip() == request->arp()->sender_ip());
    TUNKIT_FUZZ_CHECK(reply->ethernet().dst() == request->arp()->sender_mac());
  }

  const auto na = build_all_ways(packet, out_size, parse_frame,
                                 [](const tunkit::Frame& req, std::span<std::byte> out) {
                                   return tunkit::build_neighbor_advertisement(req, kOurMac, out);
                                 });
  if (!na.empty()) {
    const auto reply = tunkit::parse_frame(na);
    const auto request = tunkit::parse_frame(packet);
    TUNKIT_FUZZ_CHECK(reply && reply->ip() != nullptr && reply->ip()->icmpv6() != nullptr);
    const tunkit::Icmpv6View& adv = *reply->ip()->icmpv6();
    TUNKIT_FUZZ_CHECK(adv.type() == tunkit::Icmpv6Type::neighbor_advertisement);
    TUNKIT_FUZZ_CHECK(reply->ip()->ipv6()->hop_limit() == 255);
    TUNKIT_FUZZ_CHECK(adv.nd_target() == request->ip()->icmpv6()->nd_target());
    TUNKIT_FUZZ_CHECK(reply->ip()->src() == *adv.nd_target());
    TUNKIT_FUZZ_CHECK(tunkit::transport_checksum_ok(*reply->ip()));
  }
  return 0;
}
