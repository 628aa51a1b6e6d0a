#include "tunkit/packet/build.hpp"

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit_test::hex;
using tunkit_test::kOurMac;
using tunkit_test::must;
using tunkit_test::put16;
using tunkit_test::put8;
using tunkit_test::u8;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("ICMP echo reply: re-parses, checksums valid, in place or not", "[packet][builder]") {
  const Bytes request = hex(tunkit_test::kIcmp4Echo);
  const auto pkt = tunkit::parse_ip(request);
  REQUIRE(pkt);
  Bytes out(200);
  const auto len = tunkit::build_icmp_echo_reply(*pkt, out);
  REQUIRE(len);
  REQUIRE(*len == 84);
  const auto reply = tunkit::parse_ip(std::span(out).first(*len));
  REQUIRE(reply);
  CHECK(reply->src().to_string() == "10.0.0.2");
  CHECK(reply->dst().to_string() == "10.0.0.1");
  CHECK(must(reply->ipv4()).ttl() == 64);
  CHECK(must(reply->ipv4()).identification() == 0xabcd);
  CHECK(tunkit::ipv4_header_checksum_ok(must(reply->ipv4())));
  const tunkit::IcmpView* icmp = reply->icmp();
  REQUIRE(icmp != nullptr);
  CHECK(icmp->type() == tunkit::IcmpType::echo_reply);
  CHECK(icmp->code() == 0);
  CHECK(icmp->identifier() == 7);
  CHECK(icmp->sequence() == 1);
  CHECK(std::ranges::equal(icmp->payload(), must(pkt->icmp()).payload()));
  CHECK(tunkit::transport_checksum_ok(*reply));
  CHECK(tunkit::build_echo_reply(*pkt, out).value() == 84);

  SECTION("in place") {
    Bytes buf = request;
    const auto in_place = tunkit::parse_ip(buf);
    REQUIRE(in_place);
    const auto n = tunkit::build_icmp_echo_reply(*in_place, buf);
    REQUIRE(n);
    CHECK(std::ranges::equal(std::span(buf).first(*n), std::span(out).first(*len)));
  }
  SECTION("in place, request with IP options (the data moves)") {
    Bytes buf = request;
    // Insert four NOP options: IHL 6, total length 88.
    buf.insert(buf.begin() + 20, 4, std::byte{1});
    put8(buf, 0, 0x46);
    put16(buf, 2, 88);
    auto ip = tunkit::MutableIpv4View::parse(buf);
    REQUIRE(ip);
    ip->update_checksum();
    const auto with_options = tunkit::parse_ip(buf);
    REQUIRE(with_options);
    REQUIRE(with_options->icmp());
    const auto n = tunkit::build_icmp_echo_reply(*with_options, buf);
    REQUIRE(n);
    CHECK(std::ranges::equal(std::span(buf).first(*n), std::span(out).first(*len)));
  }
  SECTION("buffer too small") {
    const auto r = tunkit::build_icmp_echo_reply(*pkt, std::span(out).first(83));
    REQUIRE_FALSE(r);
    CHECK(r.error() == tunkit::BuildError{tunkit::BuildReason::buffer_too_small, 84});
    CHECK(tunkit::to_string(r.error()) == "output buffer too small (need 84 bytes)");
  }
  SECTION("not an echo request") {
    const Bytes udp_bytes = hex(tunkit_test::kUdp4);
    const auto udp = tunkit::parse_ip(udp_bytes);
    CHECK(tunkit::build_icmp_echo_reply(*udp, out).error().reason ==
          tunkit::BuildReason::not_echo_request);
    const auto echo_reply = tunkit::parse_ip(std::span(out).first(*len));
    Bytes out2(200);
    CHECK(tunkit::build_icmp_echo_reply(*echo_reply, out2).error().reason ==
          tunkit::BuildReason::not_echo_request);
    const Bytes v6_bytes = hex(tunkit_test::kIcmp6Echo);
    const auto v6 = tunkit::parse_ip(v6_bytes);
    CHECK(tunkit::build_icmp_echo_reply(*v6, out).error().reason ==
          tunkit::BuildReason::not_echo_request);
    CHECK(tunkit::to_string(tunkit::BuildError{tunkit::BuildReason::not_echo_request}) ==
          "not an echo request");
  }
  SECTION("multicast destination") {
    Bytes buf = request;
    put8(buf, 16, 224);
    const auto mc = tunkit::parse_ip(buf);
    REQUIRE(mc);
    CHECK(tunkit::build_icmp_echo_reply(*mc, out).error().reason ==
          tunkit::BuildReason::multicast_destination);
  }
}

