// NetNsSandbox itself: isolation, loopback, nesting, and that it leaves nothing behind.
#include <dirent.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/device.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

namespace {

using tunkit::testing::NetNsSandbox;

// The inode of the calling thread's network namespace: equal inodes, same namespace.
ino_t netns_inode() {
  struct stat st {};
  REQUIRE(::stat("/proc/thread-self/ns/net", &st) == 0);
  return st.st_ino;
}

ino_t fd_inode(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_ino;
}

using netns_test::open_fd_count;

// Interface names in the calling thread's namespace, from /proc/thread-self/net/dev. (Not
// /sys/class/net: sysfs shows the namespace it was mounted in, whatever the thread's.)
std::vector<std::string> interfaces() {
  std::ifstream in("/proc/thread-self/net/dev");
  REQUIRE(in);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines have '|' but no ':'
    std::istringstream s(line.substr(0, colon));
    std::string name;
    s >> name;
    names.push_back(name);
  }
  return names;
}

bool has_interface(const std::string& name) {
  const auto names = interfaces();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// IFF_* flags of an interface in the calling thread's namespace, by SIOCGIFFLAGS.
unsigned interface_flags(const char* name) {
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(sock >= 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  const int r = ::ioctl(sock, SIOCGIFFLAGS, &ifr);
  ::close(sock);
  REQUIRE(r == 0);
  return static_cast<unsigned short>(ifr.ifr_flags);
}

tunkit::Options tun_named(const std::string& name) {
  tunkit::Options o;
  o.name = name;
  return o;
}

}  // namespace

TEST_CASE("a sandbox is a fresh namespace with only loopback, and it is up", "[netns][sandbox]") {
  const ino_t outside = netns_inode();
  const std::size_t fds = open_fd_count();
  {
    NetNsSandbox sandbox;
    const ino_t inside = netns_inode();
    CHECK(inside != outside);
    CHECK(fd_inode(sandbox.netns_fd()) == inside);
    CHECK(interfaces() == std::vector<std::string>{"lo"});
    const unsigned lo = interface_flags("lo");
    CHECK((lo & IFF_UP) != 0);
    CHECK((lo & IFF_LOOPBACK) != 0);
  }
  CHECK(netns_inode() == outside);
  CHECK(open_fd_count() == fds);
}

TEST_CASE("a device made in a sandbox is invisible outside it, during and after",
          "[netns][sandbox]") {
  const std::string name = "tksandbox0";
  REQUIRE_FALSE(has_interface(name));  // the host has no such device to begin with
  REQUIRE(::if_nametoindex(name.c_str()) == 0);

  // A thread started before the sandbox stays in the host namespace; it looks when asked to.
  std::promise<void> look;
  std::promise<std::pair<bool, unsigned>> seen;
  std::thread host([&] {
    look.get_future().wait();
    seen.set_value({has_interface(name), ::if_nametoindex(name.c_str())});
  });

  {
    NetNsSandbox sandbox;
    tunkit::Options o = tun_named(name);
    o.persist = true;  // outlives its descriptor: only the namespace's end removes it
    {
      tunkit::TunDevice dev(o);
      CHECK(dev.name() == name);
      CHECK(::if_nametoindex(name.c_str()) == dev.ifindex());
    }
    CHECK(has_interface(name));

    look.set_value();
    auto result = seen.get_future();
    REQUIRE(result.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
    const auto [host_lists_it, host_index] = result.get();
    CHECK_FALSE(host_lists_it);
    CHECK(host_index == 0U);
    CHECK_FALSE(std::filesystem::exists("/sys/class/net/" + name));  // the host's sysfs
  }
  host.join();

  // Back in the host namespace: the persistent device went with the sandbox's namespace.
  CHECK_FALSE(has_interface(name));
  CHECK(::if_nametoindex(name.c_str()) == 0);
  CHECK_FALSE(std::filesystem::exists("/sys/class/net/" + name));
}

TEST_CASE("sandboxes follow one another, each one new and empty", "[netns][sandbox]") {
  const ino_t outside = netns_inode();
  std::vector<ino_t> seen;
  for (int i = 0; i < 3; ++i) {
    NetNsSandbox sandbox;
    seen.push_back(netns_inode());
    CHECK(interfaces() == std::vector<std::string>{"lo"});
    // The same name every time: each namespace is new, the previous device went with its own.
    tunkit::TunDevice dev(tun_named("tkseq0"));
    CHECK(dev.name() == "tkseq0");
    CHECK(has_interface("tkseq0"));
  }
  CHECK(netns_inode() == outside);
  CHECK_FALSE(has_interface("tkseq0"));
  // A freed namespace's inode may be reused by the next one, so each is compared only with the
  // outside namespace, which stays alive.
  for (const ino_t ino : seen)
    CHECK(ino != outside);
}

TEST_CASE("sandboxes nest: the inner one returns to the outer one", "[netns][sandbox]") {
  const ino_t outside = netns_inode();
  NetNsSandbox outer;
  const ino_t outer_ino = netns_inode();
  tunkit::TunDevice outer_dev(tun_named("tkouter0"));
  {
    NetNsSandbox inner;
    CHECK(netns_inode() != outer_ino);
    CHECK(netns_inode() != outside);
    CHECK(interfaces() == std::vector<std::string>{"lo"});
    CHECK((interface_flags("lo") & IFF_UP) != 0);
    CHECK(::if_nametoindex("tkouter0") == 0);
    tunkit::TunDevice inner_dev(tun_named("tkinner0"));
    CHECK(has_interface("tkinner0"));
  }
  CHECK(netns_inode() == outer_ino);
  CHECK(has_interface("tkouter0"));
  CHECK_FALSE(has_interface("tkinner0"));
  // The outer device still works where it was made.
  CHECK(::if_nametoindex("tkouter0") == outer_dev.ifindex());
}

TEST_CASE("unavailable_reason() probes for real and leaves the thread as it was",
          "[netns][sandbox]") {
  const ino_t outside = netns_inode();
  const std::size_t fds = open_fd_count();
  const auto before = interfaces();
  // main() already checked: the namespace tests only run where sandboxes work.
  CHECK(NetNsSandbox::unavailable_reason() == std::nullopt);
  CHECK(netns_inode() == outside);
  CHECK(open_fd_count() == fds);
  CHECK(interfaces() == before);
  // prepare_process() is a no-op now: as root, or already done by main().
  CHECK(NetNsSandbox::prepare_process() == std::nullopt);
  CHECK(netns_inode() == outside);
}
