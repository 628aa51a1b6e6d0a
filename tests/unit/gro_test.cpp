#include "tunkit/offload/gro.hpp"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "offload_samples.hpp"
#include "tunkit/offload.hpp"

namespace {

using tunkit::OffloadReason;
using tunkit::VirtioNetHeader;
using tunkit_test::append;
using tunkit_test::be16;
using tunkit_test::Bytes;
using tunkit_test::coalesce;
using tunkit_test::fill_ipv4_checksum;
using tunkit_test::fill_transport_checksum;
using tunkit_test::hex;
using tunkit_test::kAck;
using tunkit_test::kCwr;
using tunkit_test::kFin;
using tunkit_test::kPsh;
using tunkit_test::make_super;
using tunkit_test::put16;
using tunkit_test::put32;
using tunkit_test::put8;
using tunkit_test::split;
using tunkit_test::Super;
using tunkit_test::u8;

}  // namespace

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

namespace {

// IPv4 UDP datagrams of one flow as an unconnected Linux UDP socket sends them (sendto without
// connect: ip_select_ident_segs gives DF packets of a socket without a destination id 0): DF,
// id `id` on every one, payloads of 1400 bytes but the last (500).
std::vector<Bytes> linux_udp_datagrams(std::uint16_t id, bool df = true) {
  auto d = split(make_super({.tcp = false, .payload = 1400 * 3 + 500, .gso_size = 1400})).segments;
  REQUIRE(d.size() == 4);
  for (Bytes& b : d) {
    put16(b, 4, id);
    put16(b, 6, df ? 0x4000 : 0);
    fill_ipv4_checksum(b);
  }
  return d;
}

std::vector<Bytes> with_ids(std::vector<Bytes> d, std::initializer_list<std::uint16_t> ids) {
  std::size_t i = 0;
  for (const std::uint16_t id : ids) {
    put16(d[i], 4, id);
    fill_ipv4_checksum(d[i]);
    ++i;
  }
  d.resize(ids.size());
  return d;
}

std::vector<std::uint32_t> counts(const std::vector<tunkit_test::Write>& writes) {
  std::vector<std::uint32_t> r;
  for (const auto& w : writes)
    r.push_back(w.count);
  return r;
}

}  // namespace

TEST_CASE("coalesce: UDP from an unconnected Linux socket (DF, id 0) merges", "[offload]") {
  const bool verify = GENERATE(true, false);
  tunkit::Coalescer gro({.verify_checksums = verify});
  for (const std::uint16_t id : {std::uint16_t{0}, std::uint16_t{0xBEEF}}) {
    INFO("id " << id << " verify " << verify);
    const std::vector<Bytes> sent = linux_udp_datagrams(id);
    const auto writes = coalesce(gro, sent);
    REQUIRE(writes.size() == 1);
    CHECK(writes[0].count == 4);
    CHECK(writes[0].header.gso_type == tunkit::GsoType::udp_l4);
    CHECK(writes[0].header.gso_size == 1400);
    CHECK(be16(writes[0].packet, 4) == id);
    CHECK(tunkit_test::ipv4_header_ok(writes[0].packet));

    // Cut back as the kernel cuts a UDP_L4 packet (inet_gso_segment numbers the datagrams up
    // from the first id; only TCP has a fixed-id form): the datagrams sent, but for the ids and
    // the header checksums.
    const auto back = split(Super{writes[0].header, writes[0].packet}).segments;
    REQUIRE(back.size() == sent.size());
    for (std::size_t i = 0; i < back.size(); ++i) {
      INFO("datagram " << i);
      CHECK(be16(back[i], 4) == static_cast<std::uint16_t>(id + i));
      CHECK(tunkit_test::ipv4_header_ok(back[i]));
      CHECK(tunkit_test::transport_checksum_ok(back[i]));
      Bytes expected = sent[i];
      put16(expected, 4, static_cast<std::uint16_t>(id + i));
      fill_ipv4_checksum(expected);
      CHECK(back[i] == expected);
    }
  }
}

