// Shutdown: a reader blocked in read() on any queue returns errc::interrupted after interrupt()
// from another thread. Correctness is asserted; the latency distribution is only reported.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "tunkit/testing/netns.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

TEST_CASE("interrupt() wakes a blocked reader on every queue, 1000 times", "[netns][shutdown]") {
  tunkit::testing::NetnsSandbox sandbox;
  // Up, with no address and IPv6 off, so the kernel sends nothing to the device on its own.
  tunkit::TunDevice dev({.name = "tkstop0", .queues = 4});
  constexpr int kIterations = 1000;
  std::vector<double> latency_us;
  latency_us.reserve(kIterations);
  int interrupted = 0;
  for (int i = 0; i < kIterations; ++i) {
    tunkit::Queue& q = dev.queue(static_cast<std::size_t>(i) % dev.queue_count());
    std::atomic<bool> entered{false};
    std::atomic<Clock::rep> returned_at{0};
    std::error_code ec;
    std::thread reader([&] {
      std::array<std::byte, 2048> buf{};
      entered.store(true);
      (void)q.read(buf, ec);  // blocks: nothing is ever queued on this device
      returned_at.store(Clock::now().time_since_epoch().count());
    });
    while (!entered.load())
      std::this_thread::yield();
    // Give the reader time to reach poll(2) most of the time; the result must not depend on it.
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    const auto sent = Clock::now();
    q.interrupt();
    reader.join();
    const auto back = Clock::time_point(Clock::duration(returned_at.load()));
    latency_us.push_back(std::chrono::duration<double, std::micro>(back - sent).count());
    if (ec == tunkit::errc::interrupted) ++interrupted;
    q.clear_interrupt();
  }
  CHECK(interrupted == kIterations);
  const double worst = *std::max_element(latency_us.begin(), latency_us.end());
  std::printf("shutdown latency over %d interrupts (us): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n",
              kIterations, percentile(latency_us, 0.5), percentile(latency_us, 0.9),
              percentile(latency_us, 0.99), worst);
  // The whole device: one interrupt() wakes readers blocked on all queues at once.
  std::vector<std::thread> readers;
  std::atomic<int> woken{0};
  for (std::size_t qi = 0; qi < dev.queue_count(); ++qi) {
    readers.emplace_back([&, qi] {
      std::array<std::byte, 2048> buf{};
      std::error_code ec;
      (void)dev.queue(qi).read(buf, ec);
      if (ec == tunkit::errc::interrupted) ++woken;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  dev.interrupt();
  for (auto& t : readers)
    t.join();
  CHECK(woken.load() == static_cast<int>(dev.queue_count()));
}
