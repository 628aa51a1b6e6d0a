#include "tunkit/offload.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "packet/checksum_kernels.hpp"
#include "packet_samples.hpp"
#include "tunkit/checksum.hpp"
#include "tunkit/error.hpp"
#include "tunkit/packet.hpp"

// Golden super-packets are built here field by field, and every checksum the engine writes is
// verified with the byte-loop reference of packet_samples.hpp, never with tunkit's own checksum
// code.

namespace {

using Bytes = std::vector<std::byte>;
using tunkit::GsoType;
using tunkit::OffloadReason;
using tunkit::VirtioNetHeader;
using tunkit_test::hex;
using tunkit_test::reference_checksum;

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;

std::uint8_t u8(const Bytes& b, std::size_t i) {
  return std::to_integer<std::uint8_t>(b[i]);
}
std::uint16_t be16(const Bytes& b, std::size_t i) {
  return static_cast<std::uint16_t>((u8(b, i) << 8) | u8(b, i + 1));
}
std::uint32_t be32(const Bytes& b, std::size_t i) {
  return (std::uint32_t{be16(b, i)} << 16) | be16(b, i + 2);
}
// Stores a big-endian field; any integer type (the tests compute fields in int).
template <class T>
void put8(Bytes& b, std::size_t i, T v) {
  b[i] = static_cast<std::byte>(static_cast<unsigned>(v) & 0xFFU);
}
template <class T>
void put16(Bytes& b, std::size_t i, T v) {
  const auto u = static_cast<unsigned>(v);
  put8(b, i, u >> 8);
  put8(b, i + 1, u);
}
template <class T>
void put32(Bytes& b, std::size_t i, T v) {
  const auto u = static_cast<std::uint32_t>(v);
  put16(b, i, u >> 16);
  put16(b, i + 2, u & 0xFFFFU);
}
void append(Bytes& to, const Bytes& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// Where the transport header starts, found by walking the headers byte by byte (IPv6: the
// extension headers this test builds: hop-by-hop 0, destination options 60).
std::size_t l4_offset(const Bytes& p) {
  if (u8(p, 0) >> 4 == 4) return std::size_t{4} * (u8(p, 0) & 0x0FU);
  std::size_t off = 40;
  unsigned next = u8(p, 6);
  while (next == 0 || next == 43 || next == 60) {
    next = u8(p, off);
    off += 8 * (std::size_t{u8(p, off + 1)} + 1);
  }
  return off;
}
unsigned l4_protocol(const Bytes& p) {
  if (u8(p, 0) >> 4 == 4) return u8(p, 9);
  std::size_t off = 40;
  unsigned next = u8(p, 6);
  while (next == 0 || next == 43 || next == 60) {
    next = u8(p, off);
    off += 8 * (std::size_t{u8(p, off + 1)} + 1);
  }
  return next;
}

// The pseudo header (RFC 793/768 for IPv4, RFC 8200 8.1 for IPv6) as bytes.
Bytes pseudo_header(const Bytes& p, std::size_t l4_length) {
  Bytes ph;
  if (u8(p, 0) >> 4 == 4) {
    ph.assign(p.begin() + 12, p.begin() + 20);
    ph.resize(12);
    put8(ph, 9, l4_protocol(p));
    put16(ph, 10, static_cast<unsigned>(l4_length));
  } else {
    ph.assign(p.begin() + 8, p.begin() + 40);
    ph.resize(40);
    put32(ph, 32, static_cast<std::uint32_t>(l4_length));
    put8(ph, 39, l4_protocol(p));
  }
  return ph;
}

// The reference verdict on a transport checksum: pseudo header + segment sum to all ones.
bool transport_checksum_ok(const Bytes& p) {
  const std::size_t off = l4_offset(p);
  Bytes all = pseudo_header(p, p.size() - off);
  all.insert(all.end(), p.begin() + static_cast<std::ptrdiff_t>(off), p.end());
  return reference_checksum(all) == 0;
}

bool ipv4_header_ok(const Bytes& p) {
  return reference_checksum(std::span(p).first(std::size_t{4} * (u8(p, 0) & 0x0FU))) == 0;
}

// The partial checksum a NEEDS_CSUM packet carries: the pseudo-header sum, folded, not
// complemented.
std::uint16_t partial_checksum(const Bytes& p) {
  const Bytes ph = pseudo_header(p, p.size() - l4_offset(p));
  return static_cast<std::uint16_t>(~reference_checksum(ph) & 0xFFFFU);
}

// Makes the transport checksum of `p` complete and right (reference code).
void fill_transport_checksum(Bytes& p) {
  const std::size_t off = l4_offset(p);
  const std::size_t field = off + (l4_protocol(p) == 6 ? 16 : 6);
  put16(p, field, 0);
  Bytes all = pseudo_header(p, p.size() - off);
  all.insert(all.end(), p.begin() + static_cast<std::ptrdiff_t>(off), p.end());
  std::uint16_t c = reference_checksum(all);
  if (c == 0 && l4_protocol(p) == 17) c = 0xFFFF;
  put16(p, field, c);
}

void fill_ipv4_checksum(Bytes& p) {
  put16(p, 10, 0);
  put16(p, 10, reference_checksum(std::span(p).first(std::size_t{4} * (u8(p, 0) & 0x0FU))));
}

struct Spec {
  int version = 4;
  bool tcp = true;
  std::size_t payload = 10000;
  std::uint16_t gso_size = 1448;
  std::uint8_t flags = kAck | kPsh;
  bool timestamps = true;
  std::uint16_t ip_id = 0x1234;
  std::uint32_t seq = 0xFFFFF000;  // wraps within a 64 KiB super-packet
  std::uint16_t src_port = 40000;
  unsigned seed = 1;
  bool ipv4_options = false;    // a 4-byte router alert: IHL 6
  bool ipv6_extension = false;  // an 8-byte destination options header
  int ipv6_routing = -1;        // >= 0: a segment routing header with this many segments left
};

struct Super {
  VirtioNetHeader header;
  Bytes packet;
};

// A super-packet as the kernel hands it over: headers of the first segment with the lengths of
// the whole, the partial transport checksum, a valid IPv4 header checksum, and the header that
// describes it.
Super make_super(const Spec& s) {
  Bytes p;
  if (s.version == 4) {
    p = hex("4500 0000 0000 4000 4000 0000 0a00 0001 0a00 0002");
    put16(p, 4, s.ip_id);
    put8(p, 1, 0x02);  // ECT(0)... in the TOS byte
    if (s.ipv4_options) {
      append(p, hex("9404 0000"));
      put8(p, 0, 0x46);
    }
    put8(p, 9, s.tcp ? 6 : 17);
  } else {
    p =
        hex("6000 0000 0000 0040 fd00 0000 0000 0000 0000 0000 0000 0001 "
            "fd00 0000 0000 0000 0000 0000 0000 0002");
    put32(p, 0, 0x60012345);  // flow label
    if (s.ipv6_extension) {
      put8(p, 6, 60);
      append(p, hex("0000 0104 0000 0000"));  // destination options, PadN
      put8(p, 40, s.tcp ? 6 : 17);
    } else if (s.ipv6_routing >= 0) {
      put8(p, 6, 43);  // RFC 8754 segment routing header, one segment: fd00::3
      append(p, hex("0002 0400 0000 0000 fd00 0000 0000 0000 0000 0000 0000 0003"));
      put8(p, 40, s.tcp ? 6 : 17);
      put8(p, 43, s.ipv6_routing);
    } else {
      put8(p, 6, s.tcp ? 6 : 17);
    }
  }
  const std::size_t ip_len = p.size();
  if (s.tcp) {
    append(p, hex("0000 01bb 0000 0000 0102 0304 5000 01f6 0000 0000"));
    put16(p, ip_len, s.src_port);
    put32(p, ip_len + 4, s.seq);
    put8(p, ip_len + 13, s.flags);
    if (s.timestamps) {
      append(p, hex("0101 080a 0001 e240 0000 3039"));
      put8(p, ip_len + 12, 0x80);
    }
  } else {
    append(p, hex("0000 1151 0000 0000"));
    put16(p, ip_len, s.src_port);
  }
  const std::size_t headers = p.size();
  std::mt19937 rng(s.seed);
  for (std::size_t i = 0; i < s.payload; ++i)
    p.push_back(static_cast<std::byte>(rng() & 0xFFU));
  if (s.version == 4) {
    put16(p, 2, static_cast<unsigned>(p.size()));
    fill_ipv4_checksum(p);
  } else {
    put16(p, 4, static_cast<unsigned>(p.size() - 40));
  }
  if (!s.tcp) put16(p, ip_len + 4, static_cast<unsigned>(p.size() - ip_len));
  put16(p, ip_len + (s.tcp ? 16 : 6), partial_checksum(p));

  VirtioNetHeader h;
  h.needs_csum = true;
  h.csum_start = static_cast<std::uint16_t>(ip_len);
  h.csum_offset = s.tcp ? 16 : 6;
  h.hdr_len = static_cast<std::uint16_t>(headers);
  h.gso_size = s.gso_size;
  h.gso_type = !s.tcp ? GsoType::udp_l4 : s.version == 4 ? GsoType::tcpv4 : GsoType::tcpv6;
  h.gso_ecn = s.tcp && (s.flags & kCwr) != 0;
  return {h, std::move(p)};
}

struct Split {
  std::vector<Bytes> segments;
};

Split split(const Super& sp, std::size_t buffer_size = 2048) {
  const std::size_t n = 65536 / std::max<std::size_t>(sp.header.gso_size, 1) + 2;
  std::vector<Bytes> storage(n, Bytes(buffer_size));
  std::vector<std::span<std::byte>> out(storage.begin(), storage.end());
  std::vector<std::size_t> sizes(n);
  const auto count = tunkit::gso_split(sp.header, sp.packet, out, sizes);
  REQUIRE(count.has_value());
  Split r;
  for (std::size_t i = 0; i < *count; ++i)
    r.segments.emplace_back(storage[i].begin(),
                            storage[i].begin() + static_cast<std::ptrdiff_t>(sizes[i]));
  return r;
}

struct Write {
  VirtioNetHeader header;
  Bytes packet;
  Bytes wire;
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

std::vector<Write> coalesce(tunkit::Coalescer& c, const std::vector<Bytes>& packets) {
  std::vector<std::span<const std::byte>> in(packets.begin(), packets.end());
  std::size_t total = 0;
  for (const auto& p : packets)
    total += p.size();
  Bytes arena(tunkit::Coalescer::arena_size(total, packets.size(), c.options().header_size));
  std::vector<tunkit::CoalescedPacket> out(packets.size());
  const auto n = c.coalesce(in, arena, out);
  REQUIRE(n.has_value());
  std::vector<Write> r;
  for (std::size_t i = 0; i < *n; ++i) {
    const auto& o = out[i];
    // The typed header is the one serialized in front of the packet.
    const auto parsed =
        VirtioNetHeader::parse(o.bytes, c.options().header_size, c.options().little_endian);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == o.header);
    CHECK(o.bytes.size() == c.options().header_size + o.packet.size());
    CHECK(o.packet.data() == o.bytes.data() + c.options().header_size);
    r.push_back({o.header, Bytes(o.packet.begin(), o.packet.end()),
                 Bytes(o.bytes.begin(), o.bytes.end()), o.first, o.count});
  }
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Flags and the header

TEST_CASE("Offload flags carry the kernel's TUN_F_* values and names", "[offload]") {
  using tunkit::Offload;
  CHECK(tunkit::Offloads(Offload::csum).bits() == 0x01);
  CHECK(tunkit::Offloads(Offload::tso4).bits() == 0x02);
  CHECK(tunkit::Offloads(Offload::tso6).bits() == 0x04);
  CHECK(tunkit::Offloads(Offload::tso_ecn).bits() == 0x08);
  CHECK(tunkit::Offloads(Offload::ufo).bits() == 0x10);
  CHECK(tunkit::Offloads(Offload::uso4).bits() == 0x20);
  CHECK(tunkit::Offloads(Offload::uso6).bits() == 0x40);
  CHECK(tunkit::Offloads(Offload::udp_tunnel_gso).bits() == 0x80);
  CHECK(tunkit::Offloads(Offload::udp_tunnel_gso_csum).bits() == 0x100);
  CHECK(tunkit::Offloads::all().bits() == 0x1FF);

  const tunkit::Offloads o = Offload::csum | Offload::tso4 | Offload::tso6;
  CHECK(tunkit::to_string(o) == "CSUM|TSO4|TSO6");
  CHECK(tunkit::to_string(tunkit::Offloads{}) == "none");
  CHECK(tunkit::to_string(tunkit::Offloads::all()) ==
        "CSUM|TSO4|TSO6|TSO_ECN|UFO|USO4|USO6|UDP_TUNNEL_GSO|UDP_TUNNEL_GSO_CSUM");
  CHECK(tunkit::to_string(tunkit::Offloads::from_bits(0x8001)) == "CSUM|0x8000");
  CHECK(o.has(Offload::tso4));
  CHECK_FALSE(o.has(Offload::uso4));
  CHECK((o - Offload::tso6) == (Offload::csum | Offload::tso4));
  CHECK((o & tunkit::Offloads(Offload::tso6)) == tunkit::Offloads(Offload::tso6));
  CHECK(tunkit::to_string(GsoType::udp_l4) == "UDP_L4");
  CHECK(tunkit::to_string(static_cast<GsoType>(2)) == "unknown");
}

TEST_CASE("VirtioNetHeader parses and serializes 10, 12 and 20 bytes, both byte orders",
          "[offload]") {
  // flags NEEDS_CSUM, gso TCPV4|ECN, hdr_len 66, gso_size 1448, csum_start 20, csum_offset 16,
  // num_buffers 1.
  const Bytes le = hex("0181 4200 a805 1400 1000 0100");
  const Bytes be = hex("0181 0042 05a8 0014 0010 0001");
  VirtioNetHeader want;
  want.needs_csum = true;
  want.gso_type = GsoType::tcpv4;
  want.gso_ecn = true;
  want.hdr_len = 66;
  want.gso_size = 1448;
  want.csum_start = 20;
  want.csum_offset = 16;
  want.num_buffers = 1;

  const auto h12 = VirtioNetHeader::parse(le, 12);
  REQUIRE(h12.has_value());
  CHECK(*h12 == want);
  const auto h12be = VirtioNetHeader::parse(be, 12, false);
  REQUIRE(h12be.has_value());
  CHECK(*h12be == want);
  const auto h10 = VirtioNetHeader::parse(le);  // 10 bytes: no num_buffers
  REQUIRE(h10.has_value());
  CHECK(h10->num_buffers == 0);
  CHECK(h10->gso_size == 1448);

  Bytes out(20, std::byte{0xEE});
  REQUIRE(want.serialize(out, 12).has_value());
  CHECK(Bytes(out.begin(), out.begin() + 12) == le);
  CHECK(out[12] == std::byte{0xEE});  // nothing past the header size
  REQUIRE(want.serialize(out, 12, false).has_value());
  CHECK(Bytes(out.begin(), out.begin() + 12) == be);
  const auto n20 = want.serialize(out, 20);
  REQUIRE(n20.has_value());
  CHECK(*n20 == 20);
  CHECK(std::all_of(out.begin() + 12, out.end(), [](std::byte b) { return b == std::byte{0}; }));
  REQUIRE(want.serialize(out, 10).has_value());
  CHECK(Bytes(out.begin(), out.begin() + 10) == Bytes(le.begin(), le.begin() + 10));

  // DATA_VALID and unknown flag bits.
  const auto dv = VirtioNetHeader::parse(hex("0600 0000 0000 0000 0000"));
  REQUIRE(dv.has_value());
  CHECK(dv->data_valid);
  CHECK_FALSE(dv->needs_csum);

  // Sizes and lengths.
  CHECK(VirtioNetHeader::parse(le, 4).error().reason == OffloadReason::bad_header_size);
  CHECK(tunkit::to_string(VirtioNetHeader::parse(le, 4).error()) ==
        "virtio-net header: size 4 below 10");
  const auto short_buf = VirtioNetHeader::parse(std::span(le).first(9));
  CHECK(short_buf.error().reason == OffloadReason::header_truncated);
  CHECK(tunkit::to_string(short_buf.error()) == "virtio-net header: 9 bytes, the header needs 10");
  CHECK(want.serialize(std::span(out).first(11), 12).error().reason ==
        OffloadReason::buffer_too_small);
}

TEST_CASE("Bad virtio-net headers are rejected with the reason", "[offload]") {
  const Super tcp4 = make_super({.payload = 3000});
  const Super udp6 = make_super({.version = 6, .tcp = false, .payload = 3000});
  CHECK_FALSE(tcp4.header.check(tcp4.packet).has_value());
  CHECK_FALSE(udp6.header.check(udp6.packet).has_value());
  CHECK_FALSE(tcp4.header.validate(tcp4.packet));

  struct Case {
    std::string name;
    VirtioNetHeader header;
    const Bytes* packet;
    OffloadReason code;
    std::string reason;
    tunkit::errc errc;
  };
  std::vector<Case> cases;
  const auto with = [](VirtioNetHeader h, auto edit) {
    edit(h);
    return h;
  };
  cases.push_back({"gso_size 0", with(tcp4.header, [](auto& h) { h.gso_size = 0; }), &tcp4.packet,
                   OffloadReason::gso_size_zero,
                   "virtio-net header: gso_size 0 with gso_type TCPV4",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"unknown gso type",
                   with(tcp4.header, [](auto& h) { h.gso_type = static_cast<GsoType>(2); }),
                   &tcp4.packet, OffloadReason::unknown_gso_type,
                   "virtio-net header: unknown gso_type 0x02", tunkit::errc::invalid_vnet_header});
  cases.push_back({"ECN alone", with(VirtioNetHeader{}, [](auto& h) { h.gso_ecn = true; }),
                   &tcp4.packet, OffloadReason::unknown_gso_type,
                   "virtio-net header: unknown gso_type 0x80", tunkit::errc::invalid_vnet_header});
  cases.push_back({"hdr_len beyond", with(tcp4.header, [](auto& h) { h.hdr_len = 4000; }),
                   &tcp4.packet, OffloadReason::hdr_len_beyond_packet,
                   "virtio-net header: hdr_len 4000 beyond packet length 3052",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"csum_start beyond", with(tcp4.header, [](auto& h) { h.csum_start = 3053; }),
                   &tcp4.packet, OffloadReason::csum_start_beyond_packet,
                   "virtio-net header: csum_start 3053 beyond packet length 3052",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"csum_offset beyond",
                   with(VirtioNetHeader{},
                        [](auto& h) {
                          h.needs_csum = true;
                          h.csum_start = 3000;
                          h.csum_offset = 51;
                        }),
                   &tcp4.packet, OffloadReason::csum_offset_beyond_packet,
                   "virtio-net header: checksum field ends at 3053 (csum_start + csum_offset + 2), "
                   "beyond packet length 3052",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"TCPV6 on IPv4", with(tcp4.header, [](auto& h) { h.gso_type = GsoType::tcpv6; }),
                   &tcp4.packet, OffloadReason::gso_type_mismatch,
                   "virtio-net header: gso_type TCPV6 does not fit an IPv4 TCP packet",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"TCPV4 on IPv6 UDP",
                   with(udp6.header, [](auto& h) { h.gso_type = GsoType::tcpv4; }), &udp6.packet,
                   OffloadReason::gso_type_mismatch,
                   "virtio-net header: gso_type TCPV4 does not fit an IPv6 UDP packet",
                   tunkit::errc::invalid_vnet_header});
  cases.push_back({"checksum field not the TCP checksum",
                   with(tcp4.header, [](auto& h) { h.csum_offset = 6; }), &tcp4.packet,
                   OffloadReason::csum_field_mismatch,
                   "virtio-net header: checksum field at 26 (csum_start + csum_offset) is not the "
                   "transport checksum at 36",
                   tunkit::errc::invalid_vnet_header});
  const Bytes truncated = [&] {
    Bytes b = tcp4.packet;
    b.resize(1000);  // the IPv4 total length says 3052
    return b;
  }();
  cases.push_back({"IP length beyond the buffer", with(tcp4.header, [](auto& h) { h.hdr_len = 0; }),
                   &truncated, OffloadReason::malformed_packet,
                   "malformed packet: IPv4: total length 3052 beyond buffer 1000",
                   tunkit::errc::malformed_packet});
  const Bytes fragment = [&] {
    Bytes b = tcp4.packet;
    put16(b, 6, 0x2000);  // MF
    fill_ipv4_checksum(b);
    return b;
  }();
  cases.push_back({"fragment", tcp4.header, &fragment, OffloadReason::fragment,
                   "packet is an IP fragment", tunkit::errc::malformed_packet});

  for (const auto& c : cases) {
    INFO(c.name);
    const auto why = c.header.check(*c.packet);
    REQUIRE(why.has_value());
    CHECK(why->reason == c.code);
    CHECK(tunkit::to_string(*why) == c.reason);
    CHECK(c.header.validate(*c.packet) == tunkit::make_error_code(c.errc));
    CHECK(tunkit::make_error_code(*why) == tunkit::make_error_code(c.errc));
    // gso_split refuses it the same way, before writing anything.
    Bytes buf(2048);
    std::array<std::span<std::byte>, 1> out{buf};
    std::array<std::size_t, 1> sizes{};
    const auto r = tunkit::gso_split(c.header, *c.packet, out, sizes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == *why);
  }
}

// ---------------------------------------------------------------------------------------------
// Checksum completion

TEST_CASE("complete_checksum finishes a NEEDS_CSUM packet", "[offload]") {
  for (const bool tcp : {true, false}) {
    for (const int version : {4, 6}) {
      INFO("tcp " << tcp << " IPv" << version);
      Super sp =
          make_super({.version = version, .tcp = tcp, .payload = 777, .gso_size = 1448, .seed = 7});
      VirtioNetHeader h = sp.header;
      h.gso_type = GsoType::none;
      h.gso_size = 0;
      Bytes expected = sp.packet;
      fill_transport_checksum(expected);
      REQUIRE_FALSE(tunkit::complete_checksum(h, sp.packet).has_value());
      CHECK(sp.packet == expected);
      CHECK(transport_checksum_ok(sp.packet));
    }
  }

  SECTION("a UDP checksum that computes to 0 is stored as 0xFFFF") {
    Super sp = make_super({.tcp = false, .payload = 64});
    // Choose the last two payload bytes so that the whole sum is 0xFFFF (checksum 0).
    Bytes& p = sp.packet;
    put16(p, p.size() - 2, 0);
    Bytes probe = p;
    fill_transport_checksum(probe);  // reference checksum with those bytes zero
    put16(p, p.size() - 2, be16(probe, 26) == 0xFFFF ? 0 : be16(probe, 26));
    VirtioNetHeader h = sp.header;
    h.gso_type = GsoType::none;
    REQUIRE_FALSE(tunkit::complete_checksum(h, p).has_value());
    CHECK(be16(p, 26) == 0xFFFF);
    CHECK(transport_checksum_ok(p));
  }

  SECTION("without NEEDS_CSUM nothing changes; a field beyond the packet is an error") {
    Super sp = make_super({.payload = 100});
    const Bytes before = sp.packet;
    CHECK_FALSE(tunkit::complete_checksum(VirtioNetHeader{}, sp.packet).has_value());
    CHECK(sp.packet == before);
    VirtioNetHeader h;
    h.needs_csum = true;
    h.csum_start = 150;
    h.csum_offset = 16;
    const auto e = tunkit::complete_checksum(h, sp.packet);
    REQUIRE(e.has_value());
    CHECK(e->reason == OffloadReason::csum_offset_beyond_packet);
    CHECK(sp.packet == before);
  }
}

// ---------------------------------------------------------------------------------------------
// GSO split

namespace {

// Every check on the segments of one split, against the super-packet they came from.
void check_segments(const Super& sp, const std::vector<Bytes>& segs) {
  const Bytes& o = sp.packet;
  const std::size_t ip_len = l4_offset(o);
  const bool tcp = l4_protocol(o) == 6;
  const bool v4 = u8(o, 0) >> 4 == 4;
  const std::size_t l4_len = tcp ? std::size_t{4} * (u8(o, ip_len + 12) >> 4) : 8;
  const std::size_t headers = ip_len + l4_len;
  const std::size_t payload = o.size() - headers;
  const std::size_t mss = sp.header.gso_size;
  const std::size_t want = payload == 0 ? 1 : (payload + mss - 1) / mss;
  REQUIRE(segs.size() == want);

  Bytes stream;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    INFO("segment " << i << " of " << segs.size());
    const Bytes& s = segs[i];
    const bool last = i + 1 == segs.size();
    const std::size_t chunk = last ? payload - i * mss : mss;
    REQUIRE(s.size() == headers + chunk);
    CHECK(transport_checksum_ok(s));
    // tunkit's own parser agrees that the result is a well-formed packet.
    const auto parsed = tunkit::parse_ip(s);
    REQUIRE(parsed.has_value());
    CHECK(tunkit::transport_checksum_ok(*parsed));
    if (v4) {
      CHECK(ipv4_header_ok(s));
      CHECK(be16(s, 2) == s.size());
      CHECK(be16(s, 4) == static_cast<std::uint16_t>(be16(o, 4) + i));
      // Every other IPv4 header byte is the super-packet's.
      for (std::size_t b = 0; b < ip_len; ++b) {
        if (b < 2 || (b >= 6 && b < 10) || b >= 12) CHECK(u8(s, b) == u8(o, b));
      }
    } else {
      CHECK(be16(s, 4) == s.size() - 40);
      CHECK(Bytes(s.begin(), s.begin() + 4) == Bytes(o.begin(), o.begin() + 4));
      CHECK(Bytes(s.begin() + 6, s.begin() + static_cast<std::ptrdiff_t>(ip_len)) ==
            Bytes(o.begin() + 6, o.begin() + static_cast<std::ptrdiff_t>(ip_len)));
    }
    const std::size_t t = ip_len;
    if (tcp) {
      CHECK(be32(s, t + 4) == static_cast<std::uint32_t>(be32(o, t + 4) + i * mss));
      const std::uint8_t f = u8(o, t + 13);
      std::uint8_t expect = f;
      if (!last) expect = static_cast<std::uint8_t>(expect & ~(kFin | kPsh));
      if (i > 0) expect = static_cast<std::uint8_t>(expect & ~kCwr);
      CHECK(u8(s, t + 13) == expect);
      // ports, ack, offset, window, urgent pointer, options unchanged
      CHECK(Bytes(s.begin() + static_cast<std::ptrdiff_t>(t),
                  s.begin() + static_cast<std::ptrdiff_t>(t + 4)) ==
            Bytes(o.begin() + static_cast<std::ptrdiff_t>(t),
                  o.begin() + static_cast<std::ptrdiff_t>(t + 4)));
      CHECK(be32(s, t + 8) == be32(o, t + 8));
      CHECK(u8(s, t + 12) == u8(o, t + 12));
      CHECK(be16(s, t + 14) == be16(o, t + 14));
      CHECK(Bytes(s.begin() + static_cast<std::ptrdiff_t>(t + 18),
                  s.begin() + static_cast<std::ptrdiff_t>(headers)) ==
            Bytes(o.begin() + static_cast<std::ptrdiff_t>(t + 18),
                  o.begin() + static_cast<std::ptrdiff_t>(headers)));
    } else {
      CHECK(be16(s, t) == be16(o, t));
      CHECK(be16(s, t + 2) == be16(o, t + 2));
      CHECK(be16(s, t + 4) == s.size() - t);
    }
    stream.insert(stream.end(), s.begin() + static_cast<std::ptrdiff_t>(headers), s.end());
  }
  CHECK(stream == Bytes(o.begin() + static_cast<std::ptrdiff_t>(headers), o.end()));
}

}  // namespace

TEST_CASE("gso_split: IPv4/IPv6 x TCP/UDP super-packets of every shape", "[offload]") {
  struct Shape {
    std::size_t payload;
    std::uint16_t gso_size;
  };
  // 1 segment (short), exactly 1 full segment, exact multiple, not a multiple, odd segment size,
  // and the largest super-packet (65535 bytes of IP packet).
  const std::vector<Shape> shapes = {{100, 1448},   {1448, 1448}, {1448 * 7, 1448},
                                     {10000, 1448}, {5000, 1001}, {0, 1200}};
  for (const int version : {4, 6}) {
    for (const bool tcp : {true, false}) {
      Spec base{.version = version, .tcp = tcp};
      const std::size_t headers = (version == 4 ? 20U : 40U) + (tcp ? 32U : 8U);
      std::vector<Shape> all = shapes;
      all.push_back({65535 - headers, static_cast<std::uint16_t>(tcp ? 1448 : 1472)});
      all.push_back({65535 - headers, 536});
      for (const Shape& shape : all) {
        if (!tcp && shape.payload == 0) continue;  // TCP only: a bare ACK super-packet
        Spec s = base;
        s.payload = shape.payload;
        s.gso_size = shape.gso_size;
        s.seed = static_cast<unsigned>(shape.payload + shape.gso_size);
        INFO("IPv" << version << (tcp ? " TCP" : " UDP") << " payload " << shape.payload
                   << " gso_size " << shape.gso_size);
        const Super sp = make_super(s);
        REQUIRE_FALSE(sp.header.check(sp.packet).has_value());
        check_segments(sp, split(sp).segments);
      }
    }
  }
}

TEST_CASE("gso_split: FIN and PSH only on the last segment, CWR only on the first", "[offload]") {
  const std::uint8_t flags =
      GENERATE(kAck, kAck | kPsh, kAck | kPsh | kFin, kAck | kFin, kAck | kCwr, kAck | kCwr | kPsh);
  const int version = GENERATE(4, 6);
  INFO("flags " << int{flags} << " IPv" << version);
  const Super sp = make_super({.version = version, .payload = 5000, .flags = flags});
  CHECK(sp.header.gso_ecn == ((flags & kCwr) != 0));
  const auto segs = split(sp).segments;
  REQUIRE(segs.size() == 4);
  const std::size_t t = version == 4 ? 20 : 40;
  CHECK(u8(segs[0], t + 13) == (flags & ~(kFin | kPsh)));
  CHECK(u8(segs[1], t + 13) == (flags & ~(kFin | kPsh | kCwr)));
  CHECK(u8(segs[2], t + 13) == (flags & ~(kFin | kPsh | kCwr)));
  CHECK(u8(segs[3], t + 13) == (flags & ~kCwr));
  check_segments(sp, segs);
}

TEST_CASE("gso_split: IPv4 ids wrap, IPv4 options and IPv6 extension headers are copied",
          "[offload]") {
  SECTION("ids wrap at 0xFFFF") {
    const Super sp = make_super({.payload = 4000, .ip_id = 0xFFFE});
    const auto segs = split(sp).segments;
    REQUIRE(segs.size() == 3);
    CHECK(be16(segs[0], 4) == 0xFFFE);
    CHECK(be16(segs[1], 4) == 0xFFFF);
    CHECK(be16(segs[2], 4) == 0x0000);
    check_segments(sp, segs);
  }
  SECTION("IPv4 options") {
    for (const bool tcp : {true, false}) {
      const Super sp = make_super({.tcp = tcp, .payload = 4000, .ipv4_options = true});
      REQUIRE(sp.header.csum_start == 24);
      check_segments(sp, split(sp).segments);
    }
  }
  SECTION("IPv6 destination options") {
    for (const bool tcp : {true, false}) {
      const Super sp =
          make_super({.version = 6, .tcp = tcp, .payload = 4000, .ipv6_extension = true});
      REQUIRE(sp.header.csum_start == 48);
      check_segments(sp, split(sp).segments);
    }
  }
  SECTION("IPv6 routing header: split without segments left, refused with") {
    const Super done = make_super({.version = 6, .payload = 4000, .ipv6_routing = 0});
    REQUIRE(done.header.csum_start == 64);
    check_segments(done, split(done).segments);

    const Super left = make_super({.version = 6, .payload = 4000, .ipv6_routing = 1});
    CHECK_FALSE(left.header.check(left.packet).has_value());  // the kernel takes it
    std::vector<Bytes> storage(4, Bytes(2048));
    std::vector<std::span<std::byte>> out(storage.begin(), storage.end());
    std::vector<std::size_t> sizes(4);
    const auto r = tunkit::gso_split(left.header, left.packet, out, sizes);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().reason == OffloadReason::routing_header);
    CHECK(tunkit::make_error_code(r.error()) == tunkit::errc::gso_unsupported);
    CHECK(tunkit::to_string(r.error()) ==
          "IPv6 routing header with 1 segments left: the checksum's destination is not the "
          "packet's (not split by tunkit)");
  }
  SECTION("no NEEDS_CSUM: the field's old value does not matter") {
    Super sp = make_super({.payload = 4000});
    sp.header.needs_csum = false;
    sp.header.csum_start = sp.header.csum_offset = 0;
    put16(sp.packet, 36, 0xBEEF);
    const auto segs = split(sp).segments;
    for (const auto& s : segs)
      CHECK(transport_checksum_ok(s));
  }
}

TEST_CASE("gso_split: output buffers too few or too small, UFO, GSO NONE", "[offload]") {
  const Super sp = make_super({.payload = 10000});  // 7 segments of up to 1500 bytes
  std::vector<Bytes> storage(7, Bytes(1500));
  std::vector<std::span<std::byte>> out(storage.begin(), storage.end());
  std::vector<std::size_t> sizes(7);

  auto r = tunkit::gso_split(sp.header, sp.packet, std::span(out).first(6), sizes);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == OffloadReason::too_many_segments);
  CHECK(tunkit::to_string(r.error()) == "7 segments, only 6 output buffers");
  CHECK(tunkit::make_error_code(r.error()) == tunkit::errc::output_too_small);
  r = tunkit::gso_split(sp.header, sp.packet, out, std::span(sizes).first(3));
  CHECK(r.error().reason == OffloadReason::too_many_segments);