TEST_CASE("coalesce: the IPv4 id rules of Linux's UDP GRO", "[offload]") {
  tunkit::Coalescer gro;
  const std::vector<Bytes> df = linux_udp_datagrams(0);

  SECTION("counting ids merge, with DF or without") {
    CHECK(counts(coalesce(gro, with_ids(df, {7, 8, 9, 10}))) == std::vector<std::uint32_t>{4});
    CHECK(counts(coalesce(gro, with_ids(linux_udp_datagrams(0, false), {0xFFFF, 0, 1, 2}))) ==
          std::vector<std::uint32_t>{4});
  }
  SECTION("a fixed id without DF does not merge") {
    CHECK(counts(coalesce(gro, linux_udp_datagrams(0, false))) ==
          std::vector<std::uint32_t>{1, 1, 1, 1});
  }
  SECTION("the second datagram decides: fixed, then a counting id ends the super-packet") {
    CHECK(counts(coalesce(gro, with_ids(df, {5, 5, 6, 7}))) == std::vector<std::uint32_t>{2, 2});
  }
  SECTION("the second datagram decides: counting, then a repeated id ends the super-packet") {
    CHECK(counts(coalesce(gro, with_ids(df, {5, 6, 6, 6}))) == std::vector<std::uint32_t>{2, 2});
    CHECK(counts(coalesce(gro, with_ids(df, {5, 6, 5, 6}))) == std::vector<std::uint32_t>{2, 2});
  }
  SECTION("ids that neither repeat nor count up do not merge") {
    CHECK(counts(coalesce(gro, with_ids(df, {5, 7, 9, 11}))) ==
          std::vector<std::uint32_t>{1, 1, 1, 1});
    CHECK(counts(coalesce(gro, with_ids(df, {5, 4}))) == std::vector<std::uint32_t>{1, 1});
  }
  SECTION("TCP keeps to counting ids: fixed-id segments with DF do not merge") {
    auto segs = split(make_super({.payload = 1448 * 3, .flags = kAck})).segments;
    REQUIRE(segs.size() == 3);
    for (Bytes& b : segs) {
      REQUIRE((be16(b, 6) & 0x4000) != 0);
      put16(b, 4, 0);
      fill_ipv4_checksum(b);
    }
    CHECK(counts(coalesce(gro, segs)) == std::vector<std::uint32_t>{1, 1, 1});
  }
}

TEST_CASE("coalesce, gathering: a split's views come back as two pieces, no payload copied",
          "[offload]") {
  const Super sp = make_super({.payload = 30000});
  std::vector<tunkit::SegmentView> views(32);
  Bytes seg_arena(tunkit::gso_views_arena_size(32, 52));
  const auto n = tunkit::gso_split_views(sp.header, sp.packet, seg_arena, views);
  REQUIRE(n.has_value());
  REQUIRE(*n == 21);
  std::vector<tunkit::PacketParts> parts;
  for (std::size_t i = 0; i < *n; ++i)
    parts.push_back({views[i].headers, views[i].payload});

  tunkit::Coalescer gro({.header_size = 12});
  Bytes arena(tunkit::Coalescer::gather_arena_size(parts.size(), 12));
  std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(parts.size()));
  std::vector<tunkit::GatheredPacket> out(parts.size());
  const auto w = gro.coalesce(std::span<const tunkit::PacketParts>(parts), arena, pieces, out);
  REQUIRE(w.has_value());
  REQUIRE(*w == 1);
  CHECK(out[0].count == 21);
  CHECK(out[0].header == sp.header);
  REQUIRE(out[0].pieces.size() == 2);
  CHECK(out[0].pieces[0].data() == arena.data());
  CHECK(out[0].pieces[0].size() == 12 + 52);
  // The payloads of the 21 segments, adjacent in the super-packet, joined into one view of it.
  CHECK(out[0].pieces[1].data() == sp.packet.data() + 52);
  CHECK(out[0].pieces[1].size() == 30000);
  CHECK(out[0].size == 12 + sp.packet.size());
  CHECK(Bytes(out[0].pieces[0].begin() + 12, out[0].pieces[0].end()) ==
        Bytes(sp.packet.begin(), sp.packet.begin() + 52));
}

