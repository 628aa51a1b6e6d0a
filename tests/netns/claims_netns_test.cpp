// The signal- and thread-safety claims of the public headers, against the real kernel (the
// thread-safety ones on the fake kernel are in tests/unit/thread_safety_test.cpp). Under the
// tsan preset these run with ThreadSanitizer, which also reports a handler that is not
// async-signal-safe (malloc, locks) when it runs.
//
// - queue.hpp, device.hpp: `interrupt()` is thread- and async-signal-safe.
// - netns.hpp: `in_netns` is thread-safe; no thread but its own short-lived one changes namespace.
#include <pthread.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <future>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/netns.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

namespace {

using namespace std::chrono_literals;
using tunkit::testing::NetNsSandbox;

// What the signal handler may touch: lock-free atomics only.
std::atomic<tunkit::TunDevice*> g_device{nullptr};
std::atomic<tunkit::Queue*> g_queue{nullptr};
std::atomic<int> g_handled{0};
static_assert(std::atomic<tunkit::TunDevice*>::is_always_lock_free);

extern "C" void interrupt_from_handler(int) {
  if (auto* dev = g_device.load()) dev->interrupt();
  if (auto* q = g_queue.load()) q->interrupt();
  g_handled.fetch_add(1);
}

// Installs the handler for SIGUSR1 for one test (without SA_RESTART: a blocked poll(2) sees
// EINTR, which tunkit retries, so only the wake-up can end the wait) and restores the old one.
class HandlerScope {
 public:
  HandlerScope() {
    struct sigaction sa {};
    sa.sa_handler = interrupt_from_handler;
    sigemptyset(&sa.sa_mask);
    REQUIRE(::sigaction(SIGUSR1, &sa, &old_) == 0);
    g_handled = 0;
  }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;
  ~HandlerScope() {
    g_device = nullptr;
    g_queue = nullptr;
    ::sigaction(SIGUSR1, &old_, nullptr);
  }

 private:
  struct sigaction old_ {};
};

// Runs `read` on a thread that blocks in it; sends SIGUSR1 to that very thread (so the handler
// runs on it, interrupting its own poll) until the read returns, for at most 5 s. Returns the
// error the read ended with.
template <class Read>
std::error_code read_until_signalled(Read read) {
  std::promise<pthread_t> started;
  auto self = started.get_future();
  auto done = std::async(std::launch::async, [&] {
    started.set_value(::pthread_self());
    return read();
  });
  const pthread_t reader = self.get();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (done.wait_for(20ms) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline) {
      // Never leave a blocked thread behind: wake it without the signal, and fail.
      if (auto* dev = g_device.load()) dev->interrupt();
      if (auto* q = g_queue.load()) q->interrupt();
      (void)done.get();
      FAIL("the read was not woken by interrupt() from the signal handler within 5 s");
    }
    ::pthread_kill(reader, SIGUSR1);
  }
  return done.get();
}

}  // namespace

TEST_CASE("TunDevice::interrupt() from a signal handler wakes a blocked read",
          "[netns][signals][interrupt]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "sig0", .multi_queue = true, .queues = 2});
  HandlerScope scope;
  g_device = &dev;
  const std::error_code ec = read_until_signalled([&] {
    std::array<std::byte, 2048> buf{};
    std::error_code e;
    (void)dev.queue(1).read(buf, e);
    return e;
  });
  CHECK(ec == tunkit::errc::interrupted);
  CHECK(g_handled.load() >= 1);
  // The device stays usable: clear_interrupt() and a non-blocking wait sees no packet.
  dev.clear_interrupt();
  std::error_code e;
  CHECK(dev.queue(0).wait_readable(0ms, e) == tunkit::WaitResult::timeout);
  CHECK_FALSE(e);
}

TEST_CASE("Queue::interrupt() from a signal handler wakes a blocked wait",
          "[netns][signals][interrupt]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "sig1"});
  HandlerScope scope;
  g_queue = &dev.queue(0);
  const std::error_code ec = read_until_signalled([&] {
    std::error_code e;
    const auto r = dev.queue(0).wait_readable(-1ms, e);
    if (!e && r == tunkit::WaitResult::interrupted) e = tunkit::errc::interrupted;
    return e;
  });
  CHECK(ec == tunkit::errc::interrupted);
  CHECK(g_handled.load() >= 1);
}

TEST_CASE("in_netns from several threads at once: each runs where asked, no caller moves",
          "[netns][namespaces][threads]") {
  NetNsSandbox sandbox;
  auto id = [] { return std::filesystem::read_symlink("/proc/thread-self/ns/net").string(); };
  const std::string here = id();
  // Two more namespaces, each made on a thread that leaves it at once.
  std::array<tunkit::NetNs, 2> others;
  std::array<std::string, 2> other_ids;
  for (std::size_t i = 0; i < others.size(); ++i) {
    std::thread([&] {
      NetNsSandbox other;
      others[i] = tunkit::NetNs::current();
      other_ids[i] = id();
    }).join();
    REQUIRE(others[i].is_open());
  }
  REQUIRE(other_ids[0] != other_ids[1]);

  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string mine = id();
      for (int r = 0; r < kRounds; ++r) {
        const std::size_t which = static_cast<std::size_t>((t + r) % 2);
        const std::string inside = tunkit::in_netns(others[which], [&] { return id(); });
        if (inside != other_ids[which]) ++wrong;
        if (id() != mine) ++wrong;  // the calling thread never moved
      }
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(wrong.load() == 0);
  CHECK(id() == here);
}