  out[4] = std::span(storage[4]).first(1499);
  r = tunkit::gso_split(sp.header, sp.packet, out, sizes);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == tunkit::OffloadError{OffloadReason::buffer_too_small, 1500, 1499, {}});
  CHECK(tunkit::to_string(r.error()) == "output buffer of 1499 bytes, 1500 needed");
  out[4] = storage[4];
  r = tunkit::gso_split(sp.header, sp.packet, out, sizes);
  REQUIRE(r.has_value());
  CHECK(*r == 7);
  CHECK(sizes[6] == 10000 - 6 * 1448 + 52);

  // UFO is valid for the kernel but never sent by it since Linux 4.14: not split.
  const Super udp = make_super({.tcp = false, .payload = 3000});
  VirtioNetHeader ufo = udp.header;
  ufo.gso_type = GsoType::udp;
  CHECK_FALSE(ufo.check(udp.packet).has_value());
  r = tunkit::gso_split(ufo, udp.packet, out, sizes);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == OffloadReason::gso_unsupported);
  CHECK(tunkit::make_error_code(r.error()) == tunkit::errc::gso_unsupported);
  CHECK(tunkit::to_string(r.error()) ==
        "gso_type UDP is not split by tunkit (UFO: IP fragmentation)");

  // GSO NONE: copied, partial checksum completed.
  Super one = make_super({.tcp = false, .payload = 1000});
  one.header.gso_type = GsoType::none;
  one.header.gso_size = 0;
  r = tunkit::gso_split(one.header, one.packet, out, sizes);
  REQUIRE(r.has_value());
  REQUIRE(*r == 1);
  const Bytes copy(storage[0].begin(), storage[0].begin() + static_cast<std::ptrdiff_t>(sizes[0]));
  Bytes expected = one.packet;
  fill_transport_checksum(expected);
  CHECK(copy == expected);
}

