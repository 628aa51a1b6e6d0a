#include "tunkit/format.hpp"

#include <string>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"

namespace {

using Bytes = std::vector<std::byte>;
using tunkit_test::hex;
using tunkit_test::must;

void put8(Bytes& b, std::size_t i, unsigned v) {
  b[i] = static_cast<std::byte>(v);
}
void put16(Bytes& b, std::size_t i, unsigned v) {
  put8(b, i, (v >> 8) & 0xFFU);
  put8(b, i + 1, v & 0xFFU);
}

std::string ip_summary(const Bytes& b) {
  return fmt::format("{}", tunkit::parse_ip(b));
}
std::string frame_summary(const Bytes& b) {
  return fmt::format("{}", tunkit::parse_frame(b));
}

using tunkit_test::kOurMac;

}  // namespace

TEST_CASE("value types format through their to_string", "[format]") {
  CHECK(fmt::format("{}", tunkit::IpAddress::v4({10, 0, 0, 1})) == "10.0.0.1");
  CHECK(fmt::format("{}", tunkit::IpAddress::parse("fd00:0:0::1")) == "fd00::1");
  CHECK(fmt::format("[{:<10}]", tunkit::IpAddress::v4({10, 0, 0, 1})) == "[10.0.0.1  ]");
  CHECK(fmt::format("{}", tunkit::IpPrefix{tunkit::IpAddress::v4({10, 0, 0, 1}), 24}) ==
        "10.0.0.1/24");
  CHECK(fmt::format("{}", tunkit::Flag::tun | tunkit::Flag::no_pi) == "TUN|NO_PI");
  CHECK(fmt::format("{}", tunkit::Flags{}) == "none");
  CHECK(fmt::format("{}", tunkit::Mode::tap) == "tap");
  CHECK(fmt::format("{:>5}", tunkit::Mode::tun) == "  tun");
  CHECK(fmt::format("{}", tunkit::MacAddress{{0xaa, 0xbb, 0xcc, 0x0d, 0x0e, 0xff}}) ==
        "aa:bb:cc:0d:0e:ff");
  CHECK(fmt::format("{}", tunkit::ParseError{tunkit::Layer::ipv4,
                                             tunkit::ParseReason::total_length_beyond_buffer, 1500,
                                             60}) == "IPv4: total length 1500 beyond buffer 60");
  CHECK(fmt::format("{}", tunkit::BuildError{tunkit::BuildReason::buffer_too_small, 84}) ==
        "output buffer too small (need 84 bytes)");
}

TEST_CASE("IP packets print as one tcpdump-like line", "[format]") {
  CHECK(ip_summary(hex(tunkit_test::kUdp4)) == "IP 10.0.0.2.5353 > 10.0.0.1.53: UDP, length 42");
  CHECK(ip_summary(hex(tunkit_test::kTcp4Psh)) ==
        "IP 10.0.0.1.22 > 10.0.0.2.41000: Flags [P.], seq 1:101, ack 5, win 502, length 100");
  CHECK(ip_summary(hex(tunkit_test::kTcp4Syn)) ==
        "IP 10.0.0.2.41000 > 10.0.0.1.22: Flags [S], seq 1000, win 64240, options [mss "
        "1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0");
  CHECK(ip_summary(hex(tunkit_test::kIcmp4Echo)) ==
        "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64");
  CHECK(ip_summary(hex(tunkit_test::kIcmp6Echo)) ==
        "IP6 fd00::2 > fd00::1: ICMP6, echo request, id 7, seq 1, length 64");
  CHECK(ip_summary(hex(tunkit_test::kIpv4Options)) ==
        "IP 10.0.0.1.1000 > 224.0.0.22.2000: UDP, length 2");
  CHECK(ip_summary(hex(tunkit_test::kIpv6Ext)) == "IP6 fd00::1.1234 > fd00::2.5678: UDP, length 4");
  CHECK(ip_summary(hex(tunkit_test::kIpv6Frag)) ==
        "IP6 fd00::1 > fd00::2: UDP fragment, id 66, offset 1232, more, length 16");
}

