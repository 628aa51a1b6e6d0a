// The fake kernel's TUN ioctls on an attached descriptor (src/testing/fake_kernel/tun_ioctls.cpp),
// answered as the real driver does (KERNEL.md, Linux 6.18).
#include "tunkit/testing/fake_kernel.hpp"

#include <net/if_arp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_kernel_test.hpp"

using namespace fake_test;  // NOLINT(google-build-using-namespace): the helpers of these tests

TEST_CASE("TUNGETIFF reports name and flags as the kernel does", "[fake][tungetiff]") {
  FakeKernel k;
  const int unattached = open_tun(k);
  ifreq ifr{};
  CHECK(k.ioctl(unattached, TUNGETIFF, &ifr) == -EBADFD);

  const auto [requested, reported] = GENERATE(table<unsigned, unsigned>({
      // IFF_NOFILTER (0x1000, the same bit as IFF_NO_PI) is always reported: no socket filter.
      {IFF_TUN, IFF_TUN | kNoFilter},
      {IFF_TUN | IFF_NO_PI, IFF_TUN | IFF_NO_PI},
      {IFF_TAP | IFF_VNET_HDR, IFF_TAP | IFF_VNET_HDR | kNoFilter},
      {IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI, IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI},
      {IFF_TUN | IFF_ONE_QUEUE, IFF_TUN | IFF_ONE_QUEUE | kNoFilter},
      {IFF_TAP | IFF_NAPI, IFF_TAP | IFF_NAPI | kNoFilter},
      {IFF_TUN | IFF_TUN_EXCL, IFF_TUN | kNoFilter},  // not a device flag
      {IFF_TUN | 0x0040U, IFF_TUN | kNoFilter},       // IFF_NO_CARRIER: not reported
  }));
  CAPTURE(requested);
  const int fd = attach(k, "t0", requested);
  std::memset(&ifr, 0, sizeof ifr);
  REQUIRE(k.ioctl(fd, TUNGETIFF, &ifr) == 0);
  CHECK(std::string(ifr.ifr_name) == "t0");
  CHECK(static_cast<std::uint16_t>(ifr.ifr_flags) == reported);
  REQUIRE(k.ioctl(fd, TUNSETPERSIST, by_value(1)) == 0);
  CHECK(get_flags(k, fd) == (reported | IFF_PERSIST));
  CHECK(k.device("t0")->persist);
  CHECK(k.device("t0")->flags.has(Flag::persist));
  REQUIRE(k.ioctl(fd, TUNSETPERSIST, by_value(0)) == 0);
  CHECK(get_flags(k, fd) == reported);
}

TEST_CASE("TUNGETFEATURES answers before TUNSETIFF and is settable", "[fake]") {
  FakeKernel k;
  const int fd = open_tun(k);
  unsigned features = 0;
  CHECK(k.ioctl(fd, TUNGETFEATURES, &features) == 0);
  CHECK(features == 0x7173U);
  k.set_features(IFF_TUN | IFF_TAP | IFF_NO_PI);
  CHECK(k.ioctl(fd, TUNGETFEATURES, &features) == 0);
  CHECK(features == (IFF_TUN | IFF_TAP | IFF_NO_PI));
}

TEST_CASE("TUNSETOWNER, TUNSETGROUP and other ioctls", "[fake]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN);
  CHECK(k.ioctl(fd, TUNSETOWNER, by_value(1000)) == 0);
  CHECK(k.ioctl(fd, TUNSETGROUP, by_value(100)) == 0);
  CHECK(k.device("t0")->owner == uid_t{1000});
  CHECK(k.device("t0")->group == gid_t{100});
  CHECK(k.ioctl(fd, TUNSETOWNER, by_value(static_cast<uid_t>(-1))) == -EINVAL);
  CHECK(k.ioctl(fd, TUNSETGROUP, by_value(static_cast<gid_t>(-1))) == -EINVAL);
  CHECK(k.device("t0")->owner == uid_t{1000});

  int size = 0;
  CHECK(k.ioctl(fd, TUNGETVNETHDRSZ, &size) == 0);
  CHECK(size == 10);
  size = 4;
  CHECK(k.ioctl(fd, TUNSETVNETHDRSZ, &size) == -EINVAL);
  size = 12;
  CHECK(k.ioctl(fd, TUNSETVNETHDRSZ, &size) == 0);

  CHECK(k.ioctl(fd, TUNSETSNDBUF, &size) == 0);
  ifreq ifr{};
  CHECK(k.ioctl(fd, SIOCGIFINDEX, &ifr) == -EINVAL);  // measured on a tun fd
  const int unattached = open_tun(k);
  CHECK(k.ioctl(unattached, TUNSETPERSIST, by_value(1)) == -EBADFD);
  CHECK(k.ioctl(unattached, TUNSETSNDBUF, &size) == -EBADFD);
  const int ev = k.eventfd(0, 0);
  CHECK(k.ioctl(ev, TUNGETIFF, &ifr) == -ENOTTY);
  CHECK(k.ioctl(4242, TUNGETIFF, &ifr) == -EBADF);
}