// ---------------------------------------------------------------------------------------------
// GRO coalesce

TEST_CASE("split then coalesce gives back the super-packet byte for byte", "[offload]") {
  const bool verify = GENERATE(true, false);
  const std::size_t header_size = GENERATE(std::size_t{10}, std::size_t{12});
  tunkit::Coalescer gro({.max_batch = 256, .header_size = header_size, .verify_checksums = verify});
  for (const int version : {4, 6}) {
    for (const bool tcp : {true, false}) {
      const std::size_t headers = (version == 4 ? 20U : 40U) + (tcp ? 32U : 8U);
      for (const std::size_t payload : {std::size_t{1449}, std::size_t{2896}, std::size_t{10000},
                                        std::size_t{30001}, 65535 - headers}) {
        for (const std::uint8_t flags :
             {kAck, std::uint8_t(kAck | kPsh), std::uint8_t(kAck | kCwr | kPsh | kFin)}) {
          if (!tcp && flags != kAck) continue;
          INFO("IPv" << version << (tcp ? " TCP" : " UDP") << " payload " << payload << " flags "
                     << int{flags} << " verify " << verify << " header " << header_size);
          const Super sp = make_super({.version = version,
                                       .tcp = tcp,
                                       .payload = payload,
                                       .gso_size = static_cast<std::uint16_t>(tcp ? 1448 : 1400),
                                       .flags = flags});
          const auto segs = split(sp).segments;
          REQUIRE(segs.size() > 1);
          const auto writes = coalesce(gro, segs);
          REQUIRE(writes.size() == 1);
          CHECK(writes[0].count == segs.size());
          CHECK(writes[0].first == 0);
          CHECK(writes[0].header == sp.header);
          CHECK(writes[0].packet == sp.packet);
          Bytes wire(header_size);
          REQUIRE(sp.header.serialize(wire, header_size).has_value());
          append(wire, sp.packet);
          CHECK(writes[0].wire == wire);
        }
      }
    }
  }
}

