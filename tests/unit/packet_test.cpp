#include "tunkit/packet.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/checksum.hpp"

namespace {

using tunkit::IpProtocol;
using tunkit::Layer;
using tunkit::ParseError;
using tunkit::ParseReason;
using tunkit_test::hex;
using tunkit_test::must;
using Bytes = std::vector<std::byte>;

std::uint8_t at(std::span<const std::byte> b, std::size_t i) {
  return std::to_integer<std::uint8_t>(b[i]);
}

void put8(Bytes& b, std::size_t i, unsigned v) {
  b[i] = static_cast<std::byte>(v);
}
void put16(Bytes& b, std::size_t i, unsigned v) {
  put8(b, i, (v >> 8) & 0xFFU);
  put8(b, i + 1, v & 0xFFU);
}

constexpr tunkit::MacAddress kOurMac{{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}};

}  // namespace

// A view parsed from a temporary container would dangle; those overloads are deleted.
template <class R>
concept ParsableIp = requires(R&& r) {
  tunkit::parse_ip(std::forward<R>(r));
};
template <class R>
concept ParsableUdp = requires(R&& r) {
  tunkit::UdpView::parse(std::forward<R>(r));
};
static_assert(!ParsableIp<std::vector<std::byte>>);
static_assert(!ParsableIp<std::array<std::byte, 40>>);
static_assert(ParsableIp<std::vector<std::byte>&>);
static_assert(ParsableIp<const std::vector<std::byte>&>);
static_assert(ParsableIp<std::span<const std::byte>>);
static_assert(!ParsableUdp<std::vector<std::byte>>);
static_assert(ParsableUdp<std::span<std::byte>>);

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
  CHECK(at(udp->payload(), 0) == 0);
  CHECK(at(udp->payload(), 41) == 41);

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

TEST_CASE("IPv4/TCP golden packets: flags, sequence numbers, options", "[packet]") {
  SECTION("PSH+ACK with data") {
    const Bytes b = hex(tunkit_test::kTcp4Psh);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    const tunkit::TcpView* tcp = pkt->tcp();
    REQUIRE(tcp != nullptr);
    CHECK(tcp->src_port() == 22);
    CHECK(tcp->dst_port() == 41000);
    CHECK(tcp->seq() == 1);
    CHECK(tcp->ack() == 5);
    CHECK(tcp->header_length() == 20);
    CHECK(tcp->flags() == (tunkit::TcpFlags(tunkit::TcpFlag::psh) | tunkit::TcpFlag::ack));
    CHECK(tcp->flags().has(tunkit::TcpFlag::psh));
    CHECK_FALSE(tcp->flags().has(tunkit::TcpFlag::syn));
    CHECK(tcp->window() == 502);
    CHECK(tcp->checksum() == 0xf426);
    CHECK(tcp->urgent_pointer() == 0);
    CHECK(tcp->options().empty());
    CHECK_FALSE(tcp->mss());
    CHECK(tcp->payload().size() == 100);
    CHECK(tcp->bytes().size() == 120);
    CHECK(tunkit::transport_checksum_ok(*pkt));
    CHECK(tunkit::transport_checksum(*pkt) == 0xf426);
  }
  SECTION("SYN with options") {
    const Bytes b = hex(tunkit_test::kTcp4Syn);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    const tunkit::TcpView* tcp = pkt->tcp();
    REQUIRE(tcp != nullptr);
    CHECK(tcp->flags() == tunkit::TcpFlag::syn);
    CHECK(tcp->seq() == 1000);
    CHECK(tcp->header_length() == 40);
    CHECK(tcp->options().size() == 20);
    CHECK(tcp->payload().empty());
    CHECK(tcp->mss() == 1460);
    const auto ws = tcp->option(3);
    REQUIRE(ws);
    REQUIRE(ws->size() == 3);
    CHECK(at(*ws, 2) == 7);
    const auto ts = tcp->option(8);
    REQUIRE(ts);
    CHECK(ts->size() == 10);
    CHECK(tcp->option(4));
    CHECK_FALSE(tcp->option(5));
    CHECK(tunkit::transport_checksum_ok(*pkt));
  }
}

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
  CHECK(at(icmp->payload(), 0) == 0x10);
  CHECK(tunkit::ipv4_header_checksum_ok(must(pkt->ipv4())));
  CHECK(tunkit::transport_checksum_ok(*pkt));
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