TEST_CASE("ICMPv6 echo reply: re-parses, checksum valid, extension headers dropped",
          "[packet][builder]") {
  const Bytes request = hex(tunkit_test::kIcmp6Echo);
  const auto pkt = tunkit::parse_ip(request);
  REQUIRE(pkt);
  Bytes out(200);
  const auto len = tunkit::build_icmpv6_echo_reply(*pkt, out);
  REQUIRE(len);
  REQUIRE(*len == 104);
  const auto reply = tunkit::parse_ip(std::span(out).first(*len));
  REQUIRE(reply);
  CHECK(reply->src().to_string() == "fd00::1");
  CHECK(reply->dst().to_string() == "fd00::2");
  CHECK(must(reply->ipv6()).hop_limit() == 64);
  const tunkit::Icmpv6View* icmp = reply->icmpv6();
  REQUIRE(icmp != nullptr);
  CHECK(icmp->type() == tunkit::Icmpv6Type::echo_reply);
  CHECK(icmp->identifier() == 7);
  CHECK(icmp->sequence() == 1);
  CHECK(std::ranges::equal(icmp->payload(), must(pkt->icmpv6()).payload()));
  CHECK(tunkit::transport_checksum_ok(*reply));

  SECTION("request with a hop-by-hop header, built in place") {
    Bytes buf = request;
    const auto hbh = hex("3a00 0104 0000 0000");  // next ICMPv6, PadN
    buf.insert(buf.begin() + 40, hbh.begin(), hbh.end());
    put8(buf, 6, 0);
    put16(buf, 4, 72);
    const auto ext = tunkit::parse_ip(buf);
    REQUIRE(ext);
    REQUIRE(ext->icmpv6());
    const auto n = tunkit::build_echo_reply(*ext, buf);
    REQUIRE(n);
    CHECK(std::ranges::equal(std::span(buf).first(*n), std::span(out).first(*len)));
  }
  SECTION("errors") {
    CHECK(tunkit::build_icmpv6_echo_reply(*pkt, std::span(out).first(10)).error() ==
          tunkit::BuildError{tunkit::BuildReason::buffer_too_small, 104});
    Bytes buf = request;
    put8(buf, 24, 0xff);  // dst ff00::...
    const auto mc = tunkit::parse_ip(buf);
    REQUIRE(mc);
    CHECK(tunkit::build_icmpv6_echo_reply(*mc, out).error().reason ==
          tunkit::BuildReason::multicast_destination);
    const Bytes v4_bytes = hex(tunkit_test::kIcmp4Echo);
    const auto v4 = tunkit::parse_ip(v4_bytes);
    CHECK(tunkit::build_icmpv6_echo_reply(*v4, out).error().reason ==
          tunkit::BuildReason::not_echo_request);
  }
}

TEST_CASE("echo reply in an Ethernet frame swaps the MACs and keeps the VLAN tag",
          "[packet][builder]") {
  Bytes request = hex(tunkit_test::kEchoFrame);
  SECTION("untagged") {}
  SECTION("tagged") {
    const auto tag = hex("8100 200a");  // priority 1, VLAN 10
    request.insert(request.begin() + 12, tag.begin(), tag.end());
  }
  const auto frame = tunkit::parse_frame(request);
  REQUIRE(frame);
  Bytes out(200);
  const auto len = tunkit::build_echo_reply(*frame, out);
  REQUIRE(len);
  CHECK(*len == request.size());
  const auto reply = tunkit::parse_frame(std::span(out).first(*len));
  REQUIRE(reply);
  CHECK(reply->ethernet().src().to_string() == "11:22:33:44:55:66");
  CHECK(reply->ethernet().dst().to_string() == "aa:bb:cc:dd:ee:ff");
  CHECK(reply->ethernet().vlan() == frame->ethernet().vlan());
  REQUIRE(reply->ip());
  REQUIRE(must(reply->ip()).icmp());
  CHECK(must(must(reply->ip()).icmp()).type() == tunkit::IcmpType::echo_reply);
  CHECK(tunkit::transport_checksum_ok(must(reply->ip())));
  CHECK(tunkit::build_echo_reply(*frame, std::span(out).first(5)).error() ==
        tunkit::BuildError{tunkit::BuildReason::buffer_too_small, request.size()});
  CHECK(tunkit::build_echo_reply(*frame, std::span(out).first(20)).error() ==
        tunkit::BuildError{tunkit::BuildReason::buffer_too_small, request.size()});

  // In place.
  const auto n = tunkit::build_echo_reply(*frame, request);
  REQUIRE(n);
  CHECK(std::ranges::equal(std::span(request).first(*n), std::span(out).first(*len)));

  const Bytes arp_bytes = hex(tunkit_test::kArpRequest);
  const auto arp = tunkit::parse_frame(arp_bytes);
  CHECK(tunkit::build_echo_reply(*arp, out).error().reason ==
        tunkit::BuildReason::not_echo_request);
}

