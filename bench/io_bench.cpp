// Per-packet cost of tunkit's I/O against raw read(2)/write(2) on the same descriptor.
//
// Both use a buffer of 64 KiB + 64 bytes, as a plain C forwarder does (tunkit then
// uses read(2); with a buffer smaller than the largest packet it uses a two-entry readv(2) to
// detect truncation, which costs a little more in the kernel).
//
// A TUN device in a private network namespace (needs root: the binary unshares one itself)
// holds 10.94.0.1/24; each round trip writes one 64-byte ICMP echo request for 10.94.0.1 into the
// device and reads the kernel's echo reply back out of it. The kernel does the same work in every
// variant, so the difference between them is what tunkit adds in user space:
//
//   BM_raw:    ::write + ::read on native_handle() (poll(2) when the reply is not there yet)
//   BM_tunkit: Queue::write + Queue::read (std::error_code forms)
//   BM_batch:  BatchIo::write_batch of 32 requests, then read_batch until 32 replies (loop or
//              io_uring backend), per packet
//
// Wall time on a shared machine is noisy and includes the kernel; the stable figure is the user-
// space instruction count per round trip, from callgrind:
//
//   valgrind --tool=callgrind --toggle-collect='*run_raw*' ./tunkit_io_bench --count raw 100000
//   valgrind --tool=callgrind --toggle-collect='*run_tunkit*' ./tunkit_io_bench --count tunkit
//   100000
//
// (`--count MODE N` runs N round trips of MODE without Google Benchmark; divide the collected Ir
// by N.) tools/../dev bench does this and prints the figures.
#include <benchmark/benchmark.h>
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/batch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/link.hpp"
#include "tunkit/packet/checksum.hpp"

