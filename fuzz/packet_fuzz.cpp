// Fuzzes every packet parser with arbitrary bytes: each view's parse, parse_ip and parse_frame,
// every accessor of what they accept, the formatters, and the checksum helpers.
//
// Properties checked beyond "no crash, no sanitizer report":
// - every span a view hands out lies inside the input;
// - the mutable parse of a copy agrees with the read-only parse;
// - after recomputing the IPv4 header checksum and the transport checksum in a copy, both verify.

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "tunkit/format.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/packet/checksum.hpp"

#include "fuzz_check.hpp"

namespace {

std::span<const std::byte> input;

void inside(std::span<const std::byte> s) {
  if (s.empty()) return;
  TUNKIT_FUZZ_CHECK(s.data() >= input.data());
  TUNKIT_FUZZ_CHECK(s.data() + s.size() <= input.data() + input.size());
}

// Formatting reads every field the summary shows; the hex dump reads every byte.
template <class T>
void format(const T& value) {
  const std::string text = fmt::format("{:x}", value);
  TUNKIT_FUZZ_CHECK(!text.empty());
}

template <class View>
void touch_transport(const View& v) {
  inside(v.bytes());
  inside(v.payload());
  format(v);
}

void touch(const tunkit::Ipv4View& v) {
  inside(v.bytes());
  inside(v.header());
  inside(v.payload());
  inside(v.options());
  TUNKIT_FUZZ_CHECK(v.header_length() >= 20 && v.header_length() <= v.bytes().size());
  TUNKIT_FUZZ_CHECK(v.total_length() == v.bytes().size());
  if (auto o = v.option(0x94)) inside(*o);
  (void)tunkit::ipv4_header_checksum_ok(v);
  format(v);
}

void touch(const tunkit::Ipv6View& v) {
  inside(v.bytes());
  inside(v.payload());
  inside(v.extension_headers());
  inside(v.upper_payload());
  TUNKIT_FUZZ_CHECK(v.upper_offset() >= 40 && v.upper_offset() <= v.bytes().size());
  (void)v.fragment();
  format(v);
}

void touch(const tunkit::TcpView& v) {
  touch_transport(v);
  inside(v.options());
  TUNKIT_FUZZ_CHECK(v.header_length() >= 20 && v.header_length() <= v.bytes().size());
  for (std::uint8_t kind = 0; kind < 10; ++kind) {
    if (auto o = v.option(kind)) inside(*o);
  }
  (void)v.mss();
}

void touch(const tunkit::IpPacket& p) {
  inside(p.bytes());
  inside(p.transport_bytes());
  if (const auto* v4 = p.ipv4()) touch(*v4);
  if (const auto* v6 = p.ipv6()) touch(*v6);
  if (const auto* tcp = p.tcp()) touch(*tcp);
  if (const auto* udp = p.udp()) touch_transport(*udp);
  if (const auto* icmp = p.icmp()) touch_transport(*icmp);
  if (const auto* icmp6 = p.icmpv6()) {
    touch_transport(*icmp6);
    (void)icmp6->nd_target();
  }
  (void)tunkit::transport_checksum_ok(p);
  format(p);
}

// Recomputes the checksums in a copy of the packet; both must then verify.
void check_checksum_round_trip(const tunkit::IpPacket& p) {
  std::vector<std::byte> copy(p.bytes().begin(), p.bytes().end());
  const auto again = tunkit::parse_ip(copy);
  TUNKIT_FUZZ_CHECK(again);
  if (again->ipv4() != nullptr) {
    auto m = tunkit::MutableIpv4View::parse(copy);
    TUNKIT_FUZZ_CHECK(m);
    m->update_checksum();
    TUNKIT_FUZZ_CHECK(tunkit::ipv4_header_checksum_ok(*tunkit::Ipv4View::parse(copy)));
  }
  const std::span<const std::byte> transport = again->transport_bytes();
  const auto offset = static_cast<std::size_t>(transport.data() - copy.data());
  const std::uint16_t c = tunkit::transport_checksum(*again);
  std::size_t field = 0;
  if (again->tcp()) field = 16;
  if (again->udp()) field = 6;
  if (again->icmp() || again->icmpv6()) field = 2;
  if (field == 0) return;
  // The mutable ICMP views compute the same checksum as transport_checksum.
  const std::span<std::byte> message(copy.data() + offset, transport.size());
  if (again->icmp() != nullptr) {
    auto icmp = tunkit::MutableIcmpView::parse(message);
    TUNKIT_FUZZ_CHECK(icmp);
    icmp->update_checksum();
    TUNKIT_FUZZ_CHECK(icmp->checksum() == c);
  } else if (again->icmpv6() != nullptr) {
    auto icmp6 = tunkit::MutableIcmpv6View::parse(message);
    TUNKIT_FUZZ_CHECK(icmp6);
    icmp6->update_checksum(again->src(), again->dst());
    TUNKIT_FUZZ_CHECK(icmp6->checksum() == c);
  }
  copy[offset + field] = static_cast<std::byte>(c >> 8);
  copy[offset + field + 1] = static_cast<std::byte>(c & 0xFFU);
  const auto fixed = tunkit::parse_ip(copy);
  TUNKIT_FUZZ_CHECK(fixed);
  TUNKIT_FUZZ_CHECK(tunkit::transport_checksum_ok(*fixed));
}

template <class View, class MutableView>
void parse_both(std::span<const std::byte> data) {
  const auto v = View::parse(data);
  std::vector<std::byte> copy(data.begin(), data.end());
  const auto m = MutableView::parse(copy);
  TUNKIT_FUZZ_CHECK(v.has_value() == m.has_value());
  if (!v) {
    TUNKIT_FUZZ_CHECK(v.error() == m.error());
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(v.error()).empty());
    format(v);
    return;
  }
  TUNKIT_FUZZ_CHECK(v->bytes().size() == m->bytes().size());
  if constexpr (requires { touch(*v); }) {
    touch(*v);
  } else {
    touch_transport(*v);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input = std::as_bytes(std::span(data, size));

  parse_both<tunkit::Ipv4View, tunkit::MutableIpv4View>(input);
  parse_both<tunkit::Ipv6View, tunkit::MutableIpv6View>(input);
  parse_both<tunkit::TcpView, tunkit::MutableTcpView>(input);
  parse_both<tunkit::UdpView, tunkit::MutableUdpView>(input);
  parse_both<tunkit::IcmpView, tunkit::MutableIcmpView>(input);
  parse_both<tunkit::Icmpv6View, tunkit::MutableIcmpv6View>(input);
  if (auto arp = tunkit::ArpView::parse(input)) {
    inside(arp->bytes());
    format(*arp);
  }
  if (auto eth = tunkit::EthernetView::parse(input)) {
    inside(eth->payload());
    (void)eth->vlan();
    format(*eth);
  }

  if (const auto pkt = tunkit::parse_ip(input)) {
    touch(*pkt);
    check_checksum_round_trip(*pkt);
  } else {
    format(pkt);
  }
  if (const auto frame = tunkit::parse_frame(input)) {
    inside(frame->bytes());
    if (const auto* arp = frame->arp()) inside(arp->bytes());
    if (const auto* ip = frame->ip()) touch(*ip);
    format(*frame);
  } else {
    format(frame);
  }

  // The checksum itself over the whole input, chained in two halves.
  const std::size_t half = size / 2;
  tunkit::Checksum sum;
  sum.add(input.first(half)).add(input.subspan(half));
  TUNKIT_FUZZ_CHECK(sum.checksum() == tunkit::internet_checksum(input));
  return 0;
}