namespace {

struct MalformedCase {
  std::string name;
  std::string_view sample;
  std::function<void(Bytes&)> mutate;
  bool frame;
  ParseError expected;
  std::string text;
};

}  // namespace

TEST_CASE("every malformed packet is rejected with its reason", "[packet]") {
  using tunkit_test::kArpRequest;
  using tunkit_test::kIcmp4Echo;
  using tunkit_test::kIcmp6Echo;
  using tunkit_test::kIpv4Options;
  using tunkit_test::kIpv6Ext;
  using tunkit_test::kTcp4Syn;
  using tunkit_test::kUdp4;
  const auto truncate = [](std::size_t n) { return [n](Bytes& b) { b.resize(n); }; };
  const auto set8 = [](std::size_t i, unsigned v) { return [=](Bytes& b) { put8(b, i, v); }; };
  const auto set16 = [](std::size_t i, unsigned v) { return [=](Bytes& b) { put16(b, i, v); }; };
  const auto both = [](auto f, auto g) {
    return [=](Bytes& b) {
      f(b);
      g(b);
    };
  };
  const MalformedCase c = GENERATE_COPY(values<MalformedCase>({
      {"empty",
       kUdp4,
       truncate(0),
       false,
       {Layer::ip, ParseReason::truncated, 0, 20},
       "IP: truncated (0 bytes, header needs 20)"},
      {"version 5",
       kUdp4,
       set8(0, 0x55),
       false,
       {Layer::ip, ParseReason::bad_version, 5, 0},
       "IP: bad version 5"},
      {"IPv4 short",
       kUdp4,
       truncate(19),
       false,
       {Layer::ipv4, ParseReason::truncated, 19, 20},
       "IPv4: truncated (19 bytes, header needs 20)"},
      {"IHL 4",
       kUdp4,
       set8(0, 0x44),
       false,
       {Layer::ipv4, ParseReason::bad_header_length, 16, 20},
       "IPv4: bad header length 16 (minimum 20)"},
      {"IHL 15 in 40 bytes",
       kUdp4,
       both(set8(0, 0x4f), truncate(40)),
       false,
       {Layer::ipv4, ParseReason::header_beyond_buffer, 60, 40},
       "IPv4: header length 60 beyond buffer 40"},
      {"total length below header",
       kUdp4,
       set16(2, 16),
       false,
       {Layer::ipv4, ParseReason::total_length_too_small, 16, 20},
       "IPv4: total length 16 below header length 20"},
      {"total length beyond buffer",
       kUdp4,
       both(set16(2, 1500), truncate(60)),
       false,
       {Layer::ipv4, ParseReason::total_length_beyond_buffer, 1500, 60},
       "IPv4: total length 1500 beyond buffer 60"},
      {"IPv4 option of length 0",
       kIpv4Options,
       set8(21, 0),
       false,
       {Layer::ipv4, ParseReason::bad_option, 20, 0},
       "IPv4: malformed option at offset 20"},
      {"IPv4 option past the header",
       kIpv4Options,
       set8(21, 8),
       false,
       {Layer::ipv4, ParseReason::bad_option, 20, 0},
       "IPv4: malformed option at offset 20"},
      {"IPv4 option without length byte",
       kIpv4Options,
       both(both(set8(20, 1), set8(21, 1)), both(set8(22, 1), set8(23, 0x94))),
       false,
       {Layer::ipv4, ParseReason::bad_option, 23, 0},
       "IPv4: malformed option at offset 23"},
      {"IPv6 short",
       kIcmp6Echo,
       truncate(39),
       false,
       {Layer::ipv6, ParseReason::truncated, 39, 40},
       "IPv6: truncated (39 bytes, header needs 40)"},
      {"IPv6 payload beyond buffer",
       kIcmp6Echo,
       set16(4, 1000),
       false,
       {Layer::ipv6, ParseReason::payload_beyond_buffer, 1000, 64},
       "IPv6: payload length 1000 beyond buffer 64"},
      {"hop-by-hop not first",
       kIpv6Ext,
       set8(40, 0),
       false,
       {Layer::ipv6, ParseReason::hop_by_hop_not_first, 48, 0},
       "IPv6: hop-by-hop options header at offset 48 (allowed only first)"},
      {"extension header past the end",
       kIpv6Ext,
       set8(41, 200),
       false,
       {Layer::ipv6, ParseReason::extension_truncated, 40, 108},
       "IPv6: extension header at offset 40 runs past the end (108)"},
      {"AH past the end",
       kIpv6Ext,
       set8(73, 200),
       false,
       {Layer::ipv6, ParseReason::extension_truncated, 72, 108},
       "IPv6: extension header at offset 72 runs past the end (108)"},
      {"TCP data offset 4",
       kTcp4Syn,
       set8(32, 0x40),
       false,
       {Layer::tcp, ParseReason::bad_data_offset, 16, 20},
       "TCP: bad data offset 16 bytes (minimum 20)"},
      {"TCP data offset beyond segment",
       kTcp4Syn,
       set8(32, 0xf0),
       false,
       {Layer::tcp, ParseReason::header_beyond_buffer, 60, 40},
       "TCP: header length 60 beyond buffer 40"},
      {"TCP short",
       kTcp4Syn,
       set16(2, 30),
       false,
       {Layer::tcp, ParseReason::truncated, 10, 20},
       "TCP: truncated (10 bytes, header needs 20)"},
      {"TCP option of length 0",
       kTcp4Syn,
       set8(41, 0),
       false,
       {Layer::tcp, ParseReason::bad_option, 20, 0},
       "TCP: malformed option at offset 20"},
      {"UDP length 4",
       kUdp4,
       set16(24, 4),
       false,
       {Layer::udp, ParseReason::bad_length, 4, 8},
       "UDP: bad length 4 (minimum 8)"},
      {"UDP length beyond buffer",
       kUdp4,
       set16(24, 100),
       false,
       {Layer::udp, ParseReason::length_beyond_buffer, 100, 50},
       "UDP: length 100 beyond buffer 50"},
      {"UDP short",
       kUdp4,
       set16(2, 24),
       false,
       {Layer::udp, ParseReason::truncated, 4, 8},
       "UDP: truncated (4 bytes, header needs 8)"},
      {"ICMP short",
       kIcmp4Echo,
       set16(2, 24),
       false,
       {Layer::icmp, ParseReason::truncated, 4, 8},
       "ICMP: truncated (4 bytes, header needs 8)"},
      {"ICMPv6 short",
       kIcmp6Echo,
       set16(4, 4),
       false,
       {Layer::icmpv6, ParseReason::truncated, 4, 8},
       "ICMPv6: truncated (4 bytes, header needs 8)"},
      {"Ethernet short",
       kArpRequest,
       truncate(13),
       true,
       {Layer::ethernet, ParseReason::truncated, 13, 14},
       "Ethernet: truncated (13 bytes, header needs 14)"},
      {"VLAN tag short",
       kArpRequest,
       both(set16(12, 0x8100), truncate(16)),
       true,
       {Layer::ethernet, ParseReason::truncated, 16, 18},
       "Ethernet: truncated (16 bytes, header needs 18)"},
      {"ARP short",
       kArpRequest,
       truncate(41),
       true,
       {Layer::arp, ParseReason::truncated, 27, 28},
       "ARP: truncated (27 bytes, header needs 28)"},
      {"ARP hardware type",
       kArpRequest,
       set16(14, 6),
       true,
       {Layer::arp, ParseReason::unsupported_hardware, 6, 0},
       "ARP: unsupported hardware type 6"},
      {"ARP protocol type",
       kArpRequest,
       set16(16, 0x86dd),
       true,
       {Layer::arp, ParseReason::unsupported_protocol, 0x86dd, 0},
       "ARP: unsupported protocol type 0x86dd"},
      {"ARP address lengths",
       kArpRequest,
       set8(18, 8),
       true,
       {Layer::arp, ParseReason::bad_address_length, 8, 4},
       "ARP: unsupported address lengths 8/4"},
      {"IPv6 in an IPv4 frame",
       kArpRequest,
       both(set16(12, 0x0800), set8(14, 0x60)),
       true,
       {Layer::ipv4, ParseReason::bad_version, 6, 0},
       "IPv4: bad version 6"},
      {"empty IPv6 frame",
       kArpRequest,
       both(set16(12, 0x86dd), truncate(14)),
       true,
       {Layer::ipv6, ParseReason::truncated, 0, 40},
       "IPv6: truncated (0 bytes, header needs 40)"},
  }));
  CAPTURE(c.name);
  Bytes b = hex(c.sample);
  c.mutate(b);
  const ParseError e = c.frame ? tunkit::parse_frame(b).error() : tunkit::parse_ip(b).error();
  if (c.frame) {
    CHECK_FALSE(tunkit::parse_frame(b));
  } else {
    CHECK_FALSE(tunkit::parse_ip(b));
  }
  CHECK(e == c.expected);
  CHECK(tunkit::to_string(e) == c.text);
}