TEST_CASE("coalesce: interleaved flows each come back whole, in first-packet order", "[offload]") {
  tunkit::Coalescer gro;
  const Super a = make_super({.payload = 20000, .src_port = 1000, .seed = 1});
  const Super b = make_super({.version = 6, .payload = 15000, .src_port = 1000, .seed = 2});
  const Super c = make_super({.tcp = false, .payload = 9000, .src_port = 1000, .seed = 3});
  const Super d = make_super({.tcp = false, .payload = 9000, .src_port = 1001, .seed = 4});
  const std::vector<const Super*> supers = {&a, &b, &c, &d};
  std::vector<std::vector<Bytes>> parts;
  for (const Super* s : supers)
    parts.push_back(split(*s).segments);
  std::vector<Bytes> batch;
  for (std::size_t i = 0; i < 20; ++i) {
    for (auto& p : parts) {
      if (i < p.size()) batch.push_back(p[i]);
    }
  }
  const auto writes = coalesce(gro, batch);
  REQUIRE(writes.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("flow " << i);
    CHECK(writes[i].first == i);
    CHECK(writes[i].count == parts[i].size());
    CHECK(writes[i].header == supers[i]->header);
    CHECK(writes[i].packet == supers[i]->packet);
  }
}

TEST_CASE("coalesce: packets that cannot merge pass through unchanged", "[offload]") {
  tunkit::Coalescer gro;
  const auto segs = split(make_super({.payload = 1448 * 4, .flags = kAck})).segments;
  REQUIRE(segs.size() == 4);
  const auto unchanged = [&](const std::vector<Bytes>& batch) {
    const auto writes = coalesce(gro, batch);
    REQUIRE(writes.size() == batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      INFO("packet " << i);
      CHECK(writes[i].count == 1);
      CHECK(writes[i].first == i);
      CHECK(writes[i].header == VirtioNetHeader{});
      CHECK(writes[i].packet == batch[i]);
      CHECK(std::all_of(writes[i].wire.begin(), writes[i].wire.begin() + 10,
                        [](std::byte x) { return x == std::byte{0}; }));
    }
  };
  const auto edited = [&](std::size_t index, auto edit) {
    std::vector<Bytes> batch = {segs[0], segs[1]};
    edit(batch[index]);
    if (u8(batch[index], 0) >> 4 == 4) fill_ipv4_checksum(batch[index]);
    fill_transport_checksum(batch[index]);
    return batch;
  };

  SECTION("not TCP/UDP, SYN, fragments, IPv4 options, IPv6 extension headers") {
    unchanged({hex(tunkit_test::kIcmp4Echo), hex(tunkit_test::kTcp4Syn),
               hex(tunkit_test::kIcmp4Echo), hex(tunkit_test::kTcp4Syn),
               hex(tunkit_test::kIpv4Options), hex(tunkit_test::kIpv6Frag),
               hex(tunkit_test::kIpv6Ext), hex(tunkit_test::kIpv6Ext)});
  }
  SECTION("sequence gap") {
    unchanged({segs[0], segs[2]});
  }
  SECTION("out of order") {
    unchanged({segs[1], segs[0]});
  }
  SECTION("duplicate") {
    unchanged({segs[0], segs[0]});
  }
  SECTION("different ack") {
    unchanged(edited(1, [](Bytes& b) { put32(b, 28, 0x01020305); }));
  }
  SECTION("different window") {
    unchanged(edited(1, [](Bytes& b) { put16(b, 34, 600); }));
  }
  SECTION("different timestamp") {
    unchanged(edited(1, [](Bytes& b) { put8(b, 47, 0x41); }));
  }
  SECTION("different TTL") {
    unchanged(edited(1, [](Bytes& b) { put8(b, 8, 63); }));
  }
  SECTION("different TOS") {
    unchanged(edited(1, [](Bytes& b) { put8(b, 1, 0); }));
  }
  SECTION("non-consecutive IPv4 id") {
    unchanged(edited(1, [](Bytes& b) { put16(b, 4, be16(b, 4) + 1); }));
  }
  SECTION("different port") {
    unchanged(edited(1, [](Bytes& b) { put16(b, 20, 999); }));
  }
  SECTION("different reserved TCP bits (the split would clear them; found by coalesce_fuzz)") {
    unchanged(edited(1, [](Bytes& b) { put8(b, 32, u8(b, 32) | 0x01); }));
  }
  SECTION("the reserved IPv4 flag bit (the split would clear it; found by coalesce_fuzz)") {
    unchanged(edited(1, [](Bytes& b) { put16(b, 6, be16(b, 6) | 0x8000); }));
  }
  SECTION("ECE on one only") {
    unchanged(edited(1, [](Bytes& b) { put8(b, 33, kAck | 0x40); }));
  }
  SECTION("CWR may not join") {
    unchanged(edited(1, [](Bytes& b) { put8(b, 33, kAck | kCwr); }));
  }
  SECTION("URG and RST never merge") {
    unchanged(edited(0, [](Bytes& b) { put8(b, 33, kAck | 0x20); }));
    unchanged(edited(1, [](Bytes& b) { put8(b, 33, kAck | 0x04); }));
  }
  SECTION("a larger segment after the first") {
    const auto big = split(make_super({.payload = 1448 * 2, .seq = 0xFFFFF000 + 1448})).segments;
    std::vector<Bytes> batch = {
        split(make_super({.payload = 1000, .gso_size = 1000, .flags = kAck})).segments[0]};
    batch.push_back(big[0]);
    put16(batch[1], 4, 0x1235);
    put32(batch[1], 24, 0xFFFFF000 + 1000);
    fill_ipv4_checksum(batch[1]);
    fill_transport_checksum(batch[1]);
    unchanged(batch);
  }
  SECTION("UDP: a datagram larger than the first, a bad UDP length") {
    const auto u = split(make_super({.tcp = false, .payload = 3000, .gso_size = 1000})).segments;
    auto small = split(make_super({.tcp = false, .payload = 500, .gso_size = 500})).segments;
    put16(small[0], 4, be16(u[0], 4) - 1);
    fill_ipv4_checksum(small[0]);
    unchanged({small[0], u[0]});
    Bytes bad_len = u[1];
    put16(bad_len, 24, 1009);
    fill_transport_checksum(bad_len);
    unchanged({u[0], bad_len});
  }
  SECTION("a damaged IPv4 header checksum is not repaired") {
    std::vector<Bytes> batch = {segs[0], segs[1]};
    put16(batch[1], 10, be16(batch[1], 10) ^ 0x0100);
    unchanged(batch);
  }
}

