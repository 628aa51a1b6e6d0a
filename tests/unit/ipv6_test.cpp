#include "tunkit/packet/ipv6.hpp"

#include <array>
#include <span>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/error.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit::IpProtocol;
using tunkit_test::hex;
using tunkit_test::must;
using tunkit_test::u8;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("IPv6/ICMPv6 echo request golden packet", "[packet]") {
  const Bytes b = hex(tunkit_test::kIcmp6Echo);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  REQUIRE(pkt->version() == 6);
  const tunkit::Ipv6View* ip = pkt->ipv6();
  REQUIRE(ip != nullptr);
  CHECK(pkt->ipv4() == nullptr);
  CHECK(ip->traffic_class() == 0);
  CHECK(ip->flow_label() == 0);
  CHECK(ip->payload_length() == 64);
  CHECK(ip->next_header() == IpProtocol::icmpv6);
  CHECK(ip->hop_limit() == 64);
  CHECK(ip->src().to_string() == "fd00::2");
  CHECK(ip->dst().to_string() == "fd00::1");
  CHECK(ip->extension_headers().empty());
  CHECK(ip->upper_offset() == 40);
  CHECK(ip->upper_protocol() == IpProtocol::icmpv6);
  CHECK_FALSE(ip->fragment());
  CHECK_FALSE(ip->is_fragment());
  const tunkit::Icmpv6View* icmp = pkt->icmpv6();
  REQUIRE(icmp != nullptr);
  CHECK(icmp->type() == tunkit::Icmpv6Type::echo_request);
  CHECK(icmp->identifier() == 7);
  CHECK(icmp->sequence() == 1);
  CHECK(icmp->payload().size() == 56);
  CHECK_FALSE(icmp->nd_target());
  CHECK(tunkit::transport_checksum_ok(*pkt));
  CHECK(tunkit::transport_checksum(*pkt) == icmp->checksum());
}

TEST_CASE("IPv6 extension headers are walked to the transport protocol", "[packet]") {
  const Bytes b = hex(tunkit_test::kIpv6Ext);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  const tunkit::Ipv6View& ip = must(pkt->ipv6());
  CHECK(ip.next_header() == IpProtocol::hop_by_hop);
  CHECK(ip.upper_protocol() == IpProtocol::udp);
  CHECK(ip.upper_offset() == 96);
  CHECK(ip.extension_headers().size() == 56);
  const auto frag = ip.fragment();
  REQUIRE(frag);
  CHECK(*frag == tunkit::Ipv6Fragment{0, false, 0x12345678});
  CHECK_FALSE(ip.is_fragment());  // an atomic fragment
  CHECK_FALSE(pkt->is_fragment());
  const tunkit::UdpView* udp = pkt->udp();
  REQUIRE(udp != nullptr);
  CHECK(udp->src_port() == 1234);
  CHECK(udp->dst_port() == 5678);
  CHECK(udp->payload().size() == 4);
  CHECK(tunkit::transport_checksum_ok(*pkt));
}

TEST_CASE("IPv6 non-first fragment stops the walk", "[packet]") {
  const Bytes b = hex(tunkit_test::kIpv6Frag);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  const tunkit::Ipv6View& ip = must(pkt->ipv6());
  CHECK(ip.is_fragment());
  CHECK(pkt->is_fragment());
  CHECK(*ip.fragment() == tunkit::Ipv6Fragment{1232, true, 0x42});
  CHECK(ip.upper_protocol() == IpProtocol::udp);
  CHECK(ip.upper_offset() == 48);
  CHECK(pkt->transport_bytes().size() == 16);
  CHECK(pkt->udp() == nullptr);
}

TEST_CASE("mutable views write fields in place: IPv6", "[packet]") {
  Bytes b = hex(tunkit_test::kIcmp6Echo);
  auto ip = tunkit::MutableIpv6View::parse(b);
  REQUIRE(ip);
  ip->set_traffic_class(0xAB);
  ip->set_flow_label(0x12345);
  ip->set_hop_limit(1);
  ip->set_src(tunkit::IpAddress::parse("fd00::99"));
  const auto again = tunkit::Ipv6View::parse(b);
  REQUIRE(again);
  CHECK(again->traffic_class() == 0xAB);
  CHECK(again->flow_label() == 0x12345);
  CHECK(again->hop_limit() == 1);
  CHECK(again->src().to_string() == "fd00::99");
  CHECK(again->dst().to_string() == "fd00::1");
  CHECK(u8(b, 0) >> 4 == 6);
}

TEST_CASE("IPv6 address setters refuse an IPv4 address and write nothing", "[packet]") {
  Bytes b = hex(tunkit_test::kIcmp6Echo);
  const Bytes before = b;
  auto ip = tunkit::MutableIpv6View::parse(b);
  REQUIRE(ip);
  const auto v4 = tunkit::IpAddress::v4({1, 2, 3, 4});
  CHECK_THROWS_WITH(ip->set_dst(v4),
                    "tunkit: MutableIpv6View::set_dst: invalid IP address or prefix (1.2.3.4 is an "
                    "IPv4 address; an IPv6 header holds only IPv6 addresses)");
  try {
    ip->set_src(v4);
    FAIL("set_src accepted an IPv4 address");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == tunkit::errc::invalid_address);
  }
  CHECK(b == before);
}

TEST_CASE("MutableIpv6View: the payload and the upper-layer message are writable", "[packet]") {
  // kIcmp6Echo with a hop-by-hop header (8 bytes: next header 58, length 0, PadN) inserted.
  Bytes b = hex(tunkit_test::kIcmp6Echo);
  const std::size_t icmp_size = b.size() - 40;
  const std::array<std::byte, 8> hbh{std::byte{58}, std::byte{0}, std::byte{1}, std::byte{4},
                                     std::byte{0},  std::byte{0}, std::byte{0}, std::byte{0}};
  b.insert(b.begin() + 40, hbh.begin(), hbh.end());
  b[6] = std::byte{0};                                            // next header: hop-by-hop
  b[5] = static_cast<std::byte>(std::to_integer<int>(b[5]) + 8);  // payload length + 8 (< 256)
  auto ip = tunkit::MutableIpv6View::parse(b);
  REQUIRE(ip);
  REQUIRE(ip->upper_offset() == 48);

  const std::span<std::byte> payload = ip->mutable_payload();
  CHECK(payload.data() == b.data() + 40);
  CHECK(payload.size() == ip->payload().size());
  CHECK(payload.size() == 8 + icmp_size);
  payload[4] = std::byte{0x55};  // a PadN data byte, written through the view
  CHECK(u8(b, 44) == 0x55);

  const std::span<std::byte> upper = ip->mutable_upper_payload();
  CHECK(upper.data() == b.data() + 48);
  CHECK(upper.size() == icmp_size);
  auto icmp = tunkit::MutableIcmpv6View::parse(upper);
  REQUIRE(icmp);
  icmp->set_sequence(0x0102);
  CHECK(u8(b, 48 + 6) == 1);
  CHECK(u8(b, 48 + 7) == 2);
}