TEST_CASE("TUNSETIFINDEX picks the index of the device the descriptor creates", "[fake][ifindex]") {
  FakeKernel k;
  const int fd = open_tun(k);
  unsigned index = 4242;
  CHECK(k.ioctl(fd, TUNSETIFINDEX, &index) == 0);
  CHECK(k.ioctl(fd, TUNSETIFINDEX, &index) == 0);  // may be repeated
  REQUIRE(set_iff(k, fd, "t0", IFF_TUN) == 0);
  CHECK(k.device("t0")->ifindex == 4242);
  CHECK(k.ioctl(fd, TUNSETIFINDEX, &index) == -EPERM);  // once attached

  const int taken = open_tun(k);
  CHECK(k.ioctl(taken, TUNSETIFINDEX, &index) == 0);
  CHECK(set_iff(k, taken, "t1", IFF_TUN) == -EBUSY);  // 4242 is t0's
  index = 1;                                          // lo's
  CHECK(k.ioctl(taken, TUNSETIFINDEX, &index) == 0);
  CHECK(set_iff(k, taken, "t1", IFF_TUN) == -EBUSY);
  CHECK_FALSE(k.exists("t1"));
  index = 0x80000001U;
  CHECK(k.ioctl(taken, TUNSETIFINDEX, &index) == -EINVAL);
  CHECK(k.ioctl(taken, TUNSETIFINDEX, nullptr) == -EFAULT);
  index = 0;  // back to "the kernel picks"
  CHECK(k.ioctl(taken, TUNSETIFINDEX, &index) == 0);
  REQUIRE(set_iff(k, taken, "t1", IFF_TUN) == 0);
  CHECK(k.device("t1")->ifindex == 2);

  // Ignored when attaching to an existing device.
  const int mq = attach(k, "mq0", kMq);
  const int late = open_tun(k);
  index = 777;
  CHECK(k.ioctl(late, TUNSETIFINDEX, &index) == 0);
  CHECK(set_iff(k, late, "mq0", kMq) == 0);
  CHECK(k.device("mq0")->ifindex == 3);
  (void)mq;
}

TEST_CASE("TUNGETSNDBUF and TUNSETSNDBUF: per queue, set on the enabled ones", "[fake][sndbuf]") {
  FakeKernel k;
  const int a = attach(k, "mq0", kMq);
  const int b = attach(k, "mq0", kMq);
  CHECK(get_int(k, a, TUNGETSNDBUF) == INT_MAX);
  CHECK(k.device("mq0")->send_buffer == INT_MAX);
  CHECK(ioctl_int(k, a, TUNSETSNDBUF, 0) == -EINVAL);
  CHECK(ioctl_int(k, a, TUNSETSNDBUF, -1) == -EINVAL);
  CHECK(k.ioctl(a, TUNSETSNDBUF, nullptr) == -EFAULT);
  CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
  CHECK(ioctl_int(k, a, TUNSETSNDBUF, 65536) == 0);  // through the disabled queue: fine
  CHECK(get_int(k, a, TUNGETSNDBUF) == INT_MAX);     // but not applied to it (measured)
  CHECK(get_int(k, b, TUNGETSNDBUF) == 65536);
  CHECK(k.device("mq0")->send_buffer == 65536);
  const int c = attach(k, "mq0", kMq);
  CHECK(get_int(k, c, TUNGETSNDBUF) == INT_MAX);  // a new queue starts at INT_MAX (measured)
  const auto states = k.device("mq0")->queue_states;
  REQUIRE(states.size() == 3);
  CHECK(states[0].send_buffer == 65536);
  CHECK(states[2].fd == a);
  CHECK(states[2].send_buffer == INT_MAX);
}