TEST_CASE("fragments, other protocols and other ICMP types", "[format]") {
  Bytes b = hex(tunkit_test::kUdp4);
  SECTION("IPv4 fragment") {
    put16(b, 6, 185);
    CHECK(ip_summary(b) == "IP 10.0.0.2 > 10.0.0.1: UDP fragment, id 7238, offset 1480, length 50");
  }
  SECTION("unknown protocol") {
    put8(b, 9, 47);
    CHECK(ip_summary(b) == "IP 10.0.0.2 > 10.0.0.1: ip-proto-47, length 50");
  }
  SECTION("ICMP") {
    Bytes e = hex(tunkit_test::kIcmp4Echo);
    put8(e, 20, 11);
    CHECK(ip_summary(e) == "IP 10.0.0.1 > 10.0.0.2: ICMP time exceeded, code 0, length 64");
    put8(e, 20, 42);
    put8(e, 21, 3);
    CHECK(ip_summary(e) == "IP 10.0.0.1 > 10.0.0.2: ICMP type 42, code 3, length 64");
    put8(e, 20, 0);
    CHECK(ip_summary(e) == "IP 10.0.0.1 > 10.0.0.2: ICMP echo reply, id 7, seq 1, length 64");
  }
  SECTION("ICMPv6") {
    Bytes e = hex(tunkit_test::kIcmp6Echo);
    put8(e, 40, 2);
    put16(e, 44, 0);
    put16(e, 46, 1280);
    CHECK(ip_summary(e) == "IP6 fd00::2 > fd00::1: ICMP6, packet too big, mtu 1280, length 64");
    put8(e, 40, 200);
    put8(e, 41, 3);
    CHECK(ip_summary(e) == "IP6 fd00::2 > fd00::1: ICMP6, type 200, code 3, length 64");
    put8(e, 40, 133);
    put8(e, 41, 0);
    CHECK(ip_summary(e) == "IP6 fd00::2 > fd00::1: ICMP6, router solicitation, code 0, length 64");
  }
  SECTION("TCP flags") {
    Bytes t = hex(tunkit_test::kTcp4Psh);
    put8(t, 33, 0xff);
    CHECK(ip_summary(t) ==
          "IP 10.0.0.1.22 > 10.0.0.2.41000: Flags [FSRP.UEW], seq 1:101, ack 5, win 502, urg 0, "
          "length 100");
    put8(t, 33, 0);
    CHECK(ip_summary(t) ==
          "IP 10.0.0.1.22 > 10.0.0.2.41000: Flags [none], seq 1:101, win 502, length 100");
  }
}

TEST_CASE("Ethernet frames print their header, then ARP or IP", "[format]") {
  CHECK(frame_summary(hex(tunkit_test::kArpRequest)) ==
        "aa:bb:cc:dd:ee:ff > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60: ARP, Request "
        "who-has 10.0.0.2 tell 10.0.0.1, length 28");
  CHECK(frame_summary(hex(tunkit_test::kVlanFrame)) ==
        "aa:bb:cc:dd:ee:ff > 11:22:33:44:55:66, ethertype 802.1Q (0x8100), vlan 10, p 3, "
        "ethertype IPv4 (0x0800), length 88: IP 10.0.0.2.5353 > 10.0.0.1.53: UDP, length 42");
  CHECK(frame_summary(hex(tunkit_test::kNsFrame)) ==
        "02:00:00:00:00:02 > 33:33:ff:00:00:01, ethertype IPv6 (0x86dd), length 86: IP6 fd00::2 > "
        "ff02::1:ff00:1: ICMP6, neighbor solicitation, who has fd00::1, length 32");

  const Bytes ns_bytes = hex(tunkit_test::kNsFrame);
  const auto ns = tunkit::parse_frame(ns_bytes);
  std::vector<std::byte> out(100);
  const auto na = tunkit::build_neighbor_advertisement(*ns, kOurMac, out);
  REQUIRE(na);
  CHECK(fmt::format("{}", *tunkit::parse_ip(std::span(out).subspan(14, *na - 14))) ==
        "IP6 fd00::1 > fd00::2: ICMP6, neighbor advertisement, tgt is fd00::1, length 32");

  const Bytes arp_bytes = hex(tunkit_test::kArpRequest);
  const auto arp = tunkit::parse_frame(arp_bytes);
  const auto reply = tunkit::build_arp_reply(*arp, kOurMac, out);
  REQUIRE(reply);
  CHECK(fmt::format("{}", *tunkit::ArpView::parse(std::span(out).subspan(14, 28))) ==
        "ARP, Reply 10.0.0.2 is-at 02:00:00:00:00:01, length 28");

  Bytes b = hex(tunkit_test::kArpRequest);
  put16(b, 20, 3);
  CHECK(fmt::format("{}", must(tunkit::parse_frame(b)->arp())) == "ARP, opcode 3, length 28");
  put16(b, 12, 0x88cc);
  CHECK(frame_summary(b) ==
        "aa:bb:cc:dd:ee:ff > ff:ff:ff:ff:ff:ff, ethertype Unknown (0x88cc), length 60");
}