TEST_CASE("ARP reply answers who-has with our MAC", "[packet][builder]") {
  Bytes request = hex(tunkit_test::kArpRequest);
  const auto frame = tunkit::parse_frame(request);
  REQUIRE(frame);
  Bytes out(100);
  const auto len = tunkit::build_arp_reply(*frame, kOurMac, out);
  REQUIRE(len);
  CHECK(*len == 42);
  const auto reply = tunkit::parse_frame(std::span(out).first(*len));
  REQUIRE(reply);
  CHECK(reply->ethernet().dst().to_string() == "aa:bb:cc:dd:ee:ff");
  CHECK(reply->ethernet().src() == kOurMac);
  CHECK(reply->ethernet().ethertype() == 0x0806);
  const tunkit::ArpView* arp = reply->arp();
  REQUIRE(arp != nullptr);
  CHECK(arp->operation() == tunkit::ArpView::reply);
  CHECK(arp->sender_mac() == kOurMac);
  CHECK(arp->sender_ip().to_string() == "10.0.0.2");
  CHECK(arp->target_mac().to_string() == "aa:bb:cc:dd:ee:ff");
  CHECK(arp->target_ip().to_string() == "10.0.0.1");

  SECTION("in place") {
    const auto n = tunkit::build_arp_reply(*frame, kOurMac, request);
    REQUIRE(n);
    CHECK(std::ranges::equal(std::span(request).first(*n), std::span(out).first(*len)));
  }
  SECTION("VLAN tag kept") {
    Bytes tagged = hex(tunkit_test::kArpRequest);
    const auto tag = hex("8100 0064");
    tagged.insert(tagged.begin() + 12, tag.begin(), tag.end());
    const auto f = tunkit::parse_frame(tagged);
    REQUIRE(f);
    const auto n = tunkit::build_arp_reply(*f, kOurMac, out);
    REQUIRE(n);
    CHECK(*n == 46);
    const auto r = tunkit::parse_frame(std::span(out).first(*n));
    REQUIRE(r);
    CHECK(r->ethernet().vlan()->id == 100);
    CHECK(r->arp());
  }
  SECTION("errors") {
    CHECK(tunkit::build_arp_reply(*frame, kOurMac, std::span(out).first(41)).error() ==
          tunkit::BuildError{tunkit::BuildReason::buffer_too_small, 42});
    const auto again = tunkit::parse_frame(std::span(out).first(*len));
    Bytes out2(100);
    CHECK(tunkit::build_arp_reply(*again, kOurMac, out2).error().reason ==
          tunkit::BuildReason::not_arp_request);
    const Bytes ip_bytes = hex(tunkit_test::kEchoFrame);
    const auto ip = tunkit::parse_frame(ip_bytes);
    CHECK(tunkit::build_arp_reply(*ip, kOurMac, out2).error().reason ==
          tunkit::BuildReason::not_arp_request);
  }
}

