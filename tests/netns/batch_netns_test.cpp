// BatchIo against the real kernel, with both backends: UDP datagrams sent into a TUN device are
// read in batches, turned around (addresses and ports swapped, which keeps both checksums valid)
// and written back in batches; the sending socket must receive every one of them. Bounded in
// packets and in time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using tunkit::BatchBackend;

// Swaps source and destination (IPv4 addresses and UDP ports) in place: the reply of `p`.
void turn_around(std::span<std::byte> p) {
  std::array<std::byte, 4> a{};
  std::memcpy(a.data(), p.data() + 12, 4);
  std::memcpy(p.data() + 12, p.data() + 16, 4);
  std::memcpy(p.data() + 16, a.data(), 4);
  const std::size_t ihl = (std::to_integer<std::size_t>(p[0]) & 0x0FU) * 4;
  std::array<std::byte, 2> port{};
  std::memcpy(port.data(), p.data() + ihl, 2);
  std::memcpy(p.data() + ihl, p.data() + ihl + 2, 2);
  std::memcpy(p.data() + ihl + 2, port.data(), 2);
}

bool uring_or_skip() {
  if (tunkit::BatchIo::uring_available()) return true;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL("io_uring is unavailable here (not built in, or refused by the kernel) and CI=true");
  }
  WARN("skipped: io_uring is unavailable (not built with liburing, or the kernel refuses it)");
  return false;
}

}  // namespace

TEST_CASE("BatchIo echoes UDP datagrams in batches through a real TUN device", "[netns][batch]") {
  const BatchBackend backend = GENERATE(BatchBackend::loop, BatchBackend::uring);
  const bool blocking = GENERATE(false, true);
  const std::size_t max_packets = GENERATE(std::size_t{32}, std::size_t{3});
  // Written back whole (write_batch) or in three pieces each (write_gathered: IP header, UDP
  // header, payload, as a coalescer's gather lists are).
  const bool gathered = GENERATE(false, true);
  INFO("backend " << tunkit::to_string(backend) << (blocking ? ", blocking" : ", non-blocking")
                  << ", max_packets " << max_packets << (gathered ? ", gathered" : ""));
  if (backend == BatchBackend::uring && !uring_or_skip()) return;
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkbat0", .non_blocking = !blocking});
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.93.0.1/24"));
  link.set_up();

  tunkit::BatchIo io(dev.queue(0), {.backend = backend, .max_packets = max_packets});
  REQUIRE(io.backend() == backend);
  // The default (automatic) is io_uring on the real kernel where the ring can be had.
  CHECK(tunkit::BatchIo(dev.queue(0)).backend() ==
        (tunkit::BatchIo::uring_available() ? BatchBackend::uring : BatchBackend::loop));

  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  REQUIRE(s >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  REQUIRE(::inet_pton(AF_INET, "10.93.0.2", &to.sin_addr) == 1);

  constexpr int kPackets = 200;
  for (int i = 0; i < kPackets; ++i) {
    const std::string payload = "batch " + std::to_string(i);
    REQUIRE(::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof to) == static_cast<ssize_t>(payload.size()));
  }

  tunkit::PacketBuffers buffers(32, 2048);
  tunkit::PacketBatch& batch = buffers.batch();
  int echoed = 0;
  int largest_batch = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (echoed < kPackets && std::chrono::steady_clock::now() < deadline) {
    if (!blocking &&
        dev.wait_readable(std::chrono::milliseconds(200)) != tunkit::WaitResult::ready) {
      continue;
    }
    std::error_code ec;
    const std::size_t n = io.read_batch(batch, ec);
    if (ec == std::errc::operation_would_block) continue;
    REQUIRE_FALSE(ec);
    REQUIRE(n > 0);
    largest_batch = std::max(largest_batch, static_cast<int>(n));
    // Only our datagrams are turned around (the kernel may also send IPv6 router solicitations
    // and the like, none here as the device has no IPv6 address, but be safe).
    std::size_t keep = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto p = batch.packet(i);
      if (p.size() < 28 || std::to_integer<unsigned>(p[0]) >> 4U != 4 ||
          std::to_integer<unsigned>(p[9]) != 17) {
        continue;
      }
      turn_around(p);
      if (keep != i) {
        std::memcpy(batch.room(keep).data(), p.data(), p.size());
        batch.length(keep) = p.size();
      }
      ++keep;
    }
    batch.set_size(keep);
    if (gathered) {
      std::vector<std::array<std::span<const std::byte>, 3>> pieces(keep);
      std::vector<std::span<const std::span<const std::byte>>> packets(keep);
      for (std::size_t i = 0; i < keep; ++i) {
        const std::span<const std::byte> p = batch.packet(i);
        pieces[i] = {p.first(20), p.subspan(20, 8), p.subspan(28)};
        packets[i] = pieces[i];
      }
      CHECK(io.write_gathered(packets, ec) == keep);
    } else {
      CHECK(io.write_batch(batch, ec) == keep);
    }
    CHECK_FALSE(ec);
    echoed += static_cast<int>(keep);
  }
  CHECK(echoed == kPackets);
  CHECK(largest_batch > 1);  // all 200 were queued before the first read

  std::set<std::string> received;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (static_cast<int>(received.size()) < kPackets && std::chrono::steady_clock::now() < until) {
    pollfd pfd{s, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    std::array<char, 256> buf{};
    const ssize_t r = ::recv(s, buf.data(), buf.size(), 0);
    if (r > 0) received.emplace(buf.data(), static_cast<std::size_t>(r));
  }
  ::close(s);
  CHECK(static_cast<int>(received.size()) == kPackets);
  CHECK(received.count("batch 0") == 1);
  CHECK(received.count("batch 199") == 1);
}

