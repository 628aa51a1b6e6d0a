#include "tunkit/packet/udp.hpp"

#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit_test::hex;
using tunkit_test::must;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("mutable views write fields in place: UDP", "[packet]") {
  Bytes b = hex(tunkit_test::kUdp4);
  auto ip = tunkit::MutableIpv4View::parse(b);
  REQUIRE(ip);
  auto udp = tunkit::MutableUdpView::parse(ip->mutable_payload());
  REQUIRE(udp);
  udp->set_src_port(1111);
  udp->set_dst_port(2222);
  udp->mutable_payload()[0] = std::byte{0x7f};
  udp->set_checksum(tunkit::transport_checksum(ip->src(), ip->dst(), 17, udp->bytes()));
  const auto pkt = tunkit::parse_ip(b);
  REQUIRE(pkt);
  CHECK(must(pkt->udp()).src_port() == 1111);
  CHECK(must(pkt->udp()).dst_port() == 2222);
  CHECK(tunkit::transport_checksum_ok(*pkt));
}