TEST_CASE("NDP neighbour advertisement answers a solicitation", "[packet][builder]") {
  Bytes out(200);
  SECTION("unicast source: solicited, to the source link-layer address") {
    Bytes request = hex(tunkit_test::kNsFrame);
    const auto frame = tunkit::parse_frame(request);
    REQUIRE(frame);
    const auto len = tunkit::build_neighbor_advertisement(*frame, kOurMac, out);
    REQUIRE(len);
    CHECK(*len == 86);
    const auto reply = tunkit::parse_frame(std::span(out).first(*len));
    REQUIRE(reply);
    CHECK(reply->ethernet().dst().to_string() == "02:00:00:00:00:02");
    CHECK(reply->ethernet().src() == kOurMac);
    CHECK(reply->ethernet().ethertype() == 0x86dd);
    const tunkit::IpPacket& ip = must(reply->ip());
    CHECK(ip.src().to_string() == "fd00::1");
    CHECK(ip.dst().to_string() == "fd00::2");
    CHECK(ip.ipv6()->hop_limit() == 255);
    CHECK(ip.ipv6()->payload_length() == 32);
    const tunkit::Icmpv6View* na = ip.icmpv6();
    REQUIRE(na != nullptr);
    CHECK(na->type() == tunkit::Icmpv6Type::neighbor_advertisement);
    CHECK(na->code() == 0);
    CHECK(na->rest_of_header() == 0x60000000U);  // solicited, override
    CHECK(na->nd_target()->to_string() == "fd00::1");
    const auto option = na->payload().subspan(16);
    REQUIRE(option.size() == 8);
    CHECK(u8(option, 0) == 2);
    CHECK(u8(option, 1) == 1);
    CHECK(std::memcmp(option.data() + 2, kOurMac.bytes.data(), 6) == 0);
    CHECK(tunkit::transport_checksum_ok(ip));

    const auto n = tunkit::build_neighbor_advertisement(*frame, kOurMac, request);
    REQUIRE(n);
    CHECK(std::ranges::equal(std::span(request).first(*n), std::span(out).first(*len)));
  }
  SECTION("duplicate address detection: unsolicited, to all nodes") {
    const Bytes request = hex(tunkit_test::kDadFrame);
    const auto frame = tunkit::parse_frame(request);
    REQUIRE(frame);
    const auto len = tunkit::build_neighbor_advertisement(*frame, kOurMac, out);
    REQUIRE(len);
    const auto reply = tunkit::parse_frame(std::span(out).first(*len));
    REQUIRE(reply);
    CHECK(reply->ethernet().dst().to_string() == "33:33:00:00:00:01");
    CHECK(must(reply->ip()).dst().to_string() == "ff02::1");
    CHECK(must(must(reply->ip()).icmpv6()).rest_of_header() == 0x20000000U);  // override only
    CHECK(tunkit::transport_checksum_ok(must(reply->ip())));
  }
  SECTION("invalid solicitations are refused") {
    const auto invalid = [&](Bytes b) {
      const auto f = tunkit::parse_frame(b);
      REQUIRE(f);
      const auto r = tunkit::build_neighbor_advertisement(*f, kOurMac, out);
      REQUIRE_FALSE(r);
      return r.error().reason == tunkit::BuildReason::not_neighbor_solicitation;
    };
    Bytes b = hex(tunkit_test::kNsFrame);
    Bytes hop = b;
    put8(hop, 14 + 7, 64);
    CHECK(invalid(hop));
    Bytes code = b;
    put8(code, 54 + 1, 1);
    CHECK(invalid(code));
    Bytes option = b;
    put8(option, 54 + 25, 0);  // option length 0
    CHECK(invalid(option));
    Bytes multicast_target = b;
    put8(multicast_target, 54 + 8, 0xff);
    CHECK(invalid(multicast_target));
    Bytes dad_with_option = b;
    for (std::size_t i = 14 + 8; i < 14 + 24; ++i)
      put8(dad_with_option, i, 0);
    CHECK(invalid(dad_with_option));
    CHECK(invalid(hex(tunkit_test::kArpRequest)));
    CHECK(invalid(hex(tunkit_test::kEchoFrame)));
    const auto f = tunkit::parse_frame(b);
    CHECK(tunkit::build_neighbor_advertisement(*f, kOurMac, std::span(out).first(85)).error() ==
          tunkit::BuildError{tunkit::BuildReason::buffer_too_small, 86});
  }
}

// ---------------------------------------------------------------------------------------------
// Request builders. Each golden packet of packet_samples.hpp was assembled by hand, checksums
// included; a request built from the same fields must be it, byte for byte. The others are checked
// with the reference checksum (a byte loop independent of tunkit's) and re-parsed with the views.

namespace {

using tunkit::IpAddress;
using tunkit_test::reference_checksum;

Bytes counting(std::size_t n, unsigned first) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::byte>((first + i) & 0xFFU);
  return b;
}

