#include "tunkit/packet/build.hpp"

#include <cstring>
#include <span>
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
