#pragma once
// GRO coalesce, part one: which packets may merge. The per-packet facts (`GroItem`), the writes
// being built (`GroGroup`) and the flow table's slots (`GroSlot`), and the rules, those of the
// kernel's GRO (inet_gro_receive, ipv6_gro_receive, tcp_gro_receive, udp_gro_receive): how a
// packet is classified, when two packets are of one flow, when a packet may join a write and
// when it ends one. Inline: every rule runs once per packet on the write path.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <utility>

#include "offload/vnet_internal.hpp"
#include "packet/parse_helpers.hpp"
#include "tunkit/offload/gro.hpp"

namespace tunkit::detail {

inline constexpr std::uint32_t kNone = 0xFFFFFFFFU;

enum class GroKind : std::uint8_t { other, tcp, udp };

// One packet of the batch, as classified by the first pass.
struct GroItem {
  std::uint32_t group = 0;     // the write that carries it
  std::uint32_t next = kNone;  // the next packet of that write
  std::uint32_t hash = 0;      // flow hash (tcp and udp only)
  std::uint16_t ip_len = 0;    // IP header bytes (20 or 40: no options, no extensions)
  std::uint16_t l4_len = 0;    // transport header bytes
  std::uint16_t payload = 0;   // payload bytes
  GroKind kind = GroKind::other;
  bool eligible = false;  // may start or join a super-packet
};

// One write being built: a packet passed through, or packets merged.
struct GroGroup {
  std::uint32_t first = 0;     // first packet (batch index)
  std::uint32_t last = 0;      // last packet
  std::uint32_t count = 0;     // packets
  std::uint32_t next_seq = 0;  // TCP: the sequence number the next segment must have
  std::uint32_t length = 0;    // IP length of the merged packet so far
  std::uint16_t gso_size = 0;  // payload of the first packet: the most any other may carry
  bool fixed_id = false;       // UDP over IPv4: every datagram has the first one's IP id
  bool closed = false;         // no packet may join any more
};

// A flow table entry: the flow's latest group. Empty unless `generation` is the current one.
struct GroSlot {
  std::uint32_t generation = 0;
  std::uint32_t hash = 0;
  std::uint32_t group = 0;
};

namespace gro {

// The largest IP packet a super-packet may become: the IPv4 total length and the IPv6 payload
// length are 16-bit fields (no jumbograms, no BIG TCP).
inline constexpr std::size_t kMaxSuperPacket = 65535;

// TCP segments with one of these never merge.
inline constexpr TcpFlags kTcpNeverMerge = TcpFlags(TcpFlag::syn) | TcpFlag::rst | TcpFlag::urg;

// The flags of the TCP header at `tcp`.
inline TcpFlags tcp_flags(const std::byte* tcp) noexcept {
  return TcpFlags::from_bits(load8(tcp + 13));
}

inline std::uint64_t load64_native(const std::byte* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept {
  h ^= v;
  h *= 0x9E3779B97F4A7C15ULL;
  return h ^ (h >> 31);
}

// True when the 20-byte IPv4 header at `b` sums to all ones: five 32-bit words, inline (this
// runs once per packet; Checksum::add is built for long buffers).
inline bool ipv4_header_verifies(const std::byte* b) noexcept {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < 20; i += 4)
    s += load32(b + i);
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  s = (s & 0xFFFFU) + (s >> 16);
  return s == 0xFFFFU;
}

// Byte-wise equality of short fields, without a call to memcmp.
[[gnu::always_inline]] inline bool equal_bytes(const std::byte* a, const std::byte* b,
                                               std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    if (load64_native(a + i) != load64_native(b + i)) return false;
  }
  for (; i + 4 <= n; i += 4) {
    if (load32(a + i) != load32(b + i)) return false;
  }
  for (; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Classification

// The IP layer of a packet, as far as merging needs it.
struct IpFacts {
  std::size_t ip_len = 0;     // where the transport header starts
  std::uint8_t protocol = 0;  // the transport protocol
  bool ip_ok = false;         // the IP layer allows merging
  std::uint64_t hash = 0;     // flow hash of the version, addresses and protocol
};

// An IPv4 packet of `size` bytes (at least 20) whose first `head` bytes are at `b`, or nothing
// when it passes through.
inline std::optional<IpFacts> classify_ipv4(const std::byte* b, std::size_t head, std::size_t size,
                                            const CoalescerOptions& opt) noexcept {
  IpFacts ip;
  ip.ip_len = std::size_t{4} * (load8(b) & 0x0FU);
  if (ip.ip_len < 20 || ip.ip_len > head || std::size_t{load16(b + 2)} != size) return {};
  // Only DF may be set: MF or an offset is a fragment, and the reserved bit would be lost
  // (the split copies the first packet's flags), so such packets pass through.
  if ((load16(b + 6) & 0xBFFFU) != 0) return {};
  ip.protocol = load8(b + 9);
  // Merging rewrites the IPv4 header checksum: a header that arrived damaged must not leave
  // repaired.
  ip.ip_ok = ip.ip_len == 20 && (!opt.verify_checksums || ipv4_header_verifies(b));
  ip.hash = mix(mix(0x4, load64_native(b + 12)), ip.protocol);
  return ip;
}

// Where the upper-layer header of an IPv6 packet starts, walking its extension headers within
// the first `head` bytes (as Ipv6View::parse walks them), and its protocol; nothing for a
// fragment or a chain that does not fit.
inline std::optional<std::pair<std::size_t, std::uint8_t>> ipv6_upper(const std::byte* b,
                                                                      std::size_t head) noexcept {
  std::uint8_t next = load8(b + 6);
  std::size_t off = 40;
  for (;;) {
    const auto type = static_cast<IpProtocol>(next);
    if (!is_ipv6_extension(type)) return std::pair{off, next};
    if (type == IpProtocol::fragment || (type == IpProtocol::hop_by_hop && off != 40) ||
        head - off < 2) {
      return std::nullopt;
    }
    const std::size_t len = ipv6_extension_length(type, b + off);
    if (len > head - off) return std::nullopt;
    next = load8(b + off);
    off += len;
  }
}

// Where the TCP or UDP header of a packet whose first `head` bytes are at `b` is: its offset,
// length and whether it is TCP; nothing when the packet is neither or the header is not all
// within `head`. For a packet with a partial checksum written alone (its NEEDS_CSUM header).
struct TransportAt {
  std::size_t start = 0;
  std::size_t length = 0;
  bool tcp = false;
};
inline std::optional<TransportAt> transport_of(const std::byte* b, std::size_t head) noexcept {
  if (head < 20) return std::nullopt;
  std::size_t at = 0;
  std::uint8_t protocol = 0;
  const unsigned version = load8(b) >> 4;
  if (version == 4) {
    at = std::size_t{4} * (load8(b) & 0x0FU);
    protocol = load8(b + 9);
    if (at < 20) return std::nullopt;
  } else if (version == 6 && head >= 40) {
    const auto upper = ipv6_upper(b, head);
    if (!upper) return std::nullopt;
    at = upper->first;
    protocol = upper->second;
  } else {
    return std::nullopt;
  }
  if (protocol == kUdp && at + 8 <= head) return TransportAt{at, 8, false};
  if (protocol != kTcp || at + 20 > head) return std::nullopt;
  const std::size_t th = std::size_t{4} * (load8(b + at + 12) >> 4);
  return TransportAt{at, th < 20 || at + th > head ? 20 : th, true};
}

// An IPv6 packet of `size` bytes whose first `head` bytes (at least 40) are at `b`, or nothing
// when it passes through.
inline std::optional<IpFacts> classify_ipv6(const std::byte* b, std::size_t head,
                                            std::size_t size) noexcept {
  IpFacts ip;
  ip.ip_len = 40;
  if (head < 40 || std::size_t{load16(b + 4)} + 40 != size) return {};
  ip.protocol = load8(b + 6);
  ip.ip_ok = true;
  if (ip.protocol != kTcp && ip.protocol != kUdp) {
    // Extension headers never merge, but a TCP or UDP packet behind them still belongs to its
    // flow, and must close the flow's super-packet so that no later packet overtakes it.
    const auto upper = ipv6_upper(b, head);
    if (!upper) return {};
    ip.ip_len = upper->first;
    ip.protocol = upper->second;
    ip.ip_ok = false;
  }
  ip.hash = mix(
      mix(mix(mix(mix(0x6, load64_native(b + 8)), load64_native(b + 16)), load64_native(b + 24)),
          load64_native(b + 32)),
      ip.protocol);
  return ip;
}

// Parses one packet for merging: `size` bytes in all, the first `head` of them at `b` (the
// headers are read there only). Only what can be merged is looked at closely; everything else
// is `other` and passes through. Always inlined into its one caller: returned from a call, the
// item went through the stack in pieces and was read back whole, a store-forwarding stall that
// perf showed as the grouping step's hottest instruction (16 % of it).
[[gnu::always_inline]] inline GroItem classify_one(const std::byte* b, std::size_t head,
                                                   std::size_t size,
                                                   const CoalescerOptions& opt) noexcept {
  GroItem it;
  if (head < 20 || size > kMaxSuperPacket) return it;
  const unsigned version = load8(b) >> 4;
  const std::optional<IpFacts> ip = version == 4   ? classify_ipv4(b, head, size, opt)
                                    : version == 6 ? classify_ipv6(b, head, size)
                                                   : std::nullopt;
  if (!ip) return it;
  const std::size_t ip_len = ip->ip_len;
  const std::size_t rest = size - ip_len;
  const std::size_t head_rest = head - ip_len;  // ip_len <= head (checked above)
  if (ip->protocol == kTcp && opt.tcp) {
    if (head_rest < 20) return it;
    const std::size_t th = std::size_t{4} * (load8(b + ip_len + 12) >> 4);
    if (th < 20 || th > head_rest) return it;
    it.kind = GroKind::tcp;
    it.l4_len = static_cast<std::uint16_t>(th);
    it.payload = static_cast<std::uint16_t>(rest - th);
    const TcpFlags flags = tcp_flags(b + ip_len);
    it.eligible =
        ip->ip_ok && it.payload > 0 && flags.has(TcpFlag::ack) && (flags & kTcpNeverMerge).empty();
  } else if (ip->protocol == kUdp && opt.udp) {
    if (head_rest < 8) return it;
    it.kind = GroKind::udp;
    it.l4_len = 8;
    it.payload = static_cast<std::uint16_t>(rest - 8);
    it.eligible = ip->ip_ok && it.payload > 0 && load16(b + ip_len + 4) == rest;
  } else {
    return it;
  }
  it.ip_len = static_cast<std::uint16_t>(ip_len);
  const std::uint64_t h = mix(ip->hash, load32(b + ip_len));  // ports
  it.hash = static_cast<std::uint32_t>(h ^ (h >> 32));
  return it;
}

// Same version, protocol, addresses and ports (the hashes already matched).
inline bool same_flow(const GroItem& a, const std::byte* pa, const GroItem& b,
                      const std::byte* pb) noexcept {
  // Not the header lengths: a packet with IPv4 options or IPv6 extension headers is still of the
  // flow (it cannot merge, but it keeps its place in the flow).
  if (a.kind != b.kind || load8(pa) >> 4 != load8(pb) >> 4) return false;
  const bool v4 = load8(pa) >> 4 == 4;
  const std::size_t at = v4 ? 12 : 8, n = v4 ? 8 : 32;
  return equal_bytes(pa + at, pb + at, n) && load32(pa + a.ip_len) == load32(pb + b.ip_len);
}

// Whether the IPv4 id of packet `p` lets it join group `g` (first packet `fb`, last `lb`), by
// the rule of the kernel's GRO (inet_gro_flush, called from tcp_gro_receive and
// udp_gro_receive_segment since Linux 6.10; before, inet_gro_receive kept NAPI_GRO_CB(p)->flush_id
// and is_atomic for the same check): the ids increment by one from the first packet, or, decided
// at the second packet, a flow with DF set may keep one fixed id (RFC 6864: the id of an atomic
// datagram means nothing). A Linux UDP socket that is not connected sends DF with id 0 on every
// datagram (ip_select_ident_segs). A fixed id without DF never merges. The fixed-id form is taken
// for UDP only: the kernel's TCP GRO marks such a super-packet SKB_GSO_TCP_FIXEDID so that its
// split keeps the id, and a virtio-net header cannot say that, so the kernel's split of a TCP
// super-packet written to a TUN device would renumber the ids. A UDP super-packet is cut with
// incrementing ids from the first one in either case (inet_gso_segment: FIXEDID is TCP's only),
// as the kernel's own GRO leaves it.
inline bool ipv4_id_fits(const GroGroup& g, const std::byte* fb, const std::byte* lb,
                         const GroItem& p, const std::byte* pb) noexcept {
  const std::uint16_t id = load16(pb + 4);
  if (id == static_cast<std::uint16_t>(load16(lb + 4) + 1)) return !g.fixed_id;
  const bool df = (load8(pb + 6) & 0x40U) != 0;
  return p.kind == GroKind::udp && df && id == load16(fb + 4) && (g.count == 1 || g.fixed_id);
}

// Whether packet `p` may be appended to group `g` (first packet `f`, last `l`). The IP rules
// are those of the kernel's GRO (inet_gro_flush, ipv6_gro_flush): same TOS, TTL and DF, ids as
// `ipv4_id_fits` says; same first word (traffic class, flow label) and hop limit.
inline bool can_append(const GroGroup& g, const GroItem& f, const std::byte* fb,
                       const std::byte* lb, const GroItem& p, const std::byte* pb) noexcept {
  if (g.closed || !p.eligible || p.payload > g.gso_size ||
      g.length + std::size_t{p.payload} > kMaxSuperPacket) {
    return false;
  }
  if (load8(fb) >> 4 == 4) {
    if (load8(pb + 1) != load8(fb + 1) || load8(pb + 8) != load8(fb + 8) ||
        ((load8(pb + 6) ^ load8(fb + 6)) & 0x40U) != 0 || !ipv4_id_fits(g, fb, lb, p, pb)) {
      return false;
    }
  } else if (load32(pb) != load32(fb) || load8(pb + 7) != load8(fb + 7)) {
    return false;
  }
  if (p.kind == GroKind::udp) return true;
  // TCP (tcp_gro_receive): contiguous, same ACK, window and option bytes, same flags but for PSH
  // and FIN (which end the super-packet) and CWR (which may only start one), and the same
  // reserved bits next to the data offset (the split copies the first segment's).
  const std::byte* ft = fb + f.ip_len;
  const std::byte* pt = pb + p.ip_len;
  const TcpFlags pf = tcp_flags(pt), ff = tcp_flags(ft);
  return load32(pt + 4) == g.next_seq && load8(pt + 12) == load8(ft + 12) &&
         load32(pt + 8) == load32(ft + 8) && load16(pt + 14) == load16(ft + 14) &&
         !pf.has(TcpFlag::cwr) && (pf - kTcpEndFlags) == (ff - TcpFlag::cwr) &&
         equal_bytes(pt + 20, ft + 20, p.l4_len - 20U);
}

// Whether the group takes no more packets after `p` joined it (or started it).
inline bool ends_group(const GroItem& p, const std::byte* pb, std::uint16_t gso_size) noexcept {
  if (!p.eligible || p.payload < gso_size) return true;
  return p.kind == GroKind::tcp && !(tcp_flags(pb + p.ip_len) & kTcpEndFlags).empty();
}

}  // namespace gro
}  // namespace tunkit::detail