// Reference check of a transport checksum over its pseudo header (RFC 768/793, RFC 8200 8.1):
// the sum of pseudo header and message is all ones.
bool pseudo_checksum_ok(const Bytes& p, std::uint8_t protocol) {
  const bool v4 = u8(p, 0) >> 4 == 4;
  const std::size_t ip_len = v4 ? 20 : 40;
  const std::size_t l4 = p.size() - ip_len;
  Bytes all;
  if (v4) {
    all.assign(p.begin() + 12, p.begin() + 20);
    all.push_back(std::byte{0});
    all.push_back(std::byte{protocol});
    all.push_back(static_cast<std::byte>(l4 >> 8));
    all.push_back(static_cast<std::byte>(l4 & 0xFFU));
  } else {
    all.assign(p.begin() + 8, p.begin() + 40);
    for (const unsigned shift : {24U, 16U, 8U, 0U})
      all.push_back(static_cast<std::byte>((l4 >> shift) & 0xFFU));
    all.insert(all.end(), {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{protocol}});
  }
  all.insert(all.end(), p.begin() + static_cast<std::ptrdiff_t>(ip_len), p.end());
  return reference_checksum(all) == 0;
}

Bytes built(const tunkit::BuildResult& len, Bytes& out) {
  REQUIRE(len);
  return Bytes(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(*len));
}

}  // namespace

TEST_CASE("ICMP echo request: the golden packet, byte for byte", "[packet][builder]") {
  const Bytes data = counting(56, 0x10);
  const tunkit::EchoRequest r{.src = IpAddress::v4({10, 0, 0, 1}),
                              .dst = IpAddress::v4({10, 0, 0, 2}),
                              .identifier = 7,
                              .sequence = 1,
                              .data = data,
                              .identification = 0xabcd};
  Bytes out(200);
  const Bytes p = built(tunkit::build_icmp_echo_request(r, out), out);
  CHECK(p == hex(tunkit_test::kIcmp4Echo));
  CHECK(reference_checksum(std::span(p).first(20)) == 0);
  CHECK(reference_checksum(std::span(p).subspan(20)) == 0);  // ICMP: no pseudo header

  const auto pkt = tunkit::parse_ip(p);
  REQUIRE(pkt);
  CHECK(must(pkt->ipv4()).dont_fragment());
  CHECK(must(pkt->ipv4()).ttl() == 64);
  const tunkit::IcmpView& icmp = must(pkt->icmp());
  CHECK(icmp.type() == tunkit::IcmpType::echo_request);
  CHECK(icmp.identifier() == 7);
  CHECK(icmp.sequence() == 1);
  CHECK(Bytes(icmp.payload().begin(), icmp.payload().end()) == data);
  // The generic form picks ICMP for IPv4 addresses.
  Bytes out2(200);
  CHECK(built(tunkit::build_echo_request(r, out2), out2) == p);
}

TEST_CASE("ICMPv6 echo request: the golden packet, byte for byte", "[packet][builder]") {
  const Bytes data = counting(56, 0);
  const tunkit::EchoRequest r{.src = IpAddress::parse("fd00::2"),
                              .dst = IpAddress::parse("fd00::1"),
                              .identifier = 7,
                              .sequence = 1,
                              .data = data};
  Bytes out(200);
  const Bytes p = built(tunkit::build_icmpv6_echo_request(r, out), out);
  CHECK(p == hex(tunkit_test::kIcmp6Echo));
  CHECK(pseudo_checksum_ok(p, 58));
  const auto pkt = tunkit::parse_ip(p);
  REQUIRE(pkt);
  CHECK(must(pkt->ipv6()).hop_limit() == 64);
  const tunkit::Icmpv6View& icmp = must(pkt->icmpv6());
  CHECK(icmp.type() == tunkit::Icmpv6Type::echo_request);
  CHECK(icmp.identifier() == 7);
  CHECK(icmp.sequence() == 1);
  CHECK(tunkit::transport_checksum_ok(*pkt));
  Bytes out2(200);
  CHECK(built(tunkit::build_echo_request(r, out2), out2) == p);

  // An echo reply to it swaps the addresses: the request builder and the reply builder agree.
  Bytes reply(200);
  const auto len = tunkit::build_echo_reply(*pkt, reply);
  REQUIRE(len);
  CHECK(*len == p.size());
}

