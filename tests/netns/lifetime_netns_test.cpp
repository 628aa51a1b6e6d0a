// Device lifetime orderings against the real kernel: the interface deleted under a blocked
// reader, and the sandbox's namespace going away while a device of it is still open.
#include <net/if.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "catch.hpp"
#include "tunkit/testing/netns.hpp"
#include "tunkit/tunkit.hpp"

TEST_CASE("deleting the interface wakes a blocked reader with a clear error", "[netns][lifetime]") {
  tunkit::testing::NetnsSandbox sandbox;
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
    tunkit::testing::NetnsSandbox sandbox;
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
