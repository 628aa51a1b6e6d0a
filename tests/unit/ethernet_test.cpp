#include "tunkit/packet/ethernet.hpp"

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
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("Ethernet frames: ARP, VLAN tags, IPv6", "[packet]") {
  SECTION("ARP request") {
    const Bytes b = hex(tunkit_test::kArpRequest);
    const auto frame = tunkit::parse_frame(b);
    REQUIRE(frame);
    const tunkit::EthernetView& eth = frame->ethernet();
    CHECK(eth.dst() == tunkit::MacAddress::broadcast());
    CHECK(eth.dst().is_multicast());
    CHECK(eth.src().to_string() == "aa:bb:cc:dd:ee:ff");
    CHECK(eth.ethertype() == 0x0806);
    CHECK_FALSE(eth.vlan());
    CHECK(eth.header_length() == 14);
    CHECK(eth.payload().size() == 46);
    CHECK(frame->bytes().size() == 60);
    CHECK(frame->ip() == nullptr);
    const tunkit::ArpView* arp = frame->arp();
    REQUIRE(arp != nullptr);
    CHECK(arp->operation() == tunkit::ArpView::request);
    CHECK(arp->sender_mac().to_string() == "aa:bb:cc:dd:ee:ff");
    CHECK(arp->sender_ip().to_string() == "10.0.0.1");
    CHECK(arp->target_mac() == tunkit::MacAddress({0, 0, 0, 0, 0, 0}));
    CHECK(arp->target_ip().to_string() == "10.0.0.2");
    CHECK(arp->bytes().size() == 28);
  }
  SECTION("802.1Q tag") {
    const Bytes b = hex(tunkit_test::kVlanFrame);
    const auto frame = tunkit::parse_frame(b);
    REQUIRE(frame);
    const auto vlan = frame->ethernet().vlan();
    REQUIRE(vlan);
    CHECK(*vlan == tunkit::VlanTag{0x8100, 3, false, 10});
    CHECK(frame->ethernet().header_length() == 18);
    CHECK(frame->ethernet().ethertype() == 0x0800);
    REQUIRE(frame->ip() != nullptr);
    REQUIRE(must(frame->ip()).udp() != nullptr);
    CHECK(must(must(frame->ip()).udp()).dst_port() == 53);
  }
  SECTION("IPv6 neighbour solicitation") {
    const Bytes b = hex(tunkit_test::kNsFrame);
    const auto frame = tunkit::parse_frame(b);
    REQUIRE(frame);
    REQUIRE(frame->ip() != nullptr);
    const tunkit::Icmpv6View* icmp = must(frame->ip()).icmpv6();
    REQUIRE(icmp != nullptr);
    CHECK(icmp->type() == tunkit::Icmpv6Type::neighbor_solicitation);
    REQUIRE(icmp->nd_target());
    CHECK(icmp->nd_target()->to_string() == "fd00::1");
    CHECK(tunkit::transport_checksum_ok(must(frame->ip())));
  }
  SECTION("unknown EtherType") {
    Bytes b = hex(tunkit_test::kArpRequest);
    put16(b, 12, 0x88cc);  // LLDP
    const auto frame = tunkit::parse_frame(b);
    REQUIRE(frame);
    CHECK(frame->arp() == nullptr);
    CHECK(frame->ip() == nullptr);
    CHECK(frame->ethernet().ethertype() == 0x88cc);
  }
}

TEST_CASE("mutable views write fields in place: Ethernet, ARP", "[packet]") {
  Bytes f = hex(tunkit_test::kArpRequest);
  auto eth = tunkit::MutableEthernetView::parse(f);
  REQUIRE(eth);
  eth->set_dst(kOurMac);
  eth->set_src(tunkit::MacAddress::broadcast());
  auto arp = tunkit::MutableArpView::parse(std::span(f).subspan(14));
  REQUIRE(arp);
  arp->set_operation(tunkit::ArpView::reply);
  arp->set_sender_mac(kOurMac);
  arp->set_sender_ip(tunkit::IpAddress::v4({10, 0, 0, 9}));
  arp->set_target_mac(kOurMac);
  arp->set_target_ip(tunkit::IpAddress::v4({10, 0, 0, 8}));
  const auto frame = tunkit::parse_frame(f);
  REQUIRE(frame);
  CHECK(frame->ethernet().dst() == kOurMac);
  CHECK(must(frame->arp()).operation() == tunkit::ArpView::reply);
  CHECK(must(frame->arp()).sender_ip().to_string() == "10.0.0.9");
  CHECK(must(frame->arp()).target_ip().to_string() == "10.0.0.8");
  CHECK(must(frame->arp()).target_mac() == kOurMac);
}
