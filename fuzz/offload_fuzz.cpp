// Fuzzes the offload engine with arbitrary virtio-net headers and packets: header parse,
// serialize and check, complete_checksum, gso_split, and Coalescer::coalesce of what the split
// produced.
//
// Input: one control byte (bit 0: the coalescer verifies checksums), a 10-byte little-endian
// virtio-net header, then the packet.
//
// Properties checked beyond "no crash, no sanitizer report":
// - a header serializes back to the bytes it was parsed from (flag bits tunkit drops aside);
// - every segment gso_split writes is a well-formed packet whose checksums verify;
// - coalescing the segments and splitting each merged write again gives back exactly the
//   segments, in order; packets passed through are unchanged, with an all-zero header.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "tunkit/offload.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/packet/checksum.hpp"

#include "fuzz_check.hpp"

namespace {

constexpr std::size_t kBuffers = 128;
constexpr std::size_t kBufferSize = 65536 + 64;

struct Buffers {
  std::vector<std::vector<std::byte>> storage =
      std::vector<std::vector<std::byte>>(kBuffers, std::vector<std::byte>(kBufferSize));
  std::vector<std::span<std::byte>> out =
      std::vector<std::span<std::byte>>(storage.begin(), storage.end());
  std::vector<std::size_t> sizes = std::vector<std::size_t>(kBuffers);
};

bool same(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void check_segment(std::span<const std::byte> segment) {
  const auto pkt = tunkit::parse_ip(segment);
  TUNKIT_FUZZ_CHECK(pkt.has_value());
  TUNKIT_FUZZ_CHECK(pkt->bytes().size() == segment.size());
  TUNKIT_FUZZ_CHECK(pkt->tcp() != nullptr || pkt->udp() != nullptr);
  TUNKIT_FUZZ_CHECK(tunkit::transport_checksum_ok(*pkt));
  if (const tunkit::Ipv4View* v4 = pkt->ipv4()) {
    TUNKIT_FUZZ_CHECK(tunkit::ipv4_header_checksum_ok(*v4));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 11) return 0;
  const auto input = std::as_bytes(std::span(data, size));
  const bool verify = (data[0] & 1U) != 0;
  const auto header_bytes = input.subspan(1, 10);
  const auto packet = input.subspan(11);

  const auto parsed = tunkit::VirtioNetHeader::parse(header_bytes);
  TUNKIT_FUZZ_CHECK(parsed.has_value());
  const tunkit::VirtioNetHeader header = *parsed;
  std::array<std::byte, 10> again{};
  TUNKIT_FUZZ_CHECK(header.serialize(again).has_value());
  TUNKIT_FUZZ_CHECK(again[0] == (header_bytes[0] & std::byte{0x03}));
  TUNKIT_FUZZ_CHECK(same(std::span(again).subspan(1), header_bytes.subspan(1)));

  if (const auto why = header.check(packet)) {
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(*why).empty());
    TUNKIT_FUZZ_CHECK(header.validate(packet) == tunkit::make_error_code(*why));
  }

  std::vector<std::byte> copy(packet.begin(), packet.end());
  if (const auto e = tunkit::complete_checksum(header, copy)) {
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(*e).empty());
  }

  static Buffers split;
  const auto count = tunkit::gso_split(header, packet, split.out, split.sizes);
  if (!count) {
    TUNKIT_FUZZ_CHECK(!tunkit::to_string(count.error()).empty());
    return 0;
  }
  TUNKIT_FUZZ_CHECK(*count >= 1 && *count <= kBuffers);
  if (header.gso_type == tunkit::GsoType::none) {
    TUNKIT_FUZZ_CHECK(*count == 1 && split.sizes[0] == packet.size());
    return 0;
  }
  std::vector<std::span<const std::byte>> segments;
  std::size_t total = 0;
  for (std::size_t i = 0; i < *count; ++i) {
    segments.emplace_back(split.out[i].first(split.sizes[i]));
    check_segment(segments.back());
    total += split.sizes[i];
  }

  static tunkit::Coalescer verifying({.max_batch = kBuffers});
  static tunkit::Coalescer trusting({.max_batch = kBuffers, .verify_checksums = false});
  tunkit::Coalescer& gro = verify ? verifying : trusting;
  std::vector<std::byte> arena(tunkit::Coalescer::arena_size(total, segments.size(), 10));
  std::vector<tunkit::CoalescedPacket> writes(segments.size());
  const auto n = gro.coalesce(segments, arena, writes);
  TUNKIT_FUZZ_CHECK(n.has_value());

  static Buffers resplit;
  std::size_t next = 0;
  for (std::size_t w = 0; w < *n; ++w) {
    const tunkit::CoalescedPacket& out = writes[w];
    TUNKIT_FUZZ_CHECK(out.first == next);
    TUNKIT_FUZZ_CHECK(out.count >= 1 && next + out.count <= segments.size());
    TUNKIT_FUZZ_CHECK(out.bytes.size() == 10 + out.packet.size());
    const auto wire_header = tunkit::VirtioNetHeader::parse(out.bytes);
    TUNKIT_FUZZ_CHECK(wire_header.has_value() && *wire_header == out.header);
    if (out.count == 1) {
      TUNKIT_FUZZ_CHECK(out.header == tunkit::VirtioNetHeader{});
      TUNKIT_FUZZ_CHECK(same(out.packet, segments[next]));
    } else {
      TUNKIT_FUZZ_CHECK(out.packet.size() <= 65535);
      TUNKIT_FUZZ_CHECK(!out.header.check(out.packet).has_value());
      const auto m = tunkit::gso_split(out.header, out.packet, resplit.out, resplit.sizes);
      TUNKIT_FUZZ_CHECK(m.has_value() && *m == out.count);
      for (std::size_t k = 0; k < *m; ++k) {
        TUNKIT_FUZZ_CHECK(same(resplit.out[k].first(resplit.sizes[k]), segments[next + k]));
      }
    }
    next += out.count;
  }
  TUNKIT_FUZZ_CHECK(next == segments.size());
  return 0;
}
