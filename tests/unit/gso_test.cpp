#include "tunkit/offload/gso.hpp"

#include <span>
#include <vector>

#include "catch.hpp"
#include "offload_samples.hpp"
#include "tunkit/offload.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit::GsoType;
using tunkit::OffloadReason;
using tunkit::VirtioNetHeader;
using tunkit_test::be16;
using tunkit_test::be32;
using tunkit_test::Bytes;
using tunkit_test::fill_transport_checksum;
using tunkit_test::ipv4_header_ok;
using tunkit_test::kAck;
using tunkit_test::kCwr;
using tunkit_test::kFin;
using tunkit_test::kPsh;
using tunkit_test::l4_offset;
using tunkit_test::l4_protocol;
using tunkit_test::make_super;
using tunkit_test::put16;
using tunkit_test::Spec;
using tunkit_test::split;
using tunkit_test::Super;
using tunkit_test::transport_checksum_ok;
using tunkit_test::u8;

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

TEST_CASE("gso_split_views: headers in the arena, payloads viewed in place, limits", "[offload]") {
  const Super sp = make_super({.payload = 10000});  // 7 segments, 52 header bytes each
  std::vector<tunkit::SegmentView> views(7);
  Bytes arena(tunkit::gso_views_arena_size(7, 52));

  auto r = tunkit::gso_split_views(sp.header, sp.packet, arena, std::span(views).first(6));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == tunkit::OffloadError{OffloadReason::too_many_segments, 7, 6, {}});
  r = tunkit::gso_split_views(sp.header, sp.packet, std::span(arena).first(7 * 52 - 1), views);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == tunkit::OffloadError{OffloadReason::buffer_too_small, 7 * 52, 7 * 52 - 1, {}});

  const Bytes before = sp.packet;
  r = tunkit::gso_split_views(sp.header, sp.packet, arena, views);
  REQUIRE(r.has_value());
  REQUIRE(*r == 7);
  CHECK(sp.packet == before);  // the super-packet is only read
  std::size_t offset = 52;
  for (std::size_t i = 0; i < 7; ++i) {
    CHECK(views[i].headers.data() == arena.data() + i * 52);
    CHECK(views[i].headers.size() == 52);
    CHECK(views[i].payload.data() == sp.packet.data() + offset);  // not a copy
    offset += views[i].payload.size();
  }
  CHECK(offset == sp.packet.size());

  // UFO is refused as by gso_split.
  const Super udp = make_super({.tcp = false, .payload = 3000});
  VirtioNetHeader ufo = udp.header;
  ufo.gso_type = GsoType::udp;
  r = tunkit::gso_split_views(ufo, udp.packet, arena, views);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == OffloadReason::gso_unsupported);

  // GSO NONE without NEEDS_CSUM: the packet itself.
  Super one = make_super({.tcp = false, .payload = 1000});
  one.header.gso_type = GsoType::none;
  one.header.gso_size = 0;
  VirtioNetHeader plain = one.header;
  plain.needs_csum = false;
  plain.csum_start = plain.csum_offset = 0;
  r = tunkit::gso_split_views(plain, one.packet, {}, views);
  REQUIRE(r.has_value());
  REQUIRE(*r == 1);
  CHECK(views[0].headers.empty());
  CHECK(views[0].payload.data() == one.packet.data());
  CHECK(views[0].payload.size() == one.packet.size());

  // GSO NONE with NEEDS_CSUM: the bytes up to the checksum field copied and completed there.
  const Bytes original = one.packet;
  r = tunkit::gso_split_views(one.header, one.packet, std::span(arena).first(27), views);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == tunkit::OffloadError{OffloadReason::buffer_too_small, 28, 27, {}});
  r = tunkit::gso_split_views(one.header, one.packet, arena, views);
  REQUIRE(r.has_value());
  REQUIRE(*r == 1);
  CHECK(views[0].headers.size() == 20 + 6 + 2);
  Bytes joined(views[0].headers.begin(), views[0].headers.end());
  joined.insert(joined.end(), views[0].payload.begin(), views[0].payload.end());
  Bytes expected = original;
  fill_transport_checksum(expected);
  CHECK(joined == expected);
  CHECK(one.packet == original);
  CHECK(views[0].payload.data() == one.packet.data() + 28);
  CHECK_FALSE(tunkit::gso_split_views(one.header, one.packet, arena, {}).has_value());
}