TEST_CASE("the single-layer parsers report their own errors", "[packet]") {
  const Bytes v6 = hex(tunkit_test::kIcmp6Echo);
  CHECK(tunkit::Ipv4View::parse(v6).error() ==
        ParseError{Layer::ipv4, ParseReason::bad_version, 6});
  const Bytes v4 = hex(tunkit_test::kUdp4);
  CHECK(tunkit::Ipv6View::parse(v4).error() ==
        ParseError{Layer::ipv6, ParseReason::bad_version, 4});
  CHECK(tunkit::TcpView::parse({}).error() ==
        ParseError{Layer::tcp, ParseReason::truncated, 0, 20});
  CHECK(tunkit::UdpView::parse({}).error() == ParseError{Layer::udp, ParseReason::truncated, 0, 8});
  CHECK(tunkit::IcmpView::parse({}).error() ==
        ParseError{Layer::icmp, ParseReason::truncated, 0, 8});
  CHECK(tunkit::Icmpv6View::parse({}).error() ==
        ParseError{Layer::icmpv6, ParseReason::truncated, 0, 8});
  CHECK(tunkit::ArpView::parse({}).error() ==
        ParseError{Layer::arp, ParseReason::truncated, 0, 28});
  CHECK(tunkit::EthernetView::parse({}).error() ==
        ParseError{Layer::ethernet, ParseReason::truncated, 0, 14});
  CHECK(tunkit::to_string(ParseReason::total_length_beyond_buffer) == "total length beyond buffer");
  CHECK(tunkit::to_string(Layer::icmpv6) == "ICMPv6");
}

