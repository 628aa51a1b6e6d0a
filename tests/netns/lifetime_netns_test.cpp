// Device lifetime orderings against the real kernel: the interface deleted under a blocked
// reader, the sandbox's namespace losing its last user while a device of it is open (also with
// a reader blocked), and the supported way to close a device that other threads read: interrupt,
// join, close.
#include <net/if.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "catch.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

TEST_CASE("deleting the interface wakes a blocked reader with a clear error", "[netns][lifetime]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkdel0", .queues = 2});
  std::atomic<int> done{0};
  std::array<std::error_code, 2> errors;
  std::array<std::string, 2> messages;
  std::vector<std::thread> readers;
  for (std::size_t qi = 0; qi < 2; ++qi) {
    readers.emplace_back([&, qi] {
      std::array<std::byte, 2048> buf{};
      try {
        (void)dev.queue(qi).read(buf);
      } catch (const std::system_error& e) {
        errors[qi] = e.code();
        messages[qi] = e.what();
      }
      ++done;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(done.load() == 0);  // both are blocked
  // `ip link del` is the user's action here; the thread's namespace is inherited by the child.
  REQUIRE(std::system("ip link del tkdel0") == 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (done.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (done.load() < 2) dev.interrupt();  // never leave a thread behind, even if the check fails
  for (auto& t : readers)
    t.join();
  for (std::size_t qi = 0; qi < 2; ++qi) {
    CHECK(errors[qi] == std::error_code(EBADFD, std::system_category()));
    CHECK(messages[qi] ==
          "tunkit: read \"tkdel0\": device removed or not attached (the interface was deleted)");
  }
  CHECK(::if_nametoindex("tkdel0") == 0);
}

TEST_CASE("an open device keeps its namespace alive after the sandbox ends", "[netns][lifetime]") {
  tunkit::TunDevice dev;
  {
    tunkit::testing::NetNsSandbox sandbox;
    dev.open({.name = "tkns0"});
    tunkit::Link(dev.ifindex()).set_up();
  }
  // Back in the original namespace: the device is not here...
  CHECK(::if_nametoindex("tkns0") == 0);
  // ...but its descriptor still works, because the tun socket holds its namespace.
  const int ns = dev.open_netns();
  CHECK(ns >= 0);
  ::close(ns);
  CHECK(dev.flags().has(tunkit::Flag::tun));
  dev.close();  // the last reference: device and namespace go away together
  CHECK_FALSE(dev.is_open());
}

TEST_CASE(
    "a reader blocked while its namespace loses its last user stays blocked until interrupt()",
    "[netns][lifetime]") {
  tunkit::TunDevice dev;
  // The sandbox lives on a helper thread: when that thread ends, nothing is left in the
  // namespace but the device, whose descriptor keeps it (and the device) alive.
  std::thread([&] {
    tunkit::testing::NetNsSandbox sandbox;
    dev.open({.name = "tkns1"});
    // No IPv6: the kernel would send its own solicitations, which the reader would get.
    std::ofstream("/proc/sys/net/ipv6/conf/tkns1/disable_ipv6") << "1";
    tunkit::Link(dev.ifindex()).set_up();
  }).join();
  std::atomic<bool> done{false};
  std::error_code ec;
  std::thread reader([&] {
    std::array<std::byte, 2048> buf{};
    (void)dev.read(buf, ec);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(done.load());  // the device works on: nothing to read, no error
  // Writes still reach the orphaned namespace's stack (which drops them: nothing listens).
  std::array<std::byte, 28> ping{};
  ping[0] = std::byte{0x45};
  ping[3] = std::byte{28};
  ping[8] = std::byte{64};
  ping[9] = std::byte{1};
  std::error_code wec;
  CHECK(dev.write(ping, wec) == ping.size());
  CHECK_FALSE(wec);
  dev.interrupt();
  reader.join();
  CHECK(ec == tunkit::errc::interrupted);
  dev.close();  // the last reference to the device and to its namespace
}

TEST_CASE("closing a device that other threads read: interrupt, join, close", "[netns][lifetime]") {
  // Closing a descriptor while another thread is blocked on it is not supported (a data race on
  // the object; poll(2) on Linux is not woken by close(2), and the number may be reused by the
  // next open). The supported order wakes every reader first.
  tunkit::testing::NetNsSandbox sandbox;
  const std::size_t fds = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      ++n;
    return n;
  }();
  tunkit::TunDevice dev({.name = "tkcl0", .queues = 4});
  std::atomic<int> interrupted{0};
  std::vector<std::thread> readers;
  for (std::size_t qi = 0; qi < dev.queue_count(); ++qi) {
    readers.emplace_back([&, qi] {
      std::array<std::byte, 2048> buf{};
      std::error_code ec;
      (void)dev.queue(qi).read(buf, ec);
      if (ec == tunkit::errc::interrupted) ++interrupted;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  dev.interrupt();
  for (auto& t : readers)
    t.join();
  dev.close();
  CHECK(interrupted.load() == 4);
  CHECK(::if_nametoindex("tkcl0") == 0);
  std::size_t after = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++after;
  CHECK(after == fds);
}

TEST_CASE("after ip link del, every queue and device operation names the deleted interface",
          "[netns][lifetime]") {
  // The kernel answers EINVAL to TUNSETQUEUE on a queue whose interface is gone (as to a device
  // without multi-queue), EBADFD to the other ioctls; tunkit reports both as the deleted interface.
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkgone0", .multi_queue = true, .queues = 2});
  dev.queue(1).disable();
  REQUIRE(std::system("ip link del tkgone0") == 0);
  const std::string gone = "device removed or not attached (the interface was deleted)";
  auto check = [&](const char* what, auto op) {
    INFO(what);
    try {
      op();
      FAIL("no error");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::error_code(EBADFD, std::system_category()));
      CHECK(std::string(e.what()).find(gone) != std::string::npos);
    }
  };
  check("disable", [&] { dev.queue(0).disable(); });
  check("enable", [&] { dev.queue(1).enable(); });
  check("set_persist", [&] { dev.set_persist(true); });
  check("set_carrier", [&] { dev.set_carrier(false); });
  check("flags", [&] { (void)dev.queue(0).flags(); });
  check("send_buffer", [&] { (void)dev.send_buffer(); });
  std::array<std::byte, 64> buf{};
  buf[0] = std::byte{0x45};
  check("write", [&] { (void)dev.queue(0).write(buf); });
}