namespace {

constexpr std::size_t kPacket = 64;

// A 64-byte ICMP echo request 10.94.0.2 -> 10.94.0.1 with valid checksums.
std::array<std::byte, kPacket> echo_request(std::uint16_t seq) {
  std::array<std::byte, kPacket> p{};
  const std::array<std::uint8_t, 20> ip = {0x45, 0, 0,  kPacket, 0, 1, 0x40, 0,  64, 1,
                                           0,    0, 10, 94,      0, 2, 10,   94, 0,  1};
  std::memcpy(p.data(), ip.data(), ip.size());
  const std::uint16_t ipsum = tunkit::internet_checksum(std::span(p).first(20));
  p[10] = static_cast<std::byte>(ipsum >> 8U);
  p[11] = static_cast<std::byte>(ipsum & 0xFFU);
  p[20] = std::byte{8};  // echo request
  p[24] = std::byte{0x12};
  p[25] = std::byte{0x34};
  p[26] = static_cast<std::byte>(seq >> 8U);
  p[27] = static_cast<std::byte>(seq & 0xFFU);
  for (std::size_t i = 28; i < kPacket; ++i)
    p[i] = static_cast<std::byte>(i);
  const std::uint16_t sum = tunkit::internet_checksum(std::span(p).subspan(20));
  p[22] = static_cast<std::byte>(sum >> 8U);
  p[23] = static_cast<std::byte>(sum & 0xFFU);
  return p;
}

// 32 echo requests (sequence numbers 0..31) in `batch`.
void fill_requests(tunkit::PacketBatch& batch) {
  batch.clear();
  for (std::size_t i = 0; i < 32 && i < batch.capacity(); ++i) {
    const auto p = echo_request(static_cast<std::uint16_t>(i));
    std::copy(p.begin(), p.end(), batch.buffer(i).begin());  // no headroom here
    (void)batch.push_back(p.size());
  }
}

struct Fixture {
  tunkit::TunDevice dev;
  std::array<std::byte, kPacket> request = echo_request(1);
  Fixture() {
    if (::unshare(CLONE_NEWNET) != 0) {
      std::perror("io_bench: unshare(CLONE_NEWNET) (needs root)");
      std::exit(2);
    }
    dev.open({.name = "tkbench0"});
    tunkit::Link link(dev.ifindex());
    link.add_address(tunkit::IpPrefix::parse("10.94.0.1/24"));
    link.set_up();
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// The variants, each one round trip per call; `noinline` so that callgrind can collect exactly
// these functions.
[[gnu::noinline]] bool run_raw(int fd, std::span<const std::byte> request,
                               std::span<std::byte> buf) {
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    return false;
  }
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n > 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    pollfd pfd{fd, POLLIN, 0};
    (void)::poll(&pfd, 1, 1000);
  }
}

[[gnu::noinline]] bool run_tunkit(tunkit::Queue& q, std::span<const std::byte> request,
                                  std::span<std::byte> buf) {
  std::error_code ec;
  (void)q.write(request, ec);
  if (ec) return false;
  (void)q.read(buf, ec);
  return !ec;
}

[[gnu::noinline]] bool run_batch(tunkit::BatchIo& io, tunkit::PacketBatch& requests,
                                 tunkit::PacketBatch& replies) {
  std::error_code ec;
  if (io.write_batch(requests, ec) != requests.size()) return false;
  std::size_t got = 0;
  while (got < requests.size()) {
    got += io.read_batch(replies, ec);
    if (ec) return false;
  }
  return true;
}

void BM_raw(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<std::byte> buf(65536 + 64);  // as ref-forwarder.c
  for (auto _ : state) {
    if (!run_raw(f.dev.native_handle(), f.request, buf)) state.SkipWithError("raw I/O failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_raw);

void BM_tunkit(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<std::byte> buf(65536 + 64);  // as ref-forwarder.c
  for (auto _ : state) {
    if (!run_tunkit(f.dev.queue(0), f.request, buf)) state.SkipWithError("tunkit I/O failed");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_tunkit);

// Batches of 32 (items: packets, one request and one reply each).
void BM_batch(benchmark::State& state, tunkit::BatchBackend backend) {
  Fixture& f = fixture();
  if (backend == tunkit::BatchBackend::uring && !tunkit::BatchIo::uring_available()) {
    state.SkipWithError("io_uring unavailable");
    return;
  }
  tunkit::BatchIo io(f.dev.queue(0), {.backend = backend, .max_packets = 32});
  tunkit::PacketBuffers requests(32, kPacket);
  tunkit::PacketBuffers replies(32, 2048);
  fill_requests(requests.batch());
  for (auto _ : state) {
    if (!run_batch(io, requests.batch(), replies.batch())) state.SkipWithError("batch failed");
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK_CAPTURE(BM_batch, loop, tunkit::BatchBackend::loop);
BENCHMARK_CAPTURE(BM_batch, uring, tunkit::BatchBackend::uring);

// `--count MODE N`: N round trips (MODE raw, tunkit, batch-loop or batch-uring; batches count 32
// packets each), for callgrind.
int count_mode(std::string_view mode, long n) {
  Fixture& f = fixture();
  std::vector<std::byte> buf(65536 + 64);  // as ref-forwarder.c
  tunkit::Queue& q = f.dev.queue(0);
  // Warm-up outside the collected functions' first calls (page faults, lazy binding).
  for (int i = 0; i < 100; ++i) {
    (void)run_raw(f.dev.native_handle(), f.request, buf);
    (void)run_tunkit(q, f.request, buf);
  }
  if (mode == "raw" || mode == "tunkit") {
    for (long i = 0; i < n; ++i) {
      const bool ok = mode == "raw" ? run_raw(f.dev.native_handle(), f.request, buf)
                                    : run_tunkit(q, f.request, buf);
      if (!ok) return 1;
    }
    return 0;
  }
  const auto backend =
      mode == "batch-uring" ? tunkit::BatchBackend::uring : tunkit::BatchBackend::loop;
  tunkit::BatchIo io(q, {.backend = backend, .max_packets = 32});
  tunkit::PacketBuffers requests(32, kPacket);
  tunkit::PacketBuffers replies(32, 2048);
  fill_requests(requests.batch());
  for (long i = 0; i < n / 32; ++i) {
    if (!run_batch(io, requests.batch(), replies.batch())) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string_view(argv[1]) == "--count") {
    return count_mode(argv[2], std::strtol(argv[3], nullptr, 10));
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