TEST_CASE("single views print their own layer", "[format]") {
  const Bytes udp4 = hex(tunkit_test::kUdp4);
  CHECK(fmt::format("{}", *tunkit::Ipv4View::parse(udp4)) ==
        "IP 10.0.0.2 > 10.0.0.1: proto UDP (17), ttl 64, id 7238, length 70");
  CHECK(fmt::format("{}", *tunkit::UdpView::parse(std::span(udp4).subspan(20))) ==
        "UDP 5353 > 53, length 42");
  const Bytes tcp4 = hex(tunkit_test::kTcp4Psh);
  CHECK(fmt::format("{}", *tunkit::TcpView::parse(std::span(tcp4).subspan(20))) ==
        "TCP 22 > 41000: Flags [P.], seq 1:101, ack 5, win 502, length 100");
  const Bytes icmp4 = hex(tunkit_test::kIcmp4Echo);
  CHECK(fmt::format("{}", *tunkit::IcmpView::parse(std::span(icmp4).subspan(20))) ==
        "ICMP echo request, id 7, seq 1, length 64");
  const Bytes icmp6 = hex(tunkit_test::kIcmp6Echo);
  CHECK(fmt::format("{}", *tunkit::Ipv6View::parse(icmp6)) ==
        "IP6 fd00::2 > fd00::1: proto ICMP6 (58), hlim 64, length 64");
  CHECK(fmt::format("{}", *tunkit::Icmpv6View::parse(std::span(icmp6).subspan(40))) ==
        "ICMP6, echo request, id 7, seq 1, length 64");
  const Bytes frag6 = hex(tunkit_test::kIpv6Frag);
  CHECK(fmt::format("{}", *tunkit::Ipv6View::parse(frag6)) ==
        "IP6 fd00::1 > fd00::2: proto UDP (17), hlim 64, fragment id 66, offset 1232, more, "
        "length 24");
  Bytes frag = udp4;
  put16(frag, 6, 0x2000 | 185);
  put8(frag, 9, 99);
  CHECK(fmt::format("{}", *tunkit::Ipv4View::parse(frag)) ==
        "IP 10.0.0.2 > 10.0.0.1: proto unknown (99), ttl 64, id 7238, fragment offset 1480, more, "
        "length 70");
  const Bytes arp = hex(tunkit_test::kArpRequest);
  CHECK(fmt::format("{}", *tunkit::EthernetView::parse(arp)) ==
        "aa:bb:cc:dd:ee:ff > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 60");
  // Mutable views print as the views they extend.
  Bytes m = udp4;
  CHECK(fmt::format("{}", *tunkit::MutableIpv4View::parse(m)) ==
        fmt::format("{}", *tunkit::Ipv4View::parse(udp4)));
  CHECK(fmt::format("{}", tunkit::MutableUdpView::parse(std::span(m).subspan(20))) ==
        "UDP 5353 > 53, length 42");
}