TEST_CASE("coalesce: PSH and FIN end a super-packet, a short segment too", "[offload]") {
  tunkit::Coalescer gro;
  const auto segs = split(make_super({.payload = 1448 * 6, .flags = kAck})).segments;
  REQUIRE(segs.size() == 6);
  for (const std::uint8_t end_flag : {kPsh, kFin}) {
    std::vector<Bytes> batch = segs;
    put8(batch[2], 33, kAck | end_flag);
    fill_transport_checksum(batch[2]);
    const auto writes = coalesce(gro, batch);
    REQUIRE(writes.size() == 2);
    CHECK(writes[0].count == 3);
    CHECK((u8(writes[0].packet, 33) & end_flag) != 0);
    CHECK(writes[1].count == 3);
    CHECK(writes[1].first == 3);
    // And the first super-packet splits back into the first three segments.
    Super back{writes[0].header, writes[0].packet};
    const auto again = split(back).segments;
    REQUIRE(again.size() == 3);
    for (std::size_t i = 0; i < 3; ++i)
      CHECK(again[i] == batch[i]);
  }
}

TEST_CASE("coalesce: a packet of the flow that cannot merge keeps its place", "[offload]") {
  tunkit::Coalescer gro;
  const auto segs = split(make_super({.payload = 1448 * 4, .flags = kAck})).segments;
  // A bare ACK of the same flow between the data segments: the segments after it may not join
  // the super-packet before it.
  Bytes bare = Bytes(segs[1].begin(), segs[1].begin() + 52);
  put16(bare, 2, 52);
  put16(bare, 4, 0x7777);
  fill_ipv4_checksum(bare);
  fill_transport_checksum(bare);
  const auto writes = coalesce(gro, {segs[0], segs[1], bare, segs[2], segs[3]});
  REQUIRE(writes.size() == 3);
  CHECK(writes[0].count == 2);
  CHECK(writes[1].packet == bare);
  // segs[2] may not join the first super-packet, but starts the next one.
  CHECK(writes[2].first == 3);
  CHECK(writes[2].count == 2);
  const auto again = split({writes[2].header, writes[2].packet}).segments;
  REQUIRE(again.size() == 2);
  CHECK(again[0] == segs[2]);
  CHECK(again[1] == segs[3]);
}

