#include "tunkit/packet/errors.hpp"

#include <functional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit::Layer;
using tunkit::ParseError;
using tunkit::ParseReason;
using tunkit_test::hex;
using tunkit_test::put16;
using tunkit_test::put8;
using Bytes = std::vector<std::byte>;

// The tunkit 0.1 names stay usable (deprecated) in 0.2.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static_assert(std::is_same_v<tunkit::ParseErrc, tunkit::ParseReason>);
static_assert(std::is_same_v<tunkit::BuildErrc, tunkit::BuildReason>);
#pragma GCC diagnostic pop

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

TEST_CASE("mutable views write fields in place: parse failures carry the reason", "[packet]") {
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

TEST_CASE("parse and build errors have error codes", "[packet]") {
  CHECK(make_error_code(ParseError{Layer::udp, ParseReason::bad_length, 4, 8}) ==
        tunkit::errc::malformed_packet);
  CHECK(make_error_code(ParseError{}) == tunkit::errc::malformed_packet);
  using tunkit::BuildError;
  using tunkit::BuildReason;
  CHECK(make_error_code(BuildError{BuildReason::buffer_too_small, 84}) ==
        tunkit::errc::output_too_small);
  for (const BuildReason r :
       {BuildReason::not_echo_request, BuildReason::not_arp_request,
        BuildReason::not_neighbor_solicitation, BuildReason::multicast_destination,
        BuildReason::address_family_mismatch, BuildReason::packet_too_large,
        BuildReason::tcp_options_too_long}) {
    CHECK(make_error_code(BuildError{r}) == std::errc::invalid_argument);
    CHECK(tunkit::to_string(BuildError{r}) != "unknown error");
  }
}