TEST_CASE("coalesce, gathering: a head without the headers passes through; limits", "[offload]") {
  const auto segs = split(make_super({.payload = 5000})).segments;  // 4 segments
  tunkit::Coalescer gro;
  // Heads cut inside the TCP header: nothing merges, every packet passes through unchanged.
  // (The heads are copies: a head followed in memory by its tail is joined into one piece.)
  std::vector<Bytes> heads;
  for (const auto& s : segs)
    heads.emplace_back(s.begin(), s.begin() + 30);
  std::vector<tunkit::PacketParts> parts;
  for (std::size_t i = 0; i < segs.size(); ++i)
    parts.push_back({heads[i], std::span(segs[i]).subspan(30)});
  Bytes arena(tunkit::Coalescer::gather_arena_size(4, 10));
  std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(4));
  std::vector<tunkit::GatheredPacket> out(4);
  auto r = gro.coalesce(std::span<const tunkit::PacketParts>(parts), arena, pieces, out);
  REQUIRE(r.has_value());
  REQUIRE(*r == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(out[i].count == 1);
    CHECK(out[i].header == VirtioNetHeader{});
    REQUIRE(out[i].pieces.size() == 3);
    CHECK(out[i].pieces[1].data() == heads[i].data());
    CHECK(out[i].pieces[2].data() == segs[i].data() + 30);
    CHECK(out[i].size == 10 + segs[i].size());
  }

  const std::vector<std::span<const std::byte>> in(segs.begin(), segs.end());
  tunkit::Coalescer small({.max_batch = 3});
  r = small.coalesce(in, arena, pieces, out);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().reason == OffloadReason::batch_too_large);
  r = gro.coalesce(in, arena, pieces, std::span(out).first(3));
  CHECK(r.error() == tunkit::OffloadError{OffloadReason::too_many_segments, 4, 3, {}});
  r = gro.coalesce(in, arena, std::span(pieces).first(11), out);
  CHECK(r.error() == tunkit::OffloadError{OffloadReason::too_many_segments, 12, 11, {}});
  r = gro.coalesce(in, std::span(arena).first(arena.size() - 1), pieces, out);
  CHECK(r.error().reason == OffloadReason::buffer_too_small);
  r = gro.coalesce(in, arena, pieces, out);
  REQUIRE(r.has_value());
  CHECK(*r == 1);
  CHECK(out[0].pieces.size() == 5);  // the merged headers, then each segment's payload
  r = gro.coalesce(std::span<const std::span<const std::byte>>{}, {}, {},
                   std::span<tunkit::GatheredPacket>{});
  REQUIRE(r.has_value());
  CHECK(*r == 0);
}

TEST_CASE("coalesce, gathering: a run needing more than 64 pieces becomes two writes",
          "[offload]") {
  // 100 small UDP datagrams of one flow, each in its own buffer (as a read batch holds them):
  // merged whole by the copying form; the gathering form ends a write at 64 pieces (its header
  // and 63 payloads), as one gather write of a queue takes no more.
  const auto datagrams =
      split(make_super({.tcp = false, .payload = 100 * 64, .gso_size = 64})).segments;
  REQUIRE(datagrams.size() == 100);
  tunkit::Coalescer gro({.max_batch = 128});
  const std::vector<std::span<const std::byte>> in(datagrams.begin(), datagrams.end());
  Bytes arena(tunkit::Coalescer::gather_arena_size(in.size(), 10));
  std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(in.size()));
  std::vector<tunkit::GatheredPacket> out(in.size());
  const auto n = gro.coalesce(in, arena, pieces, out);
  REQUIRE(n.has_value());
  REQUIRE(*n == 2);
  CHECK(out[0].count == 63);
  CHECK(out[0].pieces.size() == tunkit::Coalescer::max_gather_pieces);
  CHECK(out[1].first == 63);
  CHECK(out[1].count == 37);
  CHECK(out[1].pieces.size() == 38);
  // Each write is a valid super-packet that splits back into its datagrams.
  for (std::size_t w = 0; w < 2; ++w) {
    Bytes wire;
    for (const auto& piece : out[w].pieces)
      wire.insert(wire.end(), piece.begin(), piece.end());
    const std::span<const std::byte> packet = std::span<const std::byte>(wire).subspan(10);
    CHECK_FALSE(out[w].header.check(packet).has_value());
    std::vector<Bytes> storage(out[w].count, Bytes(2048));
    std::vector<std::span<std::byte>> segs(storage.begin(), storage.end());
    std::vector<std::size_t> sizes(out[w].count);
    const auto m = tunkit::gso_split(out[w].header, packet, segs, sizes);
    REQUIRE(m.has_value());
    REQUIRE(*m == out[w].count);
    for (std::size_t i = 0; i < *m; ++i)
      CHECK(Bytes(storage[i].begin(), storage[i].begin() + static_cast<std::ptrdiff_t>(sizes[i])) ==
            datagrams[out[w].first + i]);
  }
}

