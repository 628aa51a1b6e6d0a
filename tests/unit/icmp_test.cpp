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
