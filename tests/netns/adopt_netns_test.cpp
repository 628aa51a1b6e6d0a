// Queue::adopt and TunDevice::adopt against the real kernel: descriptors opened with raw system
// calls, as another program would open them, are adopted with what the kernel says about them
// (the packet-information header included, which TUNGETIFF cannot tell); and each kind of wrong
// descriptor is refused by name, left open and unchanged.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catch.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace adopt_netns {

using Catch::Matchers::ContainsSubstring;
using namespace std::chrono_literals;

// A queue opened as another program would: blocking, inheritable, attached with TUNSETIFF.
int raw_queue(const char* name, short flags) {
  const int fd = ::open("/dev/net/tun", O_RDWR);
  REQUIRE(fd >= 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  REQUIRE(::ioctl(fd, TUNSETIFF, &ifr) == 0);
  return fd;
}

struct FdState {
  int status;
  int fd_flags;
  friend bool operator==(const FdState&, const FdState&) = default;
};
FdState state_of(int fd) {
  return {::fcntl(fd, F_GETFL), ::fcntl(fd, F_GETFD)};
}

std::error_condition adopt_netns_condition(tunkit::errc e) {
  return {static_cast<int>(e), tunkit::error_category()};
}

}  // namespace adopt_netns

using namespace adopt_netns;

TEST_CASE("adopted raw queues move real packets, with the device's packet information",
          "[netns][adopt]") {
  tunkit::testing::NetNsSandbox sandbox;
  const short mq = IFF_TUN | IFF_MULTI_QUEUE;  // with the packet-information header
  const std::array<int, 2> fds{raw_queue("tkad0", mq), raw_queue("tkad0", mq)};
  REQUIRE((::fcntl(fds[0], F_GETFL) & O_NONBLOCK) == 0);

  tunkit::TunDevice dev = tunkit::TunDevice::adopt(fds);
  REQUIRE(dev.queue_count() == 2);
  CHECK(dev.name() == "tkad0");
  CHECK(dev.ifindex() == ::if_nametoindex("tkad0"));
  CHECK(dev.queue(0).has_packet_info());  // read over rtnetlink
  CHECK(dev.flags().has(tunkit::Flag::multi_queue));
  for (int fd : fds) {
    CHECK((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    CHECK(::fcntl(fd, F_GETFD) == FD_CLOEXEC);
  }

  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.61.0.1/24"));
  link.set_up();
  // A datagram routed into the device reaches one of the adopted queues, its header stripped.
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(4000);
  to.sin_addr.s_addr = htonl(0x0A3D0002);  // 10.61.0.2
  const char payload[] = "adopted";
  REQUIRE(::sendto(s, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
          static_cast<ssize_t>(sizeof payload));
  ::close(s);
  bool seen = false;
  std::array<std::byte, 2048> buf{};
  for (int round = 0; round < 100 && !seen; ++round) {
    for (std::size_t q = 0; q < 2 && !seen; ++q) {
      if (dev.queue(q).wait_readable(20ms) != tunkit::WaitResult::ready) continue;
      tunkit::PacketInfo info;
      const std::size_t n = dev.queue(q).read(buf, info);
      const int version = std::to_integer<int>(buf[0]) >> 4;
      // The header's protocol, as the kernel wrote it (IPv6 router solicitations come too).
      CHECK(info.protocol == (version == 4 ? 0x0800 : 0x86DD));
      seen = n >= 28 && version == 4 && std::to_integer<int>(buf[9]) == 17;
    }
  }
  CHECK(seen);
  dev.close();
  CHECK(::fcntl(fds[0], F_GETFD) == -1);  // the device owned them
  CHECK_FALSE(tunkit::find_tun_device("tkad0"));
}

TEST_CASE("adopt refuses each wrong descriptor by name and leaves it as it was", "[netns][adopt]") {
  tunkit::testing::NetNsSandbox sandbox;
  const int unattached = ::open("/dev/net/tun", O_RDWR);
  const int sock = ::socket(AF_UNIX, SOCK_DGRAM, 0);
  const int event = ::eventfd(0, 0);
  const int file = ::open("/proc/self/status", O_RDONLY);
  const int null = ::open("/dev/null", O_RDWR);
  const int queue = raw_queue("tkad1", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  const int disabled = raw_queue("tkad1", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  ifreq detach{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  REQUIRE(::ioctl(disabled, TUNSETQUEUE, &detach) == 0);
  const int other = raw_queue("tkad2", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  const std::vector<int> all{unattached, sock, event, file, null, queue, disabled, other};
  for (int fd : all)
    REQUIRE(fd >= 0);
  std::vector<FdState> before;
  for (int fd : all)
    before.push_back(state_of(fd));

  struct Case {
    std::vector<int> fds;
    std::error_condition code;
    std::string message;
  };
  const std::vector<Case> cases{
      {{unattached},
       adopt_netns_condition(tunkit::errc::not_a_queue),
       fmt::format("tunkit: adopt descriptor {}: not a TUN/TAP queue (/dev/net/tun without an "
                   "interface: no TUNSETIFF yet, or the interface was deleted)",
                   unattached)},
      {{sock},
       adopt_netns_condition(tunkit::errc::not_a_queue),
       "not a TUN/TAP queue (it is a socket, not a /dev/net/tun descriptor)"},
      {{event}, adopt_netns_condition(tunkit::errc::not_a_queue), "(it is an anonymous inode"},
      {{file}, adopt_netns_condition(tunkit::errc::not_a_queue), "(it is a regular file, not a"},
      {{null},
       adopt_netns_condition(tunkit::errc::not_a_queue),
       "(it is character device 1:3, not a"},
      {{disabled},
       std::make_error_condition(std::errc::invalid_argument),
       "of \"tkad1\": invalid argument (a disabled queue"},
      {{queue, other},
       std::make_error_condition(std::errc::invalid_argument),
       "is a queue of another device, \"tkad1\""},
  };
  for (const Case& c : cases) {
    INFO("descriptors " << c.fds[0]);
    try {
      (void)tunkit::TunDevice::adopt(c.fds);
      FAIL("adopted");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == c.code);
      CHECK_THAT(e.what(), ContainsSubstring(c.message));
    }
  }
  for (std::size_t i = 0; i < all.size(); ++i)
    CHECK(state_of(all[i]) == before[i]);

  // The interface deleted under a queue: the descriptor is attached to nothing any more.
  REQUIRE(std::system("ip link del tkad2") == 0);
  std::error_code ec;
  CHECK_FALSE(tunkit::Queue::adopt(other, ec).is_open());
  CHECK(ec == adopt_netns_condition(tunkit::errc::not_a_queue));
  for (int fd : all)
    ::close(fd);
}
