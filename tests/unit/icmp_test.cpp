#include "tunkit/packet/icmp.hpp"

#include <span>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit_test::hex;
using tunkit_test::must;
using tunkit_test::u8;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("IPv4/ICMP echo request golden packet", "[packet]") {
  const Bytes b = hex(tunkit_test::kIcmp4Echo);
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  CHECK(must(pkt->ipv4()).dont_fragment());
  CHECK_FALSE(pkt->is_fragment());
  const tunkit::IcmpView* icmp = pkt->icmp();
  REQUIRE(icmp != nullptr);
  CHECK(icmp->type() == tunkit::IcmpType::echo_request);
  CHECK(icmp->code() == 0);
  CHECK(icmp->checksum() == 0x3f23);
  CHECK(icmp->identifier() == 7);
  CHECK(icmp->sequence() == 1);
  CHECK(icmp->rest_of_header() == 0x00070001);
  REQUIRE(icmp->payload().size() == 56);
  CHECK(u8(icmp->payload(), 0) == 0x10);
  CHECK(tunkit::ipv4_header_checksum_ok(must(pkt->ipv4())));
  CHECK(tunkit::transport_checksum_ok(*pkt));
}

TEST_CASE("mutable views write fields in place: ICMP, ICMPv6", "[packet]") {
  Bytes e = hex(tunkit_test::kIcmp4Echo);
  auto icmp = tunkit::MutableIcmpView::parse(std::span(e).subspan(20));
  REQUIRE(icmp);
  icmp->set_type(0);
  icmp->set_code(1);
  icmp->set_identifier(9);
  icmp->set_sequence(10);
  icmp->set_checksum(0);
  CHECK(icmp->type() == tunkit::IcmpType::echo_reply);
  CHECK(icmp->code() == 1);
  CHECK(icmp->identifier() == 9);
  CHECK(icmp->sequence() == 10);

  Bytes e6 = hex(tunkit_test::kIcmp6Echo);
  auto icmp6 = tunkit::MutableIcmpv6View::parse(std::span(e6).subspan(40));
  REQUIRE(icmp6);
  icmp6->set_type(129);
  CHECK(icmp6->type() == tunkit::Icmpv6Type::echo_reply);
}

TEST_CASE("set_type takes the enumeration type() returns", "[packet]") {
  Bytes e = hex(tunkit_test::kIcmp4Echo);
  auto icmp = tunkit::MutableIcmpView::parse(std::span(e).subspan(20));
  REQUIRE(icmp);
  icmp->set_type(tunkit::IcmpType::time_exceeded);
  CHECK(icmp->type() == tunkit::IcmpType::time_exceeded);
  CHECK(u8(e, 20) == 11);

  Bytes e6 = hex(tunkit_test::kIcmp6Echo);
  auto icmp6 = tunkit::MutableIcmpv6View::parse(std::span(e6).subspan(40));
  REQUIRE(icmp6);
  icmp6->set_type(tunkit::Icmpv6Type::packet_too_big);
  CHECK(icmp6->type() == tunkit::Icmpv6Type::packet_too_big);
  CHECK(u8(e6, 40) == 2);
}

TEST_CASE("MutableIcmpView::update_checksum computes the ICMP checksum", "[packet]") {
  Bytes e = hex(tunkit_test::kIcmp4Echo);
  auto icmp = tunkit::MutableIcmpView::parse(std::span(e).subspan(20));
  REQUIRE(icmp);
  // From a zeroed field back to the golden packet's value: computed, not adjusted.
  icmp->set_checksum(0);
  icmp->update_checksum();
  CHECK(icmp->checksum() == 0x3f23);

  // Type 8 -> 0 lowers the first word by 0x0800, so the checksum rises by 0x0800 (RFC 1624).
  icmp->set_type(tunkit::IcmpType::echo_reply);
  icmp->update_checksum();
  CHECK(icmp->checksum() == 0x4723);
  const auto pkt = tunkit::parse_ip(e);
  REQUIRE(pkt);
  CHECK(tunkit::transport_checksum_ok(*pkt));
}

TEST_CASE("MutableIcmpv6View::update_checksum computes the pseudo-header checksum", "[packet]") {
  SECTION("from the IPv6 view") {
    Bytes e6 = hex(tunkit_test::kIcmp6Echo);
    auto ip6 = tunkit::MutableIpv6View::parse(e6);
    REQUIRE(ip6);
    auto icmp6 = tunkit::MutableIcmpv6View::parse(ip6->mutable_upper_payload());
    REQUIRE(icmp6);
    icmp6->set_checksum(0);
    icmp6->update_checksum(*ip6);
    CHECK(icmp6->checksum() == 0x8e65);  // the golden packet's
    // Type 128 -> 129 raises the first word by 0x0100: the checksum drops by 0x0100.
    icmp6->set_type(tunkit::Icmpv6Type::echo_reply);
    icmp6->update_checksum(*ip6);
    CHECK(icmp6->checksum() == 0x8d65);
    // New addresses change the pseudo header: recomputed, the packet verifies again.
    ip6->set_src(tunkit::IpAddress::parse("fd00::1234"));
    icmp6->update_checksum(*ip6);
    const auto pkt = tunkit::parse_ip(e6);
    REQUIRE(pkt);
    CHECK(tunkit::transport_checksum_ok(*pkt));
    CHECK(icmp6->checksum() == tunkit::update16(0x8d65, 0x0002, 0x1234));
  }
  SECTION("from the addresses") {
    Bytes e6 = hex(tunkit_test::kIcmp6Echo);
    auto icmp6 = tunkit::MutableIcmpv6View::parse(std::span(e6).subspan(40));
    REQUIRE(icmp6);
    icmp6->set_checksum(0);
    icmp6->update_checksum(tunkit::IpAddress::parse("fd00::2"),
                           tunkit::IpAddress::parse("fd00::1"));
    CHECK(icmp6->checksum() == 0x8e65);
  }
  SECTION("IPv4 addresses are refused, nothing written") {
    Bytes e6 = hex(tunkit_test::kIcmp6Echo);
    auto icmp6 = tunkit::MutableIcmpv6View::parse(std::span(e6).subspan(40));
    REQUIRE(icmp6);
    CHECK_THROWS_WITH(icmp6->update_checksum(tunkit::IpAddress::v4({10, 0, 0, 2}),
                                             tunkit::IpAddress::parse("fd00::1")),
                      "tunkit: MutableIcmpv6View::update_checksum: invalid IP address or prefix "
                      "(10.0.0.2 is an IPv4 address; an IPv6 header holds only IPv6 addresses)");
    CHECK(icmp6->checksum() == 0x8e65);
  }
}