TEST_CASE("TUNSETLINK, TUNGETDEVNETNS and the vnet knobs", "[fake][ioctl]") {
  FakeKernel k;
  const int tun = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  const int tap = attach(k, "e0", IFF_TAP | IFF_NO_PI);

  SECTION("TUNSETLINK: the type, 16 bits of it, only while down") {
    CHECK(k.device("t0")->link_type == ARPHRD_NONE);
    CHECK(k.device("e0")->link_type == ARPHRD_ETHER);
    CHECK(k.ioctl(tun, TUNSETLINK, by_value(ARPHRD_LOOPBACK)) == 0);
    CHECK(k.device("t0")->link_type == ARPHRD_LOOPBACK);
    CHECK(k.ioctl(tun, TUNSETLINK, by_value(0x12345)) == 0);
    CHECK(k.device("t0")->link_type == 0x2345);
    REQUIRE(k.set_up("t0", true));
    CHECK(k.ioctl(tun, TUNSETLINK, by_value(ARPHRD_ETHER)) == -EBUSY);
    CHECK(k.device("t0")->link_type == 0x2345);
  }
  SECTION("TUNGETDEVNETNS: a new descriptor that only closes") {
    const auto before = k.open_fd_count();
    const int ns = k.ioctl(tun, TUNGETDEVNETNS, nullptr);
    REQUIRE(ns >= 1000);
    CHECK(k.open_fd_count() == before + 1);
    CHECK(k.fcntl(ns, F_GETFD, 0) == FD_CLOEXEC);
    std::vector<std::byte> buf(8);
    CHECK(read_into(k, ns, buf) == -EINVAL);
    CHECK(k.ioctl(ns, TUNGETIFF, nullptr) == -ENOTTY);
    CHECK(k.close(ns) == 0);
    CHECK(k.open_fd_count() == before);
    k.set_credentials(1000, 1000, false);
    CHECK(k.ioctl(tun, TUNGETDEVNETNS, nullptr) == -EPERM);
    CHECK(k.ioctl(open_tun(k), TUNGETDEVNETNS, nullptr) == -EBADFD);
  }
  SECTION("header size, little and big endian") {
    CHECK(get_int(k, tap, TUNGETVNETHDRSZ) == 10);
    CHECK(ioctl_int(k, tap, TUNSETVNETHDRSZ, 9) == -EINVAL);
    CHECK(ioctl_int(k, tap, TUNSETVNETHDRSZ, 12) == 0);
    CHECK(k.device("e0")->vnet_header_size == 12);
    CHECK(get_int(k, tap, TUNGETVNETLE) == 0);
    CHECK(ioctl_int(k, tap, TUNSETVNETLE, 5) == 0);
    CHECK(get_int(k, tap, TUNGETVNETLE) == 1);  // stored as a flag (measured)
    CHECK(k.device("e0")->vnet_little_endian);
    CHECK(get_int(k, tap, TUNGETVNETBE) == -EINVAL);  // no CONFIG_TUN_VNET_CROSS_LE (measured)
    CHECK(ioctl_int(k, tap, TUNSETVNETBE, 1) == -EINVAL);
    k.set_vnet_cross_le(true);
    CHECK(get_int(k, tap, TUNGETVNETBE) == 0);
    CHECK(ioctl_int(k, tap, TUNSETVNETBE, 1) == 0);
    CHECK(get_int(k, tap, TUNGETVNETBE) == 1);
    CHECK(k.device("e0")->vnet_big_endian);
    CHECK(k.ioctl(tap, TUNGETVNETLE, nullptr) == -EFAULT);
    CHECK(get_int(k, open_tun(k), TUNGETVNETLE) == -EBADFD);
  }
}