TEST_CASE("Result: value() throws the reason, operator* and error() do not", "[packet]") {
  const Bytes b = hex(tunkit_test::kUdp4);
  const auto bad = tunkit::Ipv4View::parse(std::span(b).first(10));
  REQUIRE_FALSE(bad);
  CHECK_FALSE(bad.has_value());
  try {
    (void)bad.value();
    FAIL("value() did not throw");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == tunkit::errc::malformed_packet);
    CHECK(std::string(e.what()) ==
          "tunkit: Result::value: malformed packet (IPv4: truncated (10 bytes, header needs 20))");
  }
  const auto good = tunkit::Ipv4View::parse(b);
  CHECK(good.value().ttl() == 64);
  CHECK(good->ttl() == 64);
}

TEST_CASE("no prefix or random mutation of a golden packet reads out of bounds", "[packet]") {
  // Under ASan (the asan preset) any stray read fails this test; without it, it still proves that
  // parsing copes with every truncation and with arbitrary bytes.
  const std::string_view samples[] = {
      tunkit_test::kUdp4,      tunkit_test::kTcp4Psh,   tunkit_test::kTcp4Syn,
      tunkit_test::kIcmp4Echo, tunkit_test::kIcmp6Echo, tunkit_test::kIpv4Options,
      tunkit_test::kIpv6Ext,   tunkit_test::kIpv6Frag,  tunkit_test::kArpRequest,
      tunkit_test::kNsFrame,   tunkit_test::kDadFrame,  tunkit_test::kVlanFrame,
      tunkit_test::kEchoFrame,
  };
  std::mt19937 rng(20240611);
  std::size_t parsed = 0;
  for (const std::string_view s : samples) {
    const Bytes whole = hex(s);
    for (std::size_t n = 0; n <= whole.size(); ++n) {
      // An exact-size heap copy, so ASan sees a read one past the end.
      const std::vector<std::byte> prefix(whole.begin(),
                                          whole.begin() + static_cast<std::ptrdiff_t>(n));
      if (auto p = tunkit::parse_ip(prefix)) {
        ++parsed;
        CHECK(p->bytes().size() <= n);
        (void)tunkit::transport_checksum_ok(*p);
      }
      if (auto f = tunkit::parse_frame(prefix)) {
        ++parsed;
        CHECK(f->bytes().size() == n);
      }
    }
    for (int round = 0; round < 2000; ++round) {
      Bytes m = whole;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        m[rng() % m.size()] = static_cast<std::byte>(rng() & 0xFFU);
      }
      if (auto p = tunkit::parse_ip(m)) {
        (void)tunkit::transport_checksum(*p);
        std::array<std::byte, 2048> out{};
        if (auto r = tunkit::build_echo_reply(*p, out)) {
          CHECK(tunkit::parse_ip(std::span(out).first(*r)));
        }
      }
      if (auto f = tunkit::parse_frame(m)) {
        std::array<std::byte, 2048> out{};
        (void)tunkit::build_arp_reply(*f, kOurMac, out);
        (void)tunkit::build_neighbor_advertisement(*f, kOurMac, out);
        (void)tunkit::build_echo_reply(*f, out);
      }
    }
  }
  CHECK(parsed > 0);
}

