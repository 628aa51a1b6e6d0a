// Fuzzes GRO: Coalescer::coalesce over arbitrary batches of packets (not only segments that
// gso_split produced, as offload_fuzz does).
//
// Input: one control byte (bit 0: verify checksums, bit 1: no TCP merging, bit 2: no UDP
// merging, bit 3: 12-byte big-endian headers), then packets, each as a 2-byte little-endian
// length and that many bytes (at most 128 packets).
//
// Properties checked beyond "no crash, no sanitizer report":
// - the writes cover the batch exactly once: each packet of the batch is in exactly one write;
// - a write of one packet is that packet, byte for byte, with an all-zero header;
// - a merged write has a valid header, is at most 65535 bytes, and gso_split cuts it back into
//   exactly the packets it carries, in order (checksums aside where they may differ: see
//   same_segment);
// - the gathering form gives the same writes, byte for byte, for the packets whole and for each
//   packet cut in two parts (at a point taken from the packet's own length, so that heads with
//   and without complete headers both occur), its pieces viewing the packets themselves.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "tunkit/offload.hpp"

#include "fuzz_check.hpp"

namespace {

constexpr std::size_t kBatch = 128;
constexpr std::size_t kBufferSize = 65536 + 64;

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// `segment` (as gso_split cut it from a merged write) is `input`, checksums aside where they
// may differ: without verification (`verified` false) the coalescer merges packets whatever their
// checksums, and the split computes fresh ones; with it, one difference remains: an IPv4 UDP
// datagram sent without a checksum (0, RFC 768) merges, and the split fills the checksum in (the
// coalescer accepts that deliberately: the receiver accepts both). The urgent pointer of a TCP
// segment without URG is not kept either (then its checksum differs too), nor the fixed IP id of
// IPv4 UDP datagrams with DF.
bool same_segment(std::span<const std::byte> segment, std::span<const std::byte> input,
                  bool verified) {
  if (same(segment, input)) return true;
  if (segment.size() != input.size() || input.size() < 40) return false;
  const unsigned version = std::to_integer<unsigned>(input[0]) >> 4U;
  const std::size_t ip_len =
      version == 4 ? (std::to_integer<std::size_t>(input[0]) & 15U) * 4 : std::size_t{40};
  const unsigned proto = std::to_integer<unsigned>(input[version == 4 ? 9 : 6]);
  const std::size_t field = ip_len + (proto == 6 ? 16 : 6);
  if (field + 2 > input.size()) return false;
  std::vector<std::byte> a(segment.begin(), segment.end());
  std::vector<std::byte> b(input.begin(), input.end());
  const bool zero_udp4 =
      version == 4 && proto == 17 && b[field] == std::byte{0} && b[field + 1] == std::byte{0};
  // A TCP segment without URG: its urgent pointer means nothing, and the split gives every
  // segment the first one's (as Linux GRO, which does not compare it either).
  const std::size_t urg = ip_len + 18;
  const bool tcp_no_urg =
      proto == 6 && urg + 2 <= b.size() && (std::to_integer<unsigned>(b[ip_len + 13]) & 0x20U) == 0;
  if (tcp_no_urg) a[urg] = a[urg + 1] = b[urg] = b[urg + 1] = std::byte{0};
  // IPv4 UDP with DF: datagrams of one fixed id merge, and the split numbers them up from it
  // (Linux's UDP GRO does the same), so the id and the header checksum may differ.
  const bool udp4_df =
      version == 4 && proto == 17 && (std::to_integer<unsigned>(b[6]) & 0x40U) != 0;
  if (udp4_df) a[4] = a[5] = b[4] = b[5] = a[10] = a[11] = b[10] = b[11] = std::byte{0};
  if (!verified || zero_udp4 || tcp_no_urg) {
    a[field] = a[field + 1] = b[field] = b[field + 1] = std::byte{0};
  }
  if (!verified && version == 4) a[10] = a[11] = b[10] = b[11] = std::byte{0};
  return a == b;
}

tunkit::Coalescer& coalescer(unsigned control) {
  // One per combination of settings, built once (construction allocates the flow tables).
  static std::array<std::unique_ptr<tunkit::Coalescer>, 16> all;
  auto& c = all[control & 15U];
  if (!c) {
    const bool mrg = (control & 8U) != 0;
    c = std::make_unique<tunkit::Coalescer>(tunkit::CoalescerOptions{
        .max_batch = kBatch,
        .header_size =
            mrg ? tunkit::VirtioNetHeader::mrg_rxbuf_size : tunkit::VirtioNetHeader::legacy_size,
        .little_endian = !mrg,
        .tcp = (control & 2U) == 0,
        .udp = (control & 4U) == 0,
        .verify_checksums = (control & 1U) != 0,
    });
  }
  return *c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned control = data[0];
  const auto input = std::as_bytes(std::span(data, size)).subspan(1);
  std::vector<std::span<const std::byte>> packets;
  std::size_t total = 0;
  for (std::size_t at = 0; at + 2 <= input.size() && packets.size() < kBatch;) {
    const std::size_t n = std::min<std::size_t>(
        std::to_integer<std::size_t>(input[at]) | std::to_integer<std::size_t>(input[at + 1]) << 8U,
        input.size() - at - 2);
    packets.push_back(input.subspan(at + 2, n));
    total += n;
    at += 2 + n;
  }
  tunkit::Coalescer& gro = coalescer(control);
  const std::size_t header_size = gro.options().header_size;
  const bool little_endian = gro.options().little_endian;
  std::vector<std::byte> arena(tunkit::Coalescer::arena_size(total, packets.size(), header_size));
  std::vector<tunkit::CoalescedPacket> writes(packets.size());
  const auto n = gro.coalesce(packets, arena, writes);
  TUNKIT_FUZZ_CHECK(n.has_value());
  TUNKIT_FUZZ_CHECK(*n <= packets.size());

  static std::vector<std::vector<std::byte>> storage(kBatch, std::vector<std::byte>(kBufferSize));
  static std::vector<std::span<std::byte>> segments(storage.begin(), storage.end());
  static std::vector<std::size_t> sizes(kBatch);
  std::vector<int> seen(packets.size(), 0);
  for (std::size_t w = 0; w < *n; ++w) {
    const tunkit::CoalescedPacket& out = writes[w];
    TUNKIT_FUZZ_CHECK(out.count >= 1 && out.first < packets.size());
    TUNKIT_FUZZ_CHECK(out.bytes.size() == header_size + out.packet.size());
    const auto header = tunkit::VirtioNetHeader::parse(out.bytes, header_size, little_endian);
    TUNKIT_FUZZ_CHECK(header.has_value() && *header == out.header);
    ++seen[out.first];
    if (out.count == 1) {
      TUNKIT_FUZZ_CHECK(out.header == tunkit::VirtioNetHeader{});
      TUNKIT_FUZZ_CHECK(same(out.packet, packets[out.first]));
      continue;
    }
    TUNKIT_FUZZ_CHECK(out.packet.size() <= 65535);
    TUNKIT_FUZZ_CHECK(!out.header.check(out.packet).has_value());
    const auto m = tunkit::gso_split(out.header, out.packet, segments, sizes);
    TUNKIT_FUZZ_CHECK(m.has_value() && *m == out.count);
    // The packets a merged write carries are the next ones of its flow: find each in the batch.
    std::size_t from = out.first;
    for (std::size_t k = 0; k < *m; ++k) {
      const auto segment = std::span<const std::byte>(segments[k].first(sizes[k]));
      if (k == 0) {
        TUNKIT_FUZZ_CHECK(same_segment(segment, packets[from], gro.options().verify_checksums));
        continue;
      }
      std::size_t i = from + 1;
      while (i < packets.size() &&
             !(seen[i] == 0 && packets[i].size() == segment.size() &&
               same_segment(segment, packets[i], gro.options().verify_checksums)))
        ++i;
      TUNKIT_FUZZ_CHECK(i < packets.size());
      ++seen[i];
      from = i;
    }
  }
  for (const int s : seen)
    TUNKIT_FUZZ_CHECK(s == 1);

  // The gathering form: the same writes.
  std::vector<tunkit::PacketParts> parts(packets.size());
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const std::size_t cut = packets[i].empty() ? 0 : packets[i].size() * 7 / 8 % packets[i].size();
    parts[i] = {packets[i].first(cut), packets[i].subspan(cut)};
  }
  std::vector<std::byte> headers(tunkit::Coalescer::gather_arena_size(packets.size(), header_size));
  std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(packets.size()));
  std::vector<tunkit::GatheredPacket> gathered(packets.size());
  for (const bool whole : {true, false}) {
    const auto g = whole ? gro.coalesce(packets, headers, pieces, gathered)
                         : gro.coalesce(std::span<const tunkit::PacketParts>(parts), headers,
                                        pieces, gathered);
    TUNKIT_FUZZ_CHECK(g.has_value());
    // The writes may differ from the copying form's where a run needs more pieces than one
    // gather write takes (it is cut in two) or, for cut packets, where a head lacks its headers
    // (the packet passes through); a write with the same packets has the same bytes.
    std::size_t carried = 0;
    for (std::size_t w = 0; w < *g; ++w) {
      const tunkit::GatheredPacket& out = gathered[w];
      TUNKIT_FUZZ_CHECK(out.pieces.size() <= tunkit::Coalescer::max_gather_pieces);
      std::vector<std::byte> joined;
      for (const auto& piece : out.pieces)
        joined.insert(joined.end(), piece.begin(), piece.end());
      TUNKIT_FUZZ_CHECK(joined.size() == out.size);
      carried += out.count;
      if (w < *n && out.first == writes[w].first && out.count == writes[w].count) {
        TUNKIT_FUZZ_CHECK(same(joined, writes[w].bytes));
        TUNKIT_FUZZ_CHECK(out.header == writes[w].header);
      }
    }
    TUNKIT_FUZZ_CHECK(carried == packets.size());
  }
  return 0;
}