TEST_CASE("UDP datagram over IPv4: the golden packet, byte for byte", "[packet][builder]") {
  const Bytes data = counting(42, 0);
  Bytes out(200);
  const Bytes p = built(tunkit::build_udp_datagram({.src = IpAddress::v4({10, 0, 0, 2}),
                                                    .dst = IpAddress::v4({10, 0, 0, 1}),
                                                    .src_port = 5353,
                                                    .dst_port = 53,
                                                    .data = data,
                                                    .identification = 0x1c46,
                                                    .dont_fragment = false},
                                                   out),
                        out);
  CHECK(p == hex(tunkit_test::kUdp4));
  CHECK(reference_checksum(std::span(p).first(20)) == 0);
  CHECK(pseudo_checksum_ok(p, 17));
}

TEST_CASE("UDP datagram over IPv6: views and reference checksum", "[packet][builder]") {
  const Bytes data = counting(333, 7);  // odd length: the checksum pads a zero byte
  Bytes out(1000);
  const Bytes p = built(tunkit::build_udp_datagram({.src = IpAddress::parse("fd00::2"),
                                                    .dst = IpAddress::parse("fd00::1"),
                                                    .src_port = 40000,
                                                    .dst_port = 7,
                                                    .data = data,
                                                    .ttl = 9},
                                                   out),
                        out);
  REQUIRE(p.size() == 40 + 8 + 333);
  CHECK(pseudo_checksum_ok(p, 17));
  const auto pkt = tunkit::parse_ip(p);
  REQUIRE(pkt);
  const tunkit::Ipv6View& ip = must(pkt->ipv6());
  CHECK(ip.hop_limit() == 9);
  CHECK(ip.payload_length() == 341);
  CHECK(ip.traffic_class() == 0);
  CHECK(ip.flow_label() == 0);
  CHECK(ip.src().to_string() == "fd00::2");
  CHECK(ip.dst().to_string() == "fd00::1");
  const tunkit::UdpView& udp = must(pkt->udp());
  CHECK(udp.src_port() == 40000);
  CHECK(udp.dst_port() == 7);
  CHECK(udp.length() == 341);
  CHECK(Bytes(udp.payload().begin(), udp.payload().end()) == data);
  CHECK(tunkit::transport_checksum_ok(*pkt));
}

TEST_CASE("UDP datagram: a checksum that computes to 0 is sent as 0xFFFF", "[packet][builder]") {
  for (const bool v4 : {true, false}) {
    INFO("IPv" << (v4 ? 4 : 6));
    tunkit::UdpDatagram d{.src = v4 ? IpAddress::v4({10, 0, 0, 2}) : IpAddress::parse("fd00::2"),
                          .dst = v4 ? IpAddress::v4({10, 0, 0, 1}) : IpAddress::parse("fd00::1"),
                          .src_port = 1,
                          .dst_port = 2};
    Bytes two(2);
    d.data = two;
    Bytes out(100);
    const Bytes first = built(tunkit::build_udp_datagram(d, out), out);
    const std::size_t field = (v4 ? 20 : 40) + 6;
    // With the data word equal to that checksum, everything but the field sums to all ones.
    two[0] = first[field];
    two[1] = first[field + 1];
    const Bytes p = built(tunkit::build_udp_datagram(d, out), out);
    CHECK(tunkit_test::be16(p, field) == 0xFFFF);
    CHECK(pseudo_checksum_ok(p, 17));
  }
}

TEST_CASE("TCP SYN over IPv4: the golden packet, byte for byte", "[packet][builder]") {
  const Bytes options = hex("0204 05b4 0402 080a 0000 0001 0000 0000 0103 0307");
  Bytes out(100);
  const Bytes p = built(tunkit::build_tcp_syn({.src = IpAddress::v4({10, 0, 0, 2}),
                                               .dst = IpAddress::v4({10, 0, 0, 1}),
                                               .src_port = 41000,
                                               .dst_port = 22,
                                               .sequence = 1000,
                                               .window = 64240,
                                               .options = options,
                                               .identification = 3,
                                               .dont_fragment = false},
                                              out),
                        out);
  CHECK(p == hex(tunkit_test::kTcp4Syn));
  CHECK(reference_checksum(std::span(p).first(20)) == 0);
  CHECK(pseudo_checksum_ok(p, 6));
}

