#pragma once
// Super-packets for the offload tests (vnet, gso, gro), built field by field, and the reference
// checks their results are held to: every checksum is verified with the byte-loop reference of
// packet_samples.hpp, never with tunkit's own checksum code. Also `split` and `coalesce`, which
// run tunkit's GSO split and GRO coalesce and collect what they give.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/offload.hpp"

namespace tunkit_test {

using Bytes = std::vector<std::byte>;
using tunkit::GsoType;
using tunkit::VirtioNetHeader;

constexpr std::uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;

inline void append(Bytes& to, const Bytes& from) {
  to.insert(to.end(), from.begin(), from.end());
}

// Where the transport header starts, found by walking the headers byte by byte (IPv6: the
// extension headers this test builds: hop-by-hop 0, destination options 60).
inline std::size_t l4_offset(const Bytes& p) {
  if (u8(p, 0) >> 4 == 4) return std::size_t{4} * (u8(p, 0) & 0x0FU);
  std::size_t off = 40;
  unsigned next = u8(p, 6);
  while (next == 0 || next == 43 || next == 60) {
    next = u8(p, off);
    off += 8 * (std::size_t{u8(p, off + 1)} + 1);
  }
  return off;
}
inline unsigned l4_protocol(const Bytes& p) {
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
inline Bytes pseudo_header(const Bytes& p, std::size_t l4_length) {
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
inline bool transport_checksum_ok(const Bytes& p) {
  const std::size_t off = l4_offset(p);
  Bytes all = pseudo_header(p, p.size() - off);
  all.insert(all.end(), p.begin() + static_cast<std::ptrdiff_t>(off), p.end());
  return reference_checksum(all) == 0;
}

inline bool ipv4_header_ok(const Bytes& p) {
  return reference_checksum(std::span(p).first(std::size_t{4} * (u8(p, 0) & 0x0FU))) == 0;
}

// The partial checksum a NEEDS_CSUM packet carries: the pseudo-header sum, folded, not
// complemented.
inline std::uint16_t partial_checksum(const Bytes& p) {
  const Bytes ph = pseudo_header(p, p.size() - l4_offset(p));
  return static_cast<std::uint16_t>(~reference_checksum(ph) & 0xFFFFU);
}

// Makes the transport checksum of `p` complete and right (reference code).
inline void fill_transport_checksum(Bytes& p) {
  const std::size_t off = l4_offset(p);
  const std::size_t field = off + (l4_protocol(p) == 6 ? 16 : 6);
  put16(p, field, 0);
  Bytes all = pseudo_header(p, p.size() - off);
  all.insert(all.end(), p.begin() + static_cast<std::ptrdiff_t>(off), p.end());
  std::uint16_t c = reference_checksum(all);
  if (c == 0 && l4_protocol(p) == 17) c = 0xFFFF;
  put16(p, field, c);
}

inline void fill_ipv4_checksum(Bytes& p) {
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
inline Super make_super(const Spec& s) {
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

inline Split split(const Super& sp, std::size_t buffer_size = 2048) {
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
  // The split without copying gives the same segments, its payloads views of the packet.
  Bytes arena(tunkit::gso_views_arena_size(n, 120));
  std::vector<tunkit::SegmentView> views(n);
  const auto viewed = tunkit::gso_split_views(sp.header, sp.packet, arena, views);
  REQUIRE(viewed.has_value());
  REQUIRE(*viewed == *count);
  for (std::size_t i = 0; i < *count; ++i) {
    Bytes joined(views[i].headers.begin(), views[i].headers.end());
    joined.insert(joined.end(), views[i].payload.begin(), views[i].payload.end());
    CHECK(joined == r.segments[i]);
    CHECK(views[i].size() == joined.size());
    if (!views[i].payload.empty()) {
      CHECK(views[i].payload.data() >= sp.packet.data());
      CHECK(views[i].payload.data() + views[i].payload.size() <=
            sp.packet.data() + sp.packet.size());
    }
    CHECK_FALSE(views[i].partial_checksum);
  }
  // With partial checksums: the same segments once each checksum is completed as the kernel
  // completes a NEEDS_CSUM packet (from the transport header, at its checksum field).
  Bytes partial_arena(tunkit::gso_views_arena_size(n, 120));
  std::vector<tunkit::SegmentView> partial(n);
  const auto cut = tunkit::gso_split_views(sp.header, sp.packet, partial_arena, partial,
                                           tunkit::SegmentChecksum::partial);
  REQUIRE(cut.has_value());
  REQUIRE(*cut == *count);
  for (std::size_t i = 0; i < *count; ++i) {
    Bytes joined(partial[i].headers.begin(), partial[i].headers.end());
    joined.insert(joined.end(), partial[i].payload.begin(), partial[i].payload.end());
    const bool gso = sp.header.gso_type != tunkit::GsoType::none;
    CHECK(partial[i].partial_checksum == gso);
    if (gso) {
      VirtioNetHeader finish;
      finish.needs_csum = true;
      finish.csum_start = static_cast<std::uint16_t>(l4_offset(sp.packet));
      finish.csum_offset = l4_protocol(sp.packet) == 6 ? 16 : 6;
      REQUIRE_FALSE(tunkit::complete_checksum(finish, joined).has_value());
    }
    CHECK(joined == r.segments[i]);
  }
  return r;
}

struct Write {
  VirtioNetHeader header;
  Bytes packet;
  Bytes wire;
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};

// The gathering coalesce of `packets` given as `in`: its writes, their pieces joined.
template <typename In>
std::vector<Write> coalesce_gathered(tunkit::Coalescer& c, const In& in) {
  const std::size_t hs = c.options().header_size;
  Bytes arena(tunkit::Coalescer::gather_arena_size(in.size(), hs));
  std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(in.size()));
  std::vector<tunkit::GatheredPacket> out(in.size());
  const auto n = c.coalesce(std::span(in), arena, pieces, out);
  REQUIRE(n.has_value());
  std::vector<Write> r;
  for (std::size_t i = 0; i < *n; ++i) {
    const auto& o = out[i];
    Bytes wire;
    for (const auto& piece : o.pieces)
      wire.insert(wire.end(), piece.begin(), piece.end());
    CHECK(wire.size() == o.size);
    REQUIRE(o.pieces.front().size() >= hs);
    CHECK(o.pieces.front().data() >= arena.data());
    CHECK(o.pieces.front().data() < arena.data() + arena.size());
    const auto parsed = VirtioNetHeader::parse(wire, hs, c.options().little_endian);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == o.header);
    r.push_back({o.header, Bytes(wire.begin() + static_cast<std::ptrdiff_t>(hs), wire.end()), wire,
                 o.first, o.count});
  }
  return r;
}

inline bool same_writes(const std::vector<Write>& a, const std::vector<Write>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].wire != b[i].wire || !(a[i].header == b[i].header) || a[i].first != b[i].first ||
        a[i].count != b[i].count) {
      return false;
    }
  }
  return true;
}

inline std::vector<Write> coalesce_copied(tunkit::Coalescer& c, const std::vector<Bytes>& packets) {
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

// Coalesces `packets` with the copying form and returns its writes; checks on the way that the
// gathering form gives the same writes, for the packets whole and cut in two parts after their
// first 121 bytes (past any mergeable headers; odd, so that payload sums join at an odd offset).
inline std::vector<Write> coalesce(tunkit::Coalescer& c, const std::vector<Bytes>& packets) {
  const std::vector<Write> copied = coalesce_copied(c, packets);
  const std::vector<std::span<const std::byte>> whole(packets.begin(), packets.end());
  CHECK(same_writes(coalesce_gathered(c, whole), copied));
  std::vector<tunkit::PacketParts> parts;
  for (const auto& p : packets) {
    const std::size_t cut = std::min<std::size_t>(p.size(), 121);
    parts.push_back({std::span(p).first(cut), std::span(p).subspan(cut)});
  }
  CHECK(same_writes(coalesce_gathered(c, parts), copied));
  return copied;
}

}  // namespace tunkit_test
