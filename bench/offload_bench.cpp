// Offload engine throughput: GSO split and GRO coalesce of 64 KiB super-packets (the largest IP
// packet, 65535 bytes), TCP and UDP, IPv4 and IPv6, against a memcpy of the same 65535 bytes in
// the same binary and run. Every row reports bytes/s of super-packet; the `vs_memcpy` counter is
// this row's throughput divided by memcpy's, both timed in the same benchmark function right
// after each other, in thread CPU time so that other load on the machine counts less (1.0: as
// fast as copying the bytes once).
//
//   BM_split/<ip>/<l4>:     one super-packet (vnet header given) -> MTU-sized packets
//   BM_coalesce/<ip>/<l4>:  those packets -> one super-packet (checksums verified, the default)
//   BM_coalesce_trusting:   the same without checksum verification
//   BM_split_views:         the split without copying (headers built, payload viewed, summed)
//   BM_split_views_partial: the same with partial checksums (the payload not read: what the
//                           forwarder's --split does)
//   BM_coalesce_gather:     the views -> one gather list (checksums verified)
//   BM_coalesce_gather_trusting: the same without verification (what the forwarder's --split
//                           does: no payload byte read at all)
//   BM_memcpy:              memcpy of 65535 bytes

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <random>
#include <span>
#include <vector>

#include "tunkit/offload.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/packet/checksum.hpp"

namespace {

using Bytes = std::vector<std::byte>;

constexpr std::size_t kSuperSize = 65535;

struct Super {
  tunkit::VirtioNetHeader header;
  Bytes packet;
};

// A 65535-byte super-packet as the kernel hands it over, with MTU-1500 segment sizes: TCP with
// the timestamp option (MSS 1448 over IPv4, 1428 over IPv6), UDP (1472, 1452).
Super make_super(int version, bool tcp) {
  using tunkit::detail::store16;
  using tunkit::detail::store32;
  using tunkit::detail::store8;
  Bytes p(kSuperSize);
  std::mt19937 rng(42);
  for (auto& b : p)
    b = static_cast<std::byte>(rng() & 0xFFU);
  std::byte* d = p.data();
  const std::size_t ip_len = version == 4 ? 20 : 40;
  const std::uint8_t protocol = tcp ? 6 : 17;
  if (version == 4) {
    store32(d, 0x45000000U | kSuperSize);
    store32(d + 4, 0x12344000U);  // id, DF
    store16(d + 8, static_cast<std::uint16_t>(0x4000U | protocol));
    store16(d + 10, 0);
    store32(d + 12, 0x0A000001U);
    store32(d + 16, 0x0A000002U);
    store16(d + 10, tunkit::internet_checksum(std::span(p).first(20)));
  } else {
    store32(d, 0x60012345U);
    store16(d + 4, static_cast<std::uint16_t>(kSuperSize - 40));
    store8(d + 6, protocol);
    store8(d + 7, 64);
    for (std::size_t i = 8; i < 40; ++i)
      d[i] = std::byte{0};
    store16(d + 8, 0xFD00);
    store8(d + 23, 1);
    store16(d + 24, 0xFD00);
    store8(d + 39, 2);
  }
  std::byte* t = d + ip_len;
  const std::size_t l4_len = tcp ? 32 : 8;
  store16(t, 40000);
  store16(t + 2, 443);
  if (tcp) {
    store32(t + 4, 1000);
    store32(t + 8, 5000);
    store16(t + 12, 0x8010);  // data offset 8 (timestamps), ACK
    store16(t + 14, 502);
    store16(t + 18, 0);
    store32(t + 20, 0x0101080AU);
  } else {
    store16(t + 4, static_cast<std::uint16_t>(kSuperSize - ip_len));
  }
  const auto address_bytes =
      std::span<const std::byte>(p).subspan(version == 4 ? 12 : 8, version == 4 ? 8 : 32);
  tunkit::Checksum pseudo;
  pseudo.add(address_bytes)
      .add_u16(protocol)
      .add_u16(static_cast<std::uint16_t>(kSuperSize - ip_len));
  store16(t + (tcp ? 16 : 6), pseudo.fold());

  Super s;
  s.packet = std::move(p);
  s.header.needs_csum = true;
  s.header.csum_start = static_cast<std::uint16_t>(ip_len);
  s.header.csum_offset = tcp ? 16 : 6;
  s.header.hdr_len = static_cast<std::uint16_t>(ip_len + l4_len);
  s.header.gso_type = !tcp           ? tunkit::GsoType::udp_l4
                      : version == 4 ? tunkit::GsoType::tcpv4
                                     : tunkit::GsoType::tcpv6;
  s.header.gso_size = static_cast<std::uint16_t>(1500 - ip_len - l4_len);
  return s;
}

struct Segments {
  std::vector<Bytes> storage;
  std::vector<std::span<std::byte>> out;
  std::vector<std::size_t> sizes;
  std::size_t count = 0;

  Segments() : storage(64, Bytes(1500)), out(storage.begin(), storage.end()), sizes(64) {}
};

// Thread CPU time in nanoseconds.
double cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Times `iterations` memcpys of the super-packet, in nanoseconds of CPU time.
double memcpy_ns(std::size_t iterations) {
  static const Bytes src(kSuperSize, std::byte{0x5A});
  static Bytes dst(kSuperSize);
  const double start = cpu_ns();
  for (std::size_t i = 0; i < iterations; ++i) {
    benchmark::DoNotOptimize(src.data());
    std::memcpy(dst.data(), src.data(), kSuperSize);
    benchmark::ClobberMemory();
  }
  return cpu_ns() - start;
}

void finish(benchmark::State& state, double start) {
  const double ours = cpu_ns() - start;
  const auto iterations = static_cast<std::size_t>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(iterations * kSuperSize));
  state.counters["vs_memcpy"] = memcpy_ns(iterations) / ours;
}