TEST_CASE("mutable views write fields in place", "[packet]") {
  SECTION("IPv4: TTL and addresses, then the header checksum") {
    Bytes b = hex(tunkit_test::kUdp4);
    auto ip = tunkit::MutableIpv4View::parse(b);
    REQUIRE(ip);
    ip->set_ttl(63);
    ip->set_src(tunkit::IpAddress::v4({192, 168, 1, 1}));
    ip->set_dst(tunkit::IpAddress::parse("fd00::1"));  // wrong family: ignored
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
  SECTION("UDP ports, then the transport checksum") {
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
  SECTION("TCP fields") {
    Bytes b = hex(tunkit_test::kTcp4Psh);
    auto tcp = tunkit::MutableTcpView::parse(std::span(b).subspan(20));
    REQUIRE(tcp);
    tcp->set_seq(0xFFFFFFF0U);
    tcp->set_ack(77);
    tcp->set_flags(tunkit::TcpFlags(tunkit::TcpFlag::fin) | tunkit::TcpFlag::ack);
    tcp->set_window(1);
    tcp->set_src_port(80);
    tcp->set_dst_port(81);
    const auto pkt = tunkit::parse_ip(b);
    REQUIRE(pkt);
    tcp->set_checksum(tunkit::transport_checksum(*pkt));
    const auto again = tunkit::parse_ip(b);
    REQUIRE(again);
    CHECK(must(again->tcp()).seq() == 0xFFFFFFF0U);
    CHECK(must(again->tcp()).ack() == 77);
    CHECK(must(again->tcp()).flags().has(tunkit::TcpFlag::fin));
    CHECK(must(again->tcp()).window() == 1);
    CHECK(tunkit::transport_checksum_ok(*again));
  }
  SECTION("IPv6 traffic class, flow label, hop limit, addresses") {
    Bytes b = hex(tunkit_test::kIcmp6Echo);
    auto ip = tunkit::MutableIpv6View::parse(b);
    REQUIRE(ip);
    ip->set_traffic_class(0xAB);
    ip->set_flow_label(0x12345);
    ip->set_hop_limit(1);
    ip->set_src(tunkit::IpAddress::parse("fd00::99"));
    ip->set_dst(tunkit::IpAddress::v4({1, 2, 3, 4}));  // wrong family: ignored
    const auto again = tunkit::Ipv6View::parse(b);
    REQUIRE(again);
    CHECK(again->traffic_class() == 0xAB);
    CHECK(again->flow_label() == 0x12345);
    CHECK(again->hop_limit() == 1);
    CHECK(again->src().to_string() == "fd00::99");
    CHECK(again->dst().to_string() == "fd00::1");
    CHECK(at(b, 0) >> 4 == 6);
  }
  SECTION("Ethernet, ARP, ICMP, ICMPv6") {
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
  SECTION("mutable parse failures carry the reason") {
    Bytes b(3);
    CHECK(tunkit::MutableIpv4View::parse(b).error().reason == ParseReason::bad_version);
    put8(b, 0, 0x60);
    CHECK(tunkit::MutableIpv6View::parse(b).error().reason == ParseReason::truncated);
    CHECK(tunkit::MutableTcpView::parse(b).error().layer == Layer::tcp);
    CHECK(tunkit::MutableUdpView::parse(b).error().layer == Layer::udp);
    CHECK(tunkit::MutableIcmpView::parse(b).error().layer == Layer::icmp);
    CHECK(tunkit::MutableIcmpv6View::parse(b).error().layer == Layer::icmpv6);
    CHECK(tunkit::MutableArpView::parse(b).error().layer == Layer::arp);
    CHECK(tunkit::MutableEthernetView::parse(b).error().layer == Layer::ethernet);
  }
}

// ---------------------------------------------------------------------------------------------
// Builders

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
    CHECK(at(option, 0) == 2);
    CHECK(at(option, 1) == 1);
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