TEST_CASE("TCP SYN over IPv6: views, padded options, reference checksum", "[packet][builder]") {
  const Bytes options = hex("0204 05a0 01");  // MSS 1440, then a NOP: padded to 8 bytes
  Bytes out(100);
  const Bytes p = built(tunkit::build_tcp_syn({.src = IpAddress::parse("fd00::2"),
                                               .dst = IpAddress::parse("fd00::1"),
                                               .src_port = 50000,
                                               .dst_port = 443,
                                               .sequence = 0xFFFFFFF0,
                                               .options = options},
                                              out),
                        out);
  REQUIRE(p.size() == 40 + 28);
  CHECK(pseudo_checksum_ok(p, 6));
  CHECK(u8(p, 40 + 25) == 0);  // the padding: end of option list
  const auto pkt = tunkit::parse_ip(p);
  REQUIRE(pkt);
  const tunkit::TcpView& tcp = must(pkt->tcp());
  CHECK(tcp.flags() == tunkit::TcpFlags(tunkit::TcpFlag::syn));
  CHECK(tcp.src_port() == 50000);
  CHECK(tcp.dst_port() == 443);
  CHECK(tcp.seq() == 0xFFFFFFF0);
  CHECK(tcp.ack() == 0);
  CHECK(tcp.window() == 65535);
  CHECK(tcp.header_length() == 28);
  CHECK(tcp.mss() == std::optional<std::uint16_t>{1440});
  CHECK(tcp.payload().empty());
  CHECK(tunkit::transport_checksum_ok(*pkt));

  // Without options: a 20-byte header.
  const Bytes bare = built(tunkit::build_tcp_syn({.src = IpAddress::v4({10, 0, 0, 2}),
                                                  .dst = IpAddress::v4({10, 0, 0, 1}),
                                                  .src_port = 1,
                                                  .dst_port = 2},
                                                 out),
                           out);
  CHECK(bare.size() == 40);
  CHECK(u8(bare, 32) == 0x50);
  CHECK(pseudo_checksum_ok(bare, 6));
  CHECK((tunkit_test::be16(bare, 6) & 0x4000) != 0);  // DF by default
}

TEST_CASE("request builders: what they refuse, before writing anything", "[packet][builder]") {
  const IpAddress v4a = IpAddress::v4({10, 0, 0, 2}), v4b = IpAddress::v4({10, 0, 0, 1});
  const IpAddress v6a = IpAddress::parse("fd00::2"), v6b = IpAddress::parse("fd00::1");
  using tunkit::BuildError;
  using tunkit::BuildReason;
  const BuildError family{BuildReason::address_family_mismatch};

  SECTION("a buffer too small: the size needed, nothing written") {
    const Bytes data(100);
    Bytes out(127, std::byte{0xAA});
    const Bytes untouched = out;
    CHECK(tunkit::build_icmp_echo_request({.src = v4a, .dst = v4b, .data = data}, out).error() ==
          BuildError{BuildReason::buffer_too_small, 128});
    CHECK(tunkit::build_icmpv6_echo_request({.src = v6a, .dst = v6b, .data = data}, out).error() ==
          BuildError{BuildReason::buffer_too_small, 148});
    CHECK(tunkit::build_udp_datagram({.src = v4a, .dst = v4b, .data = data}, out).error() ==
          BuildError{BuildReason::buffer_too_small, 128});
    CHECK(tunkit::build_tcp_syn({.src = v6a, .dst = v6b}, std::span(out).first(59)).error() ==
          BuildError{BuildReason::buffer_too_small, 60});
    CHECK(out == untouched);
  }
  SECTION("addresses of two families, or of the other family") {
    Bytes out(100);
    CHECK(tunkit::build_icmp_echo_request({.src = v6a, .dst = v6b}, out).error() == family);
    CHECK(tunkit::build_icmpv6_echo_request({.src = v4a, .dst = v4b}, out).error() == family);
    CHECK(tunkit::build_echo_request({.src = v4a, .dst = v6b}, out).error() == family);
    CHECK(tunkit::build_udp_datagram({.src = v6a, .dst = v4b}, out).error() == family);
    CHECK(tunkit::build_tcp_syn({.src = v4a, .dst = v6b}, out).error() == family);
    CHECK(tunkit::to_string(family) ==
          "source and destination addresses not both of the family the packet needs");
    CHECK(make_error_code(family) == std::errc::invalid_argument);
  }
  SECTION("a packet beyond what the IP length field holds") {
    Bytes out(70000);
    const Bytes big(65535 - 28 + 1);
    const auto r = tunkit::build_udp_datagram({.src = v4a, .dst = v4b, .data = big}, out);
    CHECK(r.error() == BuildError{BuildReason::packet_too_large, 65536});
    CHECK(tunkit::to_string(r.error()) ==
          "packet too large (IP length 65536, the field holds at most 65535)");
    // IPv6 counts the payload only: 65535 - 8 data bytes still fit.
    Bytes out6(40 + 65535);
    const Bytes max6(65535 - 8);
    const auto fits = tunkit::build_udp_datagram({.src = v6a, .dst = v6b, .data = max6}, out6);
    REQUIRE(fits);
    CHECK(*fits == 40 + 65535);
    const Bytes big6(65535 - 8 + 1);
    CHECK(tunkit::build_udp_datagram({.src = v6a, .dst = v6b, .data = big6}, out).error() ==
          BuildError{BuildReason::packet_too_large, 65536});
  }
  SECTION("more than 40 bytes of TCP options") {
    Bytes out(200);
    const Bytes options(41, std::byte{1});
    const auto r = tunkit::build_tcp_syn({.src = v4a, .dst = v4b, .options = options}, out);
    CHECK(r.error() == BuildError{BuildReason::tcp_options_too_long});
    CHECK(tunkit::to_string(r.error()) == "TCP options too long (at most 40 bytes)");
    CHECK(tunkit::build_tcp_syn({.src = v4a, .dst = v4b, .options = std::span(options).first(40)},
                                out));
  }
}