TEST_CASE("coalesce: a packet of the flow behind IPv6 extension headers keeps its place",
          "[offload]") {
  tunkit::Coalescer gro;
  const auto segs = split(make_super({.version = 6, .payload = 1448 * 4, .flags = kAck})).segments;
  // A bare ACK of the flow behind an 8-byte destination options header, between segs[1] and
  // segs[2]: it cannot merge, and segs[2] may not join the super-packet before it.
  Bytes ack(segs[1].begin(), segs[1].begin() + 40);
  put16(ack, 4, 8 + 32);
  put8(ack, 6, 60);
  append(ack, hex("0600 0104 0000 0000"));
  ack.insert(ack.end(), segs[1].begin() + 40, segs[1].begin() + 72);
  fill_transport_checksum(ack);
  const auto writes = coalesce(gro, {segs[0], segs[1], ack, segs[2], segs[3]});
  REQUIRE(writes.size() == 3);
  CHECK(writes[0].count == 2);
  CHECK(writes[1].packet == ack);
  CHECK(writes[2].first == 3);
  CHECK(writes[2].count == 2);
}

TEST_CASE("coalesce: switches turn TCP and UDP merging off separately", "[offload]") {
  const auto t = split(make_super({.payload = 5000})).segments;
  const auto u = split(make_super({.tcp = false, .payload = 5000, .src_port = 5})).segments;
  std::vector<Bytes> batch = t;
  batch.insert(batch.end(), u.begin(), u.end());

  tunkit::Coalescer gro;
  CHECK(coalesce(gro, batch).size() == 2);
  gro.set_tcp(false);
  auto writes = coalesce(gro, batch);
  REQUIRE(writes.size() == t.size() + 1);
  for (std::size_t i = 0; i < t.size(); ++i)
    CHECK(writes[i].packet == t[i]);
  CHECK(writes.back().count == u.size());
  gro.set_udp(false);
  writes = coalesce(gro, batch);
  REQUIRE(writes.size() == batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i)
    CHECK(writes[i].packet == batch[i]);
  gro.set_tcp(true);
  writes = coalesce(gro, batch);
  REQUIRE(writes.size() == 1 + u.size());
  CHECK(writes[0].count == t.size());
  CHECK_FALSE(gro.options().udp);
}