TEST_CASE("malformed packets print why", "[format]") {
  Bytes b = hex(tunkit_test::kUdp4);
  put16(b, 2, 1500);
  b.resize(60);
  CHECK(ip_summary(b) == "[malformed IPv4: total length 1500 beyond buffer 60]");
  CHECK(fmt::format("{:x}", tunkit::parse_ip(b)) ==
        "[malformed IPv4: total length 1500 beyond buffer 60]");
  CHECK(frame_summary(Bytes(3)) == "[malformed Ethernet: truncated (3 bytes, header needs 14)]");
  const Bytes three(3);
  CHECK(fmt::format("{}", tunkit::TcpView::parse(three)) ==
        "[malformed TCP: truncated (3 bytes, header needs 20)]");
}

TEST_CASE("{:x} appends a tcpdump -x style hex dump", "[format]") {
  const Bytes b = hex(tunkit_test::kIcmp4Echo);
  CHECK(fmt::format("{:x}", *tunkit::parse_ip(b)) ==
        "IP 10.0.0.1 > 10.0.0.2: ICMP echo request, id 7, seq 1, length 64\n"
        "\t0x0000:  4500 0054 abcd 4000 4001 7ad9 0a00 0001\n"
        "\t0x0010:  0a00 0002 0800 3f23 0007 0001 1011 1213\n"
        "\t0x0020:  1415 1617 1819 1a1b 1c1d 1e1f 2021 2223\n"
        "\t0x0030:  2425 2627 2829 2a2b 2c2d 2e2f 3031 3233\n"
        "\t0x0040:  3435 3637 3839 3a3b 3c3d 3e3f 4041 4243\n"
        "\t0x0050:  4445 4647");
  const Bytes small = hex("0001 0002 000b 0000 6869 21");
  CHECK(fmt::format("{:x}", *tunkit::UdpView::parse(small)) ==
        "UDP 1 > 2, length 3\n\t0x0000:  0001 0002 000b 0000 6869 21");
  CHECK(fmt::format("{}", tunkit::hex_dump(hex("0102 03"))) == "\t0x0000:  0102 03");
  CHECK(fmt::format("{}", tunkit::hex_dump({})).empty());
  const Bytes frame = hex(tunkit_test::kArpRequest);
  const std::string dump = fmt::format("{:x}", *tunkit::parse_frame(frame));
  CHECK(dump.find("\n\t0x0030:  0000 0000 0000 0000 0000 0000") != std::string::npos);
}

TEST_CASE("a packet format spec other than {} or {:x} is an error", "[format]") {
  const Bytes b = hex(tunkit_test::kUdp4);
  const auto pkt = tunkit::parse_ip(b);
  CHECK_THROWS_AS(fmt::format(fmt::runtime("{:y}"), *pkt), fmt::format_error);
  CHECK_THROWS_AS(fmt::format(fmt::runtime("{:xx}"), *pkt), fmt::format_error);
}

TEST_CASE("Options and LinkState print in one line", "[format]") {
  tunkit::Options o;
  o.name = "vpn%d";
  o.queues = 4;
  o.vnet_hdr = true;
  o.offloads = tunkit::Offload::csum | tunkit::Offload::tso4;
  o.persist = true;
  o.owner = 1000;
  CHECK(fmt::format("{}", o) ==
        "tun \"vpn%d\" queues 4 MULTI_QUEUE|NO_PI|VNET_HDR offloads CSUM|TSO4 persist owner 1000");
  CHECK(fmt::format("{}", tunkit::Options{}) == "tun \"tun%d\" queues 1 NO_PI");

  tunkit::LinkState s;
  s.name = "tap0";
  s.ifindex = 7;
  s.mtu = 1500;
  s.txqueuelen = 500;
  s.flags = 0x1002;  // IFF_BROADCAST | IFF_MULTICAST
  s.up = true;
  s.mac = tunkit::MacAddress{{0x02, 0, 0, 0, 0, 7}};
  CHECK(fmt::format("{}", s) ==
        "7: tap0: <BROADCAST,MULTICAST,UP,NO-CARRIER> mtu 1500 qlen 500 link/ether "
        "02:00:00:00:00:07");
}
