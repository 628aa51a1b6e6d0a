// The thread-safety guarantees that device.hpp and queue.hpp state, each exercised with the calls
// it allows running at once on several threads over the (thread-safe) fake kernel. The unit
// suite checks the outcomes; the ThreadSanitizer build (./dev tsan, CI's tsan job) checks that
// none of it is a data race.
#include <linux/if_tun.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace {

using tunkit::TunDevice;
using tunkit::WaitResult;
using tunkit::testing::FakeKernel;
using namespace std::chrono_literals;

}  // namespace

TEST_CASE("interrupt() from another thread while add_queue() grows the device",
          "[threads][interrupt]") {
  FakeKernel k;
  TunDevice dev({.name = "ts0", .multi_queue = true}, k);
  std::atomic<bool> done{false};
  std::thread interrupter([&] {
    while (!done.load()) {
      dev.interrupt();
      std::this_thread::yield();
    }
  });
  constexpr std::size_t kAdded = 40;
  std::size_t added = 0;
  for (std::size_t i = 0; i < kAdded; ++i) {
    std::error_code ec;
    if (dev.add_queue(ec) != nullptr) ++added;
  }
  dev.interrupt();  // the queues added last are interrupted too
  done = true;
  interrupter.join();
  CHECK(added == kAdded);
  REQUIRE(dev.queue_count() == kAdded + 1);
  for (std::size_t i = 0; i < dev.queue_count(); ++i) {
    CHECK(dev.queue(i).wait_readable(0ms) == WaitResult::interrupted);
  }
}

TEST_CASE("interrupt() from another thread while close() ends the device", "[threads][interrupt]") {
  // close() waits for an interrupt() under way, so no write reaches a closed descriptor.
  for (int round = 0; round < 20; ++round) {
    FakeKernel k;
    TunDevice dev({.name = "ts1", .queues = 4}, k);
    std::atomic<bool> started{false};
    std::atomic<bool> done{false};
    std::thread interrupter([&] {
      while (!done.load()) {
        dev.interrupt();
        started = true;
      }
    });
    while (!started.load())
      std::this_thread::yield();
    dev.close();
    done = true;
    interrupter.join();
    CHECK(k.open_fd_count() == 0);
    for (const auto& c : k.calls()) {
      if (c.call == FakeKernel::Call::write) CHECK(c.result != -EBADF);
    }
  }
}

TEST_CASE("the virtio-net header changes while another thread writes", "[threads][vnet]") {
  FakeKernel k;
  TunDevice dev({.name = "ts2", .vnet_hdr = true, .non_blocking = true}, k);
  k.set_up("ts2", true);
  // A 12-byte zero header (GSO none) and an IPv4 packet: the kernel takes it while the size is
  // 12 and refuses it (not IP after a 10-byte header) while it is 10.
  std::vector<std::byte> packet(12 + 40);
  packet[12] = std::byte{0x45};
  std::atomic<bool> done{false};
  std::thread configurer([&] {
    for (int i = 0; !done.load(); ++i) {
      std::error_code ec;
      dev.set_vnet_header_size(i % 2 == 0 ? 12 : 10, ec);
    }
  });
  std::size_t written = 0;
  std::size_t refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::error_code ec;
    if (dev.write(packet, ec) > 0) {
      ++written;
    } else if (ec == tunkit::errc::invalid_vnet_header || ec == std::errc::invalid_argument) {
      ++refused;  // a header size that changed between the check and the kernel's write
    }
  }
  done = true;
  configurer.join();
  CHECK(written + refused == 2000);  // nothing else went wrong
  // Settled, the queue frames with the device's size again.
  dev.set_vnet_header_size(12);
  CHECK(dev.write(packet) == packet.size());
  dev.set_vnet_header_size(10);
  std::error_code ec;
  CHECK(dev.write(packet, ec) == 0);
  CHECK(ec == std::errc::invalid_argument);
}

TEST_CASE("a queue is disabled and enabled while another thread makes device-wide calls",
          "[threads][mq]") {
  FakeKernel k;
  TunDevice dev({.name = "ts3", .queues = 2}, k);
  std::atomic<bool> started{false};
  std::atomic<bool> done{false};
  std::atomic<std::size_t> failed{0};
  std::thread toggler([&] {
    while (!started.load()) {  // overlap with the device-wide calls, however the threads run
      std::this_thread::yield();
    }
    for (int i = 0; i < 500; ++i) {
      std::error_code ec;
      dev.queue(1).disable(ec);
      if (ec) ++failed;
      dev.queue(1).enable(ec);
      if (ec) ++failed;
    }
    done = true;
  });
  std::size_t calls = 0;
  do {
    std::error_code ec;
    (void)dev.send_buffer(ec);
    if (ec) ++failed;
    ++calls;
    started = true;
  } while (!done.load());
  toggler.join();
  CHECK(failed.load() == 0);
  CHECK(calls > 0);
  CHECK(dev.queue(1).enabled());
}