TEST_CASE("gso_split_views, partial checksums: the pseudo-header sum, for NEEDS_CSUM to complete",
          "[offload]") {
  for (const int version : {4, 6}) {
    for (const bool tcp : {true, false}) {
      INFO("IPv" << version << (tcp ? " TCP" : " UDP"));
      const Super sp = make_super({.version = version, .tcp = tcp, .payload = 10000});
      const std::size_t ip_len = l4_offset(sp.packet);
      const std::size_t field = ip_len + (tcp ? 16U : 6U);
      std::vector<tunkit::SegmentView> views(8);
      Bytes arena(tunkit::gso_views_arena_size(8, 120));
      const auto n = tunkit::gso_split_views(sp.header, sp.packet, arena, views,
                                             tunkit::SegmentChecksum::partial);
      REQUIRE(n.has_value());
      REQUIRE(*n == 7);
      const auto full = split(sp).segments;  // checks the completed segments against these
      for (std::size_t i = 0; i < *n; ++i) {
        INFO("segment " << i);
        CHECK(views[i].partial_checksum);
        Bytes joined(views[i].headers.begin(), views[i].headers.end());
        joined.insert(joined.end(), views[i].payload.begin(), views[i].payload.end());
        // The field holds the pseudo-header sum (addresses, protocol, transport length), not
        // complemented, as the kernel leaves it for CHECKSUM_PARTIAL.
        tunkit::Checksum pseudo;
        pseudo
            .add(std::span<const std::byte>(joined).subspan(version == 4 ? 12 : 8,
                                                            version == 4 ? 8 : 32))
            .add_u16(tcp ? 6 : 17)
            .add_u16(static_cast<std::uint16_t>(joined.size() - ip_len));
        CHECK(be16(joined, field) == pseudo.fold());
        // Everything else is the full split's: the IPv4 header checksum is complete.
        Bytes expect = full[i];
        put16(expect, field, pseudo.fold());
        CHECK(joined == expect);
        if (version == 4) CHECK(ipv4_header_ok(joined));
      }
      // The 4-argument form and SegmentChecksum::full give full checksums.
      const auto m = tunkit::gso_split_views(sp.header, sp.packet, arena, views,
                                             tunkit::SegmentChecksum::full);
      REQUIRE(m.has_value());
      for (std::size_t i = 0; i < *m; ++i) {
        CHECK_FALSE(views[i].partial_checksum);
        Bytes joined(views[i].headers.begin(), views[i].headers.end());
        joined.insert(joined.end(), views[i].payload.begin(), views[i].payload.end());
        CHECK(joined == full[i]);
      }
    }
  }

  // GSO NONE: the packet's own checksum is completed (in the arena) as by the full form.
  Super one = make_super({.tcp = false, .payload = 1000});
  one.header.gso_type = GsoType::none;
  one.header.gso_size = 0;
  std::vector<tunkit::SegmentView> views(1);
  Bytes arena(64);
  const auto r = tunkit::gso_split_views(one.header, one.packet, arena, views,
                                         tunkit::SegmentChecksum::partial);
  REQUIRE(r.has_value());
  REQUIRE(*r == 1);
  CHECK_FALSE(views[0].partial_checksum);
  Bytes joined(views[0].headers.begin(), views[0].headers.end());
  joined.insert(joined.end(), views[0].payload.begin(), views[0].payload.end());
  Bytes expected = one.packet;
  fill_transport_checksum(expected);
  CHECK(joined == expected);
}
