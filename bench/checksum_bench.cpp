// Internet checksum throughput: tunkit::internet_checksum (64-bit words, four accumulators)
// against the straightforward loop over 16-bit words that RFC 1071 section 4.1 shows, on the
// same buffers, at packet sizes that matter for a TUN device: a small packet (64 B), an Ethernet
// MTU (1500 B) and a GSO super-packet (64 KiB). Both report bytes/s.

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "tunkit/packet/checksum.hpp"

namespace {

std::uint16_t byte_loop_checksum(std::span<const std::byte> data) {
  std::uint64_t sum = 0;
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    sum += (std::to_integer<std::uint64_t>(data[i]) << 8) |
           std::to_integer<std::uint64_t>(data[i + 1]);
  }
  if (i < data.size()) sum += std::to_integer<std::uint64_t>(data[i]) << 8;
  while ((sum >> 16) != 0)
    sum = (sum & 0xFFFFU) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xFFFFU);
}

// Random bytes; `offset` shifts the start off 8-byte alignment.
std::span<const std::byte> buffer(std::size_t size, std::size_t offset) {
  static const std::vector<std::byte> pool = [] {
    std::vector<std::byte> v(65536 + 64);
    std::mt19937 rng(1071);
    for (auto& b : v)
      b = static_cast<std::byte>(rng() & 0xFFU);
    return v;
  }();
  return std::span(pool).subspan(offset, size);
}

void BM_tunkit(benchmark::State& state) {
  const auto data =
      buffer(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    benchmark::DoNotOptimize(tunkit::internet_checksum(data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_byte_loop(benchmark::State& state) {
  const auto data =
      buffer(static_cast<std::size_t>(state.range(0)), static_cast<std::size_t>(state.range(1)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    benchmark::DoNotOptimize(byte_loop_checksum(data));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// Arguments: {size, start offset}.
void sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "offset"});
  for (const std::int64_t size : {64, 1500, 65536})
    b->Args({size, 0});
  b->Args({1500, 1});  // odd start address
}

}  // namespace

BENCHMARK(BM_tunkit)->Apply(sizes);
BENCHMARK(BM_byte_loop)->Apply(sizes);

BENCHMARK_MAIN();
