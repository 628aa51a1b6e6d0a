#include "tunkit/packet/ipv4.hpp"

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
using tunkit_test::put16;
using tunkit_test::u8;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("IPv4/UDP golden packet: every field", "[packet]") {
  const Bytes b = hex(tunkit_test::kUdp4);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  REQUIRE(pkt->version() == 4);
  REQUIRE(pkt->ipv4() != nullptr);
  CHECK(pkt->ipv6() == nullptr);
  const tunkit::Ipv4View& ip = must(pkt->ipv4());
  CHECK(ip.header_length() == 20);
  CHECK(ip.total_length() == 70);
  CHECK(ip.tos() == 0);
  CHECK(ip.dscp() == 0);
  CHECK(ip.ecn() == 0);
  CHECK(ip.identification() == 0x1c46);
  CHECK_FALSE(ip.dont_fragment());
  CHECK_FALSE(ip.more_fragments());
  CHECK(ip.fragment_offset() == 0);
  CHECK_FALSE(ip.is_fragment());
  CHECK(ip.ttl() == 64);
  CHECK(ip.protocol() == IpProtocol::udp);
  CHECK(ip.checksum() == 0x4a5f);
  CHECK(ip.src().to_string() == "10.0.0.2");
  CHECK(ip.dst().to_string() == "10.0.0.1");
  CHECK(ip.options().empty());
  CHECK(ip.header().size() == 20);
  CHECK(ip.payload().size() == 50);
  CHECK(ip.bytes().size() == 70);
  CHECK(pkt->protocol() == IpProtocol::udp);
  CHECK(pkt->src() == ip.src());
  CHECK(pkt->dst() == ip.dst());
  CHECK(pkt->transport_bytes().data() == b.data() + 20);

  const tunkit::UdpView* udp = pkt->udp();
  REQUIRE(udp != nullptr);
  CHECK(pkt->tcp() == nullptr);
  CHECK(pkt->icmp() == nullptr);
  CHECK(pkt->icmpv6() == nullptr);
  CHECK(udp->src_port() == 5353);
  CHECK(udp->dst_port() == 53);
  CHECK(udp->length() == 50);
  CHECK(udp->checksum() == 0x30af);
  REQUIRE(udp->payload().size() == 42);
  CHECK(u8(udp->payload(), 0) == 0);
  CHECK(u8(udp->payload(), 41) == 41);

  CHECK(tunkit::ipv4_header_checksum_ok(ip));
  CHECK(tunkit::ipv4_header_checksum(ip) == 0x4a5f);
  CHECK(tunkit::transport_checksum_ok(*pkt));
  CHECK(tunkit::transport_checksum(*pkt) == 0x30af);
}

TEST_CASE("IPv4 trailing bytes beyond the total length are not part of the packet", "[packet]") {
  Bytes b = hex(tunkit_test::kUdp4);
  b.resize(b.size() + 10, std::byte{0xEE});
  const auto ip = tunkit::Ipv4View::parse(b);
  REQUIRE(ip);
  CHECK(ip->bytes().size() == 70);
  CHECK(ip->payload().size() == 50);
}

TEST_CASE("IPv4 options are validated and can be looked up", "[packet]") {
  const Bytes b = hex(tunkit_test::kIpv4Options);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  const tunkit::Ipv4View& ip = must(pkt->ipv4());
  CHECK(ip.header_length() == 24);
  CHECK(ip.options().size() == 4);
  const auto ra = ip.option(0x94);
  REQUIRE(ra);
  CHECK(ra->size() == 4);
  CHECK_FALSE(ip.option(0x44));
  CHECK(ip.ttl() == 1);
  CHECK(ip.dst().to_string() == "224.0.0.22");
  REQUIRE(pkt->udp());
  CHECK(must(pkt->udp()).payload().size() == 2);
  CHECK(tunkit::ipv4_header_checksum_ok(ip));
  CHECK(tunkit::transport_checksum_ok(*pkt));
}

TEST_CASE("IPv4 fragments get no transport view", "[packet]") {
  Bytes b = hex(tunkit_test::kUdp4);
  SECTION("first fragment (more fragments)") {
    put16(b, 6, 0x2000);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    CHECK(must(pkt->ipv4()).more_fragments());
    CHECK(must(pkt->ipv4()).fragment_offset() == 0);
    CHECK(pkt->is_fragment());
    CHECK(pkt->udp() == nullptr);
    CHECK(pkt->protocol() == IpProtocol::udp);
    CHECK(tunkit::transport_checksum(*pkt) == 0);
    CHECK(tunkit::transport_checksum_ok(*pkt));
  }
  SECTION("later fragment") {
    put16(b, 6, 185);  // offset 1480
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    CHECK(must(pkt->ipv4()).fragment_offset() == 1480);
    CHECK_FALSE(must(pkt->ipv4()).more_fragments());
    CHECK(pkt->is_fragment());
    CHECK(pkt->udp() == nullptr);
  }
}

TEST_CASE("mutable views write fields in place: IPv4", "[packet]") {
  Bytes b = hex(tunkit_test::kUdp4);
  auto ip = tunkit::MutableIpv4View::parse(b);
  REQUIRE(ip);
  ip->set_ttl(63);
  ip->set_src(tunkit::IpAddress::v4({192, 168, 1, 1}));
  ip->set_tos(0xb8);
  ip->set_identification(0x4242);
  CHECK_FALSE(tunkit::ipv4_header_checksum_ok(*ip));
  ip->update_checksum();
  const auto again = tunkit::Ipv4View::parse(b);
  REQUIRE(again);
  CHECK(again->ttl() == 63);
  CHECK(again->src().to_string() == "192.168.1.1");
  CHECK(again->dst().to_string() == "10.0.0.1");
  CHECK(again->dscp() == 46);
  CHECK(again->identification() == 0x4242);
  CHECK(tunkit::ipv4_header_checksum_ok(*again));
  CHECK(ip->mutable_payload().size() == 50);
}

TEST_CASE("IPv4 address setters refuse an IPv6 address and write nothing", "[packet]") {
  Bytes b = hex(tunkit_test::kUdp4);
  const Bytes before = b;
  auto ip = tunkit::MutableIpv4View::parse(b);
  REQUIRE(ip);
  const auto v6 = tunkit::IpAddress::parse("fd00::1");
  CHECK_THROWS_WITH(ip->set_src(v6),
                    "tunkit: MutableIpv4View::set_src: invalid IP address or prefix (fd00::1 is an "
                    "IPv6 address; an IPv4 header holds only IPv4 addresses)");
  try {
    ip->set_dst(v6);
    FAIL("set_dst accepted an IPv6 address");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == tunkit::errc::invalid_address);
    CHECK(std::string_view(e.what()).find("set_dst") != std::string_view::npos);
  }
  CHECK(b == before);
}
