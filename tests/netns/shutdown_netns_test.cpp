// Shutdown: a reader blocked in read() on any queue returns errc::interrupted after interrupt()
// from another thread; a whole device is shut down by interrupt(), joining its readers, close()
// (closing under a blocked reader is not supported: see Queue). Correctness is asserted; the
// latency distributions are only reported (with how many took longer than 10 ms).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

void report(const char* what, const std::vector<double>& latency_us) {
  const double worst = *std::max_element(latency_us.begin(), latency_us.end());
  const auto slow =
      std::count_if(latency_us.begin(), latency_us.end(), [](double us) { return us > 10'000.0; });
  std::printf("%s, %zu samples (us): p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  over 10 ms: %zu\n",
              what, latency_us.size(), percentile(latency_us, 0.5), percentile(latency_us, 0.9),
              percentile(latency_us, 0.99), worst, static_cast<std::size_t>(slow));
}

}  // namespace

TEST_CASE("interrupt() wakes a blocked reader on every queue, 1000 times", "[netns][shutdown]") {
  tunkit::testing::NetNsSandbox sandbox;
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
  report("shutdown latency, Queue::interrupt() to read() returning", latency_us);
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

TEST_CASE("shutting a device down wakes a reader on each of 4 queues, 250 times",
          "[netns][shutdown]") {
  tunkit::testing::NetNsSandbox sandbox;
  constexpr int kIterations = 250;
  constexpr std::size_t kQueues = 4;
  std::vector<double> latency_us;
  latency_us.reserve(kIterations * kQueues);
  int interrupted = 0;
  for (int i = 0; i < kIterations; ++i) {
    tunkit::TunDevice dev({.name = "tkstop1", .queues = kQueues});
    std::array<std::atomic<Clock::rep>, kQueues> returned_at{};
    std::array<std::error_code, kQueues> errors{};
    std::atomic<std::size_t> entered{0};
    std::vector<std::thread> readers;
    for (std::size_t qi = 0; qi < kQueues; ++qi) {
      readers.emplace_back([&, qi] {
        std::array<std::byte, 2048> buf{};
        ++entered;
        (void)dev.queue(qi).read(buf, errors[qi]);
        returned_at[qi].store(Clock::now().time_since_epoch().count());
      });
    }
    while (entered.load() < kQueues)
      std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    const auto sent = Clock::now();
    dev.interrupt();  // one call wakes the readers of every queue
    for (auto& t : readers)
      t.join();
    dev.close();  // only now: no thread uses the descriptors any more
    for (std::size_t qi = 0; qi < kQueues; ++qi) {
      const auto back = Clock::time_point(Clock::duration(returned_at[qi].load()));
      latency_us.push_back(std::chrono::duration<double, std::micro>(back - sent).count());
      if (errors[qi] == tunkit::errc::interrupted) ++interrupted;
    }
    CHECK_FALSE(dev.is_open());
  }
  CHECK(interrupted == kIterations * static_cast<int>(kQueues));
  report("shutdown latency, TunDevice::interrupt() to each queue's read() returning", latency_us);
}