void BM_split(benchmark::State& state) {
  const Super s = make_super(static_cast<int>(state.range(0)), state.range(1) != 0);
  Segments seg;
  const double start = cpu_ns();
  for (auto _ : state) {
    const auto n = tunkit::gso_split(s.header, s.packet, seg.out, seg.sizes);
    if (!n) state.SkipWithError(tunkit::to_string(n.error()).c_str());
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  finish(state, start);
}

void coalesce_bench(benchmark::State& state, bool verify) {
  const Super s = make_super(static_cast<int>(state.range(0)), state.range(1) != 0);
  Segments seg;
  const auto n = tunkit::gso_split(s.header, s.packet, seg.out, seg.sizes);
  if (!n) {
    state.SkipWithError(tunkit::to_string(n.error()).c_str());
    return;
  }
  std::vector<std::span<const std::byte>> in;
  std::size_t input_bytes = 0;
  for (std::size_t i = 0; i < *n; ++i) {
    in.emplace_back(seg.out[i].first(seg.sizes[i]));
    input_bytes += seg.sizes[i];
  }
  tunkit::Coalescer gro({.max_batch = 64, .verify_checksums = verify});
  Bytes arena(tunkit::Coalescer::arena_size(input_bytes, in.size(), 10));
  std::vector<tunkit::CoalescedPacket> out(in.size());
  const double start = cpu_ns();
  for (auto _ : state) {
    const auto m = gro.coalesce(in, arena, out);
    if (!m || *m != 1) state.SkipWithError("did not coalesce into one super-packet");
    benchmark::DoNotOptimize(m);
    benchmark::ClobberMemory();
  }
  finish(state, start);
}

void BM_coalesce(benchmark::State& state) {
  coalesce_bench(state, true);
}

void BM_coalesce_trusting(benchmark::State& state) {
  coalesce_bench(state, false);
}

void split_views_bench(benchmark::State& state, tunkit::SegmentChecksum checksum) {
  const Super s = make_super(static_cast<int>(state.range(0)), state.range(1) != 0);
  Bytes headers(tunkit::gso_views_arena_size(64, 120));
  std::vector<tunkit::SegmentView> views(64);
  const double start = cpu_ns();
  for (auto _ : state) {
    const auto n = tunkit::gso_split_views(s.header, s.packet, headers, views, checksum);
    if (!n) state.SkipWithError(tunkit::to_string(n.error()).c_str());
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  finish(state, start);
}

void BM_split_views(benchmark::State& state) {
  split_views_bench(state, tunkit::SegmentChecksum::full);
}

void BM_split_views_partial(benchmark::State& state) {
  split_views_bench(state, tunkit::SegmentChecksum::partial);
}

void coalesce_gather_bench(benchmark::State& state, bool verify) {
  const Super s = make_super(static_cast<int>(state.range(0)), state.range(1) != 0);
  Bytes seg_headers(tunkit::gso_views_arena_size(64, 120));
  std::vector<tunkit::SegmentView> views(64);
  const auto n = tunkit::gso_split_views(s.header, s.packet, seg_headers, views);
  if (!n) {
    state.SkipWithError(tunkit::to_string(n.error()).c_str());
    return;
  }
  std::vector<tunkit::PacketParts> in;
  for (std::size_t i = 0; i < *n; ++i)
    in.push_back({views[i].headers, views[i].payload});
  tunkit::Coalescer gro({.max_batch = 64, .verify_checksums = verify});
  Bytes arena(tunkit::Coalescer::gather_arena_size(in.size(), 10));
  std::vector<std::span<const std::byte>> pieces(tunkit::Coalescer::gather_pieces(in.size()));
  std::vector<tunkit::GatheredPacket> out(in.size());
  const double start = cpu_ns();
  for (auto _ : state) {
    const auto m = gro.coalesce(std::span<const tunkit::PacketParts>(in), arena, pieces, out);
    if (!m || *m != 1) state.SkipWithError("did not coalesce into one super-packet");
    benchmark::DoNotOptimize(m);
    benchmark::ClobberMemory();
  }
  finish(state, start);
}

void BM_coalesce_gather(benchmark::State& state) {
  coalesce_gather_bench(state, true);
}

void BM_coalesce_gather_trusting(benchmark::State& state) {
  coalesce_gather_bench(state, false);
}

void BM_memcpy(benchmark::State& state) {
  static const Bytes src(kSuperSize, std::byte{0x5A});
  static Bytes dst(kSuperSize);
  for (auto _ : state) {
    benchmark::DoNotOptimize(src.data());
    std::memcpy(dst.data(), src.data(), kSuperSize);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(kSuperSize));
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"ipv", "tcp"});
  for (const std::int64_t v : {4, 6}) {
    for (const std::int64_t tcp : {1, 0})
      b->Args({v, tcp});
  }
}

}  // namespace

BENCHMARK(BM_memcpy);
BENCHMARK(BM_split)->Apply(shapes);
BENCHMARK(BM_coalesce)->Apply(shapes);
BENCHMARK(BM_coalesce_trusting)->Apply(shapes);
BENCHMARK(BM_split_views)->Apply(shapes);
BENCHMARK(BM_split_views_partial)->Apply(shapes);
BENCHMARK(BM_coalesce_gather)->Apply(shapes);
BENCHMARK(BM_coalesce_gather_trusting)->Apply(shapes);

BENCHMARK_MAIN();