TEST_CASE("coalesce: a segment whose checksum is wrong is not merged", "[offload]") {
  const auto segs = split(make_super({.version = 6, .payload = 1448 * 5, .flags = kAck})).segments;
  for (const std::size_t bad : {std::size_t{0}, std::size_t{2}, std::size_t{4}}) {
    INFO("bad segment " << bad);
    std::vector<Bytes> batch = segs;
    put8(batch[bad], 100, u8(batch[bad], 100) ^ 0x01);
    tunkit::Coalescer gro;
    const auto writes = coalesce(gro, batch);
    std::size_t covered = 0;
    for (const auto& w : writes) {
      if (w.first == bad) {
        CHECK(w.count == 1);
        CHECK(w.packet == batch[bad]);  // unchanged: the kernel will drop it
      } else {
        CHECK((w.first > bad || w.first + w.count <= bad));
      }
      covered += w.count;
    }
    CHECK(covered == batch.size());
    CHECK(writes.size() == (bad == 0 || bad == 4 ? 2 : 3));

    tunkit::Coalescer trusting({.verify_checksums = false});
    CHECK(coalesce(trusting, batch).size() == 1);
  }
}

TEST_CASE("coalesce: limits are checked before anything is written", "[offload]") {
  const auto segs = split(make_super({.payload = 5000})).segments;
  std::vector<std::span<const std::byte>> in(segs.begin(), segs.end());
  std::vector<tunkit::CoalescedPacket> out(segs.size());
  Bytes arena(tunkit::Coalescer::arena_size(5000 + 4 * 52, 4, 10));

  tunkit::Coalescer small({.max_batch = 3});
  auto r = small.coalesce(in, arena, out);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == OffloadReason::batch_too_large);
  CHECK(tunkit::to_string(r.error()) == "batch of 4 packets above the capacity of 3");
  CHECK(tunkit::make_error_code(r.error()) == tunkit::errc::batch_too_large);

  tunkit::Coalescer gro;
  r = gro.coalesce(in, arena, std::span(out).first(3));
  CHECK(r.error().reason == OffloadReason::too_many_segments);
  r = gro.coalesce(in, std::span(arena).first(arena.size() - 1), out);
  CHECK(r.error().reason == OffloadReason::buffer_too_small);
  r = gro.coalesce(in, arena, out);
  REQUIRE(r.has_value());
  CHECK(*r == 1);
  r = gro.coalesce({}, {}, {});
  REQUIRE(r.has_value());
  CHECK(*r == 0);

  // Bad options: tunkit::Error, errc::out_of_range (which compares equal to
  // std::errc::invalid_argument, the kernel's answer to such values).
  const auto refusal = [](tunkit::CoalescerOptions o) -> std::string {
    try {
      const tunkit::Coalescer refused(o);
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == tunkit::errc::out_of_range);
      CHECK(e.code() == std::errc::invalid_argument);
      return e.what();
    }
    return "no exception";
  };
  CHECK(refusal({.header_size = 8}) ==
        "tunkit: Coalescer: out of range (virtio-net header size 8 below 10)");
  CHECK(refusal({.max_batch = 0}) ==
        "tunkit: Coalescer: out of range (max_batch 0 outside 1..2^24)");
  CHECK(refusal({.max_batch = (std::size_t{1} << 24) + 1}) ==
        "tunkit: Coalescer: out of range (max_batch 16777217 outside 1..2^24)");

  // Moves keep the tables.
  tunkit::Coalescer moved = std::move(gro);
  r = moved.coalesce(in, arena, out);
  REQUIRE(r.has_value());
  CHECK(*r == 1);
}