TEST_CASE("request builders: every data length, both families, checksums by the reference",
          "[packet][builder]") {
  for (const bool v4 : {true, false}) {
    const IpAddress src = v4 ? IpAddress::v4({192, 0, 2, 7}) : IpAddress::parse("2001:db8::7");
    const IpAddress dst = v4 ? IpAddress::v4({198, 51, 100, 9}) : IpAddress::parse("2001:db8::9");
    const std::size_t ip_len = v4 ? 20 : 40;
    for (std::size_t n = 0; n <= 64; ++n) {
      INFO("IPv" << (v4 ? 4 : 6) << ", " << n << " data bytes");
      const Bytes data = counting(n, static_cast<unsigned>(n * 37));
      Bytes out(ip_len + 8 + 64);

      const Bytes echo =
          built(tunkit::build_echo_request({.src = src,
                                            .dst = dst,
                                            .identifier = 0xfedc,
                                            .sequence = static_cast<std::uint16_t>(n),
                                            .data = data},
                                           out),
                out);
      REQUIRE(echo.size() == ip_len + 8 + n);
      if (v4) {
        CHECK(reference_checksum(std::span(echo).first(20)) == 0);
        CHECK(reference_checksum(std::span(echo).subspan(20)) == 0);
      } else {
        CHECK(pseudo_checksum_ok(echo, 58));
      }
      const auto e = tunkit::parse_ip(echo);
      REQUIRE(e);
      CHECK(e->src() == src);
      CHECK(e->dst() == dst);
      CHECK(tunkit::transport_checksum_ok(*e));

      const Bytes udp =
          built(tunkit::build_udp_datagram(
                    {.src = src, .dst = dst, .src_port = 9, .dst_port = 9, .data = data}, out),
                out);
      REQUIRE(udp.size() == ip_len + 8 + n);
      CHECK(pseudo_checksum_ok(udp, 17));
      CHECK(tunkit_test::be16(udp, ip_len + 6) != 0);
      if (v4) CHECK(reference_checksum(std::span(udp).first(20)) == 0);
      const auto u = tunkit::parse_ip(udp);
      REQUIRE(u);
      CHECK(Bytes(must(u->udp()).payload().begin(), must(u->udp()).payload().end()) == data);

      if (n > 40) continue;
      const Bytes syn = built(tunkit::build_tcp_syn({.src = src,
                                                     .dst = dst,
                                                     .src_port = 1234,
                                                     .dst_port = 80,
                                                     .sequence = static_cast<std::uint32_t>(n),
                                                     .options = data},
                                                    out),
                              out);
      REQUIRE(syn.size() == ip_len + 20 + (n + 3) / 4 * 4);
      CHECK(pseudo_checksum_ok(syn, 6));
      if (v4) CHECK(reference_checksum(std::span(syn).first(20)) == 0);
      CHECK(Bytes(syn.begin() + static_cast<std::ptrdiff_t>(ip_len + 20),
                  syn.begin() + static_cast<std::ptrdiff_t>(ip_len + 20 + n)) == data);
    }
  }
}