TEST_CASE("BatchIo with io_uring wakes a blocked read_batch on interrupt", "[netns][batch]") {
  if (!uring_or_skip()) return;
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkbat1"});
  tunkit::BatchIo io(dev.queue(0), {.backend = BatchBackend::uring});
  tunkit::PacketBuffers buffers(4, 2048);
  std::error_code ec;
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dev.interrupt();
  });
  const auto start = std::chrono::steady_clock::now();
  CHECK(io.read_batch(buffers.batch(), ec) == 0);
  stopper.join();
  CHECK(ec == tunkit::errc::interrupted);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  // The interrupt stays in effect until cleared, as for Queue::read.
  CHECK(io.read_batch(buffers.batch(), ec) == 0);
  CHECK(ec == tunkit::errc::interrupted);
  dev.clear_interrupt();
}

TEST_CASE("BatchIo with io_uring follows its queue through close() and open()", "[netns][batch]") {
  // A program that recovers from a deleted device closes and opens it again with the same Queue
  // objects. The ring's wake-up poll was armed on the old eventfd: it must follow the queue, or
  // interrupt() no longer wakes a blocked read_batch.
  if (!uring_or_skip()) return;
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkbat2"});
  tunkit::BatchIo io(dev.queue(0), {.backend = BatchBackend::uring});
  tunkit::PacketBuffers buffers(4, 2048);
  std::error_code ec;
  // A blocking read that ends with a packet leaves the ring's poll on the wake-up eventfd armed
  // for the next call: send one datagram into the device and read it.
  {
    tunkit::Link link(dev.ifindex());
    link.add_address(tunkit::IpPrefix::parse("10.94.0.1/24"));
    link.set_up();
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(s >= 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9999);
    REQUIRE(::inet_pton(AF_INET, "10.94.0.2", &to.sin_addr) == 1);
    REQUIRE(::sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) == 1);
    ::close(s);
    CHECK(io.read_batch(buffers.batch(), ec) > 0);
    CHECK_FALSE(ec);
  }

  dev.close();
  dev.open({.name = "tkbat2"});
  std::atomic<bool> returned{false};
  std::error_code read_ec;  // Catch2 assertions stay on this thread
  std::thread reader([&] {
    (void)io.read_batch(buffers.batch(), read_ec);
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  dev.interrupt();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!returned && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(returned);
  // Bounded either way: deleting the device ends a read that the interrupt did not.
  if (!returned) REQUIRE(std::system("ip link del tkbat2") == 0);
  reader.join();
  CHECK(read_ec == tunkit::errc::interrupted);
}