TEST_CASE("coalesce: many flows in one batch, tables reused across batches", "[offload]") {
  tunkit::Coalescer gro({.max_batch = 64});
  for (int round = 0; round < 3; ++round) {
    std::vector<Bytes> batch;
    std::vector<Super> supers;
    for (std::uint16_t f = 0; f < 32; ++f)
      supers.push_back(make_super({.payload = 2000,
                                   .src_port = static_cast<std::uint16_t>(f + 1),
                                   .seed = static_cast<unsigned>(f + 100 * round)}));
    for (std::size_t i = 0; i < 2; ++i) {
      for (auto& s : supers)
        batch.push_back(split(s).segments[i]);
    }
    const auto writes = coalesce(gro, batch);
    REQUIRE(writes.size() == 32);
    for (std::size_t f = 0; f < 32; ++f)
      CHECK(writes[f].packet == supers[f].packet);
  }
}

// ---------------------------------------------------------------------------------------------
// The fused copy-and-checksum

TEST_CASE("copy_and_sum copies and sums like the reference at every length and alignment",
          "[offload][checksum]") {
  std::mt19937 rng(17);
  Bytes src(600 + 16);
  for (auto& b : src)
    b = static_cast<std::byte>(rng() & 0xFFU);
  Bytes dst(600 + 16);
  for (std::size_t align = 0; align < 8; ++align) {
    for (std::size_t len = 0; len <= 600; ++len) {
      const auto data = std::span<const std::byte>(src).subspan(align, len);
      const auto want = static_cast<std::uint16_t>(~reference_checksum(data) & 0xFFFFU);
      std::fill(dst.begin(), dst.end(), std::byte{0xA5});
      const std::size_t at = (align * 3) % 8;
      const std::uint16_t got = tunkit::detail::copy_and_sum(dst.data() + at, data.data(), len);
      const std::uint16_t portable =
          tunkit::detail::copy_and_sum_portable(dst.data() + at, data.data(), len);
      // An empty or all-zero sum folds to 0 in the reference and may be 0 or 0xFFFF here: the
      // two zeros of one's complement.
      const auto same = [&](std::uint16_t v) {
        return v == want || (len == 0 && v == 0 && want == 0);
      };
      if (!same(got) || !same(portable) ||
          !std::equal(data.begin(), data.end(), dst.begin() + static_cast<std::ptrdiff_t>(at)) ||
          dst[at + len] != std::byte{0xA5}) {
        FAIL("align " << align << " len " << len << " got " << got << " portable " << portable
                      << " want " << want);
      }
    }
  }
  // Long runs of 0xFF exercise the carries.
  const Bytes ones(70000, std::byte{0xFF});
  Bytes out(70000);
  CHECK(tunkit::detail::copy_and_sum(out.data(), ones.data(), ones.size()) == 0xFFFF);
  CHECK(out == ones);
}