namespace {

// What the kernel makes of gathered writes: a super-packet cut into its segments (their
// checksums computed), a NEEDS_CSUM packet with its checksum completed, a plain one as it is.
std::vector<Bytes> as_kernel_completes(const std::vector<tunkit_test::Write>& writes) {
  std::vector<Bytes> r;
  for (const auto& w : writes) {
    if (w.header.gso_type != tunkit::GsoType::none) {
      std::vector<Bytes> storage(64, Bytes(2048));
      std::vector<std::span<std::byte>> out(storage.begin(), storage.end());
      std::vector<std::size_t> sizes(64);
      const auto n = tunkit::gso_split(w.header, w.packet, out, sizes);
      REQUIRE(n.has_value());
      for (std::size_t i = 0; i < *n; ++i)
        r.emplace_back(storage[i].begin(),
                       storage[i].begin() + static_cast<std::ptrdiff_t>(sizes[i]));
    } else {
      Bytes p = w.packet;
      REQUIRE_FALSE(tunkit::complete_checksum(w.header, p).has_value());
      r.push_back(p);
    }
  }
  return r;
}

// The segments of `sp` split with partial checksums, as the coalescer's parts.
struct PartialSplit {
  Bytes arena = Bytes(tunkit::gso_views_arena_size(64, 120));
  std::vector<tunkit::SegmentView> views = std::vector<tunkit::SegmentView>(64);
  std::vector<tunkit::PacketParts> parts;
  explicit PartialSplit(const Super& sp) {
    const auto n = tunkit::gso_split_views(sp.header, sp.packet, arena, views,
                                           tunkit::SegmentChecksum::partial);
    REQUIRE(n.has_value());
    for (std::size_t i = 0; i < *n; ++i) {
      REQUIRE(views[i].partial_checksum);
      parts.push_back({views[i].headers, views[i].payload, views[i].partial_checksum});
    }
  }
};

}  // namespace

TEST_CASE("coalesce, gathering: partial checksums leave with NEEDS_CSUM, merged or alone",
          "[offload]") {
  for (const int version : {4, 6}) {
    for (const bool tcp : {true, false}) {
      INFO("IPv" << version << (tcp ? " TCP" : " UDP"));
      const Super sp = make_super({.version = version, .tcp = tcp, .payload = 10000});
      const auto full = split(sp).segments;  // 7 segments, full checksums
      const PartialSplit ps(sp);
      REQUIRE(ps.parts.size() == 7);
      const std::size_t ip_len = version == 4 ? 20 : 40;

      // Merged: one super-packet (with verify_checksums: a partial checksum is not verified).
      tunkit::Coalescer gro({.header_size = 12, .verify_checksums = true});
      auto writes = tunkit_test::coalesce_gathered(gro, ps.parts);
      REQUIRE(writes.size() == 1);
      CHECK(writes[0].count == 7);
      CHECK(writes[0].header.needs_csum);
      CHECK(as_kernel_completes(writes) == full);

      // Alone: NEEDS_CSUM at the transport checksum; completed, the full split's segment.
      writes = tunkit_test::coalesce_gathered(gro, std::vector<tunkit::PacketParts>{ps.parts[3]});
      REQUIRE(writes.size() == 1);
      CHECK(writes[0].header.needs_csum);
      CHECK(writes[0].header.gso_type == tunkit::GsoType::none);
      CHECK(writes[0].header.csum_start == ip_len);
      CHECK(writes[0].header.csum_offset == (tcp ? 16 : 6));
      CHECK(as_kernel_completes(writes) == std::vector<Bytes>{full[3]});

      // Out of order (TCP) or of unequal sizes (UDP: the short last one first): runs and
      // packets alone, every one completed right.
      const std::vector<std::size_t> order = tcp ? std::vector<std::size_t>{0, 1, 3, 2, 4, 5, 6}
                                                 : std::vector<std::size_t>{6, 0, 1, 2, 3, 4, 5};
      std::vector<tunkit::PacketParts> shuffled;
      std::vector<Bytes> expect;
      for (const std::size_t i : order) {
        shuffled.push_back(ps.parts[i]);
        expect.push_back(full[i]);
      }
      writes = tunkit_test::coalesce_gathered(gro, shuffled);
      CHECK(writes.size() == (tcp ? 4U : 2U));
      for (const auto& w : writes)
        CHECK(w.header.needs_csum);
      CHECK(as_kernel_completes(writes) == expect);

      // A run broken by a packet whose (full) checksum fails: the partial ones on either side
      // leave alone with NEEDS_CSUM, the broken one unchanged with an all-zero header.
      Bytes broken = full[1];
      broken.back() ^= std::byte{0x01};
      std::vector<tunkit::PacketParts> mixed = {ps.parts[0], {broken, {}}, ps.parts[2]};
      writes = tunkit_test::coalesce_gathered(gro, mixed);
      REQUIRE(writes.size() == 3);
      CHECK(writes[0].header.needs_csum);
      CHECK(writes[1].header == VirtioNetHeader{});
      CHECK(writes[2].header.needs_csum);
      CHECK(as_kernel_completes(writes) == std::vector<Bytes>{full[0], broken, full[2]});

      // Merging of the protocol off: every packet alone, its transport header found again.
      tunkit::Coalescer off({.header_size = 12, .tcp = false, .udp = false});
      writes = tunkit_test::coalesce_gathered(off, ps.parts);
      REQUIRE(writes.size() == 7);
      for (const auto& w : writes) {
        CHECK(w.header.needs_csum);
        CHECK(w.header.csum_start == ip_len);
      }
      CHECK(as_kernel_completes(writes) == full);
    }
  }

  // IPv6 with an extension header: never merged; NEEDS_CSUM after the extension header, with
  // the protocol's merging on or off.
  const Super ext = make_super({.version = 6, .payload = 5000, .ipv6_extension = true});
  const auto full = split(ext).segments;
  const PartialSplit ps(ext);
  for (const bool tcp : {true, false}) {
    tunkit::Coalescer gro({.tcp = tcp});
    const auto writes = tunkit_test::coalesce_gathered(gro, ps.parts);
    REQUIRE(writes.size() == full.size());
    for (const auto& w : writes) {
      CHECK(w.header.needs_csum);
      CHECK(w.header.csum_start == 48);
    }
    CHECK(as_kernel_completes(writes) == full);
  }

  // A head without the transport header: the flag is ignored (an all-zero header).
  const Super sp = make_super({.payload = 3000});
  const PartialSplit cut(sp);
  Bytes joined(cut.parts[0].head.begin(), cut.parts[0].head.end());
  joined.insert(joined.end(), cut.parts[0].tail.begin(), cut.parts[0].tail.end());
  const std::vector<tunkit::PacketParts> short_head = {
      {std::span<const std::byte>(joined).first(30), std::span<const std::byte>(joined).subspan(30),
       true}};
  tunkit::Coalescer gro;
  const auto writes = tunkit_test::coalesce_gathered(gro, short_head);
  REQUIRE(writes.size() == 1);
  CHECK(writes[0].header == VirtioNetHeader{});
  CHECK(writes[0].packet == joined);
}
