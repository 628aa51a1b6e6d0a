// The fake kernel's own rules: each answer below is what the real tun driver gives (KERNEL.md and
// our measurements on Linux 6.18), so that tests written against the fake hold on the real thing.
#include "tunkit/testing/fake_kernel.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

namespace {

using tunkit::Flag;
using tunkit::Flags;
using tunkit::Mode;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;

constexpr unsigned kNoFilter = 0x1000;  // IFF_NOFILTER, reported by TUNGETIFF

int open_tun(FakeKernel& k, int extra = 0) {
  return k.open("/dev/net/tun", O_RDWR | O_CLOEXEC | extra);
}

// TUNSETIFF; returns 0 or -errno and, on success, the name the kernel gave.
int set_iff(FakeKernel& k, int fd, const std::string& name, unsigned flags,
            std::string* out = nullptr) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), sizeof ifr.ifr_name));
  ifr.ifr_flags = static_cast<short>(flags);
  const int r = k.ioctl(fd, TUNSETIFF, &ifr);
  if (out != nullptr) *out = std::string(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));
  return r;
}

// An attached descriptor (root, so it may create).
int attach(FakeKernel& k, const std::string& name, unsigned flags) {
  const int fd = open_tun(k, O_NONBLOCK);
  REQUIRE(fd >= 0);
  REQUIRE(set_iff(k, fd, name, flags) == 0);
  return fd;
}

unsigned get_flags(FakeKernel& k, int fd) {
  ifreq ifr{};
  REQUIRE(k.ioctl(fd, TUNGETIFF, &ifr) == 0);
  return static_cast<std::uint16_t>(ifr.ifr_flags);
}

void* by_value(unsigned long v) {
  return reinterpret_cast<void*>(v);  // NOLINT: TUNSET{PERSIST,OWNER,GROUP} take a value
}

std::vector<std::byte> ipv4(std::size_t size, unsigned fill = 0xA0) {
  std::vector<std::byte> p(size);
  for (std::size_t i = 0; i < size; ++i)
    p[i] = static_cast<std::byte>((fill + i) & 0xFFU);
  if (size > 0) p[0] = std::byte{0x45};
  return p;
}

std::vector<std::byte> ipv6(std::size_t size) {
  auto p = ipv4(size, 0x10);
  p[0] = std::byte{0x60};
  return p;
}

std::vector<std::byte> frame(std::size_t size, std::uint16_t type) {
  std::vector<std::byte> f(size, std::byte{0x11});
  if (size < 14) return f;  // shorter than an Ethernet header: no type field
  f[12] = static_cast<std::byte>(type >> 8U);
  f[13] = static_cast<std::byte>(type & 0xFFU);
  f.resize(size);  // shorter frames (to test their refusal) lose the type's bytes
  return f;
}

ssize_t read_into(FakeKernel& k, int fd, std::vector<std::byte>& buf) {
  return k.read(fd, buf.data(), buf.size());
}

ssize_t write_bytes(FakeKernel& k, int fd, const std::vector<std::byte>& b) {
  return k.write(fd, b.data(), b.size());
}

short poll_one(FakeKernel& k, int fd, short events, int* result = nullptr) {
  pollfd p{fd, events, 0};
  const int r = k.poll(&p, 1, 0);
  if (result != nullptr) *result = r;
  return p.revents;
}

}  // namespace

TEST_CASE("fake descriptors start at 1000, reuse the lowest free, and close once", "[fake]") {
  FakeKernel k;
  CHECK(k.open_fd_count() == 0);
  const int a = open_tun(k);
  const int b = k.eventfd(0, EFD_CLOEXEC);
  const int c = k.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  CHECK(a == 1000);
  CHECK(b == 1001);
  CHECK(c == 1002);
  CHECK(k.open_fd_count() == 3);
  CHECK(k.close(b) == 0);
  CHECK(k.close(b) == -EBADF);
  CHECK(k.close(7) == -EBADF);
  CHECK(k.open_fds() == std::vector<int>{a, c});
  CHECK(open_tun(k) == 1001);
  CHECK(k.open("/dev/net/tap", O_RDWR) == -ENOENT);
  CHECK(k.open("/dev/null", O_RDWR) == -ENOENT);
  CHECK(k.open_fd_count() == 3);
}

TEST_CASE("TUNSETIFF names: exact, template, empty, truncated", "[fake][tunsetiff]") {
  FakeKernel k;
  std::string got;

  SECTION("an exact name is taken as is and gets the next ifindex from 2") {
    CHECK(set_iff(k, open_tun(k), "vpn0", IFF_TUN | IFF_NO_PI, &got) == 0);
    CHECK(got == "vpn0");
    CHECK(set_iff(k, open_tun(k), "vpn1", IFF_TAP, &got) == 0);
    REQUIRE(k.device("vpn0"));
    CHECK(k.device("vpn0")->ifindex == 2);
    CHECK(k.device("vpn1")->ifindex == 3);
    CHECK(k.device("vpn1")->mode == Mode::tap);
  }
  SECTION("a template takes the lowest free number") {
    const int a = open_tun(k);
    const int b = open_tun(k);
    const int c = open_tun(k);
    CHECK(set_iff(k, a, "q%d", IFF_TAP, &got) == 0);
    CHECK(got == "q0");
    CHECK(set_iff(k, b, "q%d", IFF_TAP, &got) == 0);
    CHECK(got == "q1");
    CHECK(k.close(a) == 0);
    CHECK(set_iff(k, c, "q%d", IFF_TAP, &got) == 0);
    CHECK(got == "q0");
    CHECK(set_iff(k, open_tun(k), "x%dy", IFF_TUN, &got) == 0);
    CHECK(got == "x0y");
  }
  SECTION("an empty name becomes tunN or tapN") {
    CHECK(set_iff(k, open_tun(k), "", IFF_TUN, &got) == 0);
    CHECK(got == "tun0");
    CHECK(set_iff(k, open_tun(k), "", IFF_TUN, &got) == 0);
    CHECK(got == "tun1");
    CHECK(set_iff(k, open_tun(k), "", IFF_TAP, &got) == 0);
    CHECK(got == "tap0");
  }
  SECTION("16 bytes without a NUL lose the last one") {
    CHECK(set_iff(k, open_tun(k), "abcdefghijklmnop", IFF_TUN, &got) == 0);
    CHECK(got == "abcdefghijklmno");
    CHECK(k.exists("abcdefghijklmno"));
  }
  SECTION("TUN and TAP both set: TUN") {
    const int fd = open_tun(k);
    CHECK(set_iff(k, fd, "both0", IFF_TUN | IFF_TAP, &got) == 0);
    CHECK(k.device("both0")->mode == Mode::tun);
    CHECK(get_flags(k, fd) == (IFF_TUN | kNoFilter));
  }
}

TEST_CASE("TUNSETIFF refuses bad names and flags as the kernel does", "[fake][tunsetiff]") {
  FakeKernel k;
  const auto [name, flags, err] = GENERATE(table<std::string, unsigned, int>({
      {"a%d%d", IFF_TUN, EINVAL},
      {"a/b", IFF_TUN, EINVAL},
      {"a b", IFF_TUN, EINVAL},
      {"a:b", IFF_TUN, EINVAL},
      {"a\tb", IFF_TUN, EINVAL},
      {".", IFF_TUN, EINVAL},
      {"..", IFF_TUN, EINVAL},
      {"a%s", IFF_TUN, EINVAL},
      {"a%", IFF_TUN, EINVAL},
      {"x0", 0, EINVAL},  // neither IFF_TUN nor IFF_TAP
      {"x0", IFF_NO_PI | IFF_MULTI_QUEUE, EINVAL},
      {"lo", IFF_TUN, EINVAL},  // not a TUN device
      {"lo", IFF_TAP, EINVAL},
      {"lo", IFF_TUN | IFF_TUN_EXCL, EBUSY},     // exclusive is checked first
      {"n0", IFF_TUN | IFF_NAPI_FRAGS, EINVAL},  // NAPI_FRAGS needs NAPI and TAP
      {"n0", IFF_TAP | IFF_NAPI_FRAGS, EINVAL},
  }));
  CAPTURE(name, flags);
  const int fd = open_tun(k);
  CHECK(set_iff(k, fd, name, flags) == -err);
  CHECK(k.devices().empty());
  CHECK(k.open_fd_count() == 1);
  // The descriptor is still unattached: a good TUNSETIFF works afterwards.
  CHECK(set_iff(k, fd, "ok0", IFF_TUN) == 0);
}

TEST_CASE("TUNSETIFF on an existing device: EEXIST, EBUSY, EINVAL", "[fake][tunsetiff]") {
  FakeKernel k;
  const int first = attach(k, "tun0", IFF_TUN | IFF_NO_PI);
  const int mq = attach(k, "mq0", IFF_TAP | IFF_MULTI_QUEUE);
  const int other = open_tun(k);

  CHECK(set_iff(k, first, "tun0", IFF_TUN) == -EEXIST);  // a second time on the same fd
  CHECK(set_iff(k, first, "zz0", IFF_TUN) == -EEXIST);
  CHECK(set_iff(k, other, "tun0", IFF_TUN | IFF_NO_PI) == -EBUSY);  // held, no multi-queue
  CHECK(set_iff(k, other, "tun0", IFF_TAP) == -EINVAL);             // other type
  CHECK(set_iff(k, other, "tun0", IFF_TUN | IFF_MULTI_QUEUE) == -EINVAL);
  CHECK(set_iff(k, other, "tun0", IFF_TUN | IFF_TUN_EXCL) == -EBUSY);
  CHECK(set_iff(k, other, "mq0", IFF_TAP) == -EINVAL);  // non-multi-queue attach to multi-queue
  CHECK(set_iff(k, other, "mq0", IFF_TUN | IFF_MULTI_QUEUE) == -EINVAL);
  CHECK(set_iff(k, other, "mq0", IFF_TAP | IFF_MULTI_QUEUE | IFF_TUN_EXCL) == -EBUSY);
  CHECK(set_iff(k, other, "mq0", IFF_TAP | IFF_MULTI_QUEUE) == 0);
  CHECK(k.device("mq0")->queues == 2);
  CHECK(k.device("tun0")->queues == 1);
  (void)mq;
}

TEST_CASE("a multi-queue device takes 256 queues, the 257th gets E2BIG", "[fake][tunsetiff]") {
  FakeKernel k;
  for (int i = 0; i < 256; ++i) {
    REQUIRE(set_iff(k, open_tun(k), "big0", IFF_TUN | IFF_MULTI_QUEUE) == 0);
  }
  const int extra = open_tun(k);
  CHECK(set_iff(k, extra, "big0", IFF_TUN | IFF_MULTI_QUEUE) == -E2BIG);
  CHECK(k.device("big0")->queues == 256);
}

TEST_CASE("TUNSETIFF permissions: CAP_NET_ADMIN, owner, group", "[fake][tunsetiff][perm]") {
  FakeKernel k;
  k.add_persistent_device("free0", Mode::tun);
  k.add_persistent_device("own0", Mode::tun, {}, uid_t{0});
  k.add_persistent_device("own1", Mode::tun, {}, uid_t{1000});
  k.add_persistent_device("grp0", Mode::tun, {}, std::nullopt, gid_t{0});
  k.add_persistent_device("grp5", Mode::tun, {}, std::nullopt, gid_t{5});
  k.add_persistent_device("both", Mode::tun, {}, uid_t{1000}, gid_t{0});

  SECTION("without CAP_NET_ADMIN") {
    k.set_credentials(1000, 1000, false, {5});
    const auto [name, err] = GENERATE(table<std::string, int>({
        {"free0", 0},  // neither owner nor group: anyone may attach
        {"own0", EPERM},
        {"own1", 0},
        {"grp0", EPERM},
        {"grp5", 0},      // a supplementary group counts
        {"both", EPERM},  // owner matches but group does not: refused (measured)
        {"new0", EPERM},  // creating needs CAP_NET_ADMIN
    }));
    CAPTURE(name);
    CHECK(set_iff(k, open_tun(k), name, IFF_TUN) == -err);
    CHECK_FALSE(k.exists("new0"));
  }
  SECTION("EPERM comes before EINVAL when creating") {
    k.set_credentials(1000, 1000, false);
    CHECK(set_iff(k, open_tun(k), "new0", 0) == -EPERM);
    CHECK(set_iff(k, open_tun(k), "n0", IFF_TAP | IFF_NAPI | IFF_NAPI_FRAGS) == -EPERM);
  }
  SECTION("with CAP_NET_ADMIN anything goes") {
    k.set_credentials(1000, 1000, true);
    CHECK(set_iff(k, open_tun(k), "own0", IFF_TUN) == 0);
    CHECK(set_iff(k, open_tun(k), "grp0", IFF_TUN) == 0);
    CHECK(set_iff(k, open_tun(k), "new0", IFF_TUN) == 0);
    CHECK(set_iff(k, open_tun(k), "n0", IFF_TAP | IFF_NAPI | IFF_NAPI_FRAGS) == 0);
  }
}

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

TEST_CASE("device lifetime follows the kernel", "[fake][lifetime]") {
  FakeKernel k;

  SECTION("deleted when its last descriptor closes") {
    const int fd = attach(k, "t0", IFF_TUN);
    CHECK(k.exists("t0"));
    CHECK(k.close(fd) == 0);
    CHECK_FALSE(k.exists("t0"));
    CHECK(k.devices().empty());
  }
  SECTION("a multi-queue device lives while any queue is open") {
    const int a = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE);
    const int b = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE);
    CHECK(k.close(a) == 0);
    REQUIRE(k.device("mq0"));
    CHECK(k.device("mq0")->queues == 1);
    CHECK(k.close(b) == 0);
    CHECK_FALSE(k.exists("mq0"));
  }
  SECTION("persistent devices survive; clearing persist deletes on the last close") {
    const int fd = attach(k, "p0", IFF_TUN | IFF_NO_PI);
    REQUIRE(k.ioctl(fd, TUNSETPERSIST, by_value(1)) == 0);
    CHECK(k.close(fd) == 0);
    REQUIRE(k.device("p0"));
    CHECK(k.device("p0")->queues == 0);
    const unsigned index = k.device("p0")->ifindex;

    const int again = attach(k, "p0", IFF_TUN | IFF_NO_PI);  // non-multi-queue, but nobody holds it
    CHECK(k.device("p0")->ifindex == index);
    REQUIRE(k.ioctl(again, TUNSETPERSIST, by_value(0)) == 0);
    CHECK(k.exists("p0"));  // still attached
    CHECK(k.close(again) == 0);
    CHECK_FALSE(k.exists("p0"));
  }
  SECTION("ifindexes are not reused") {
    CHECK(k.close(attach(k, "a0", IFF_TUN)) == 0);
    attach(k, "a0", IFF_TUN);
    CHECK(k.device("a0")->ifindex == 3);
  }
}

TEST_CASE("attaching updates the device flags except for extra queues", "[fake][lifetime]") {
  FakeKernel k;
  SECTION("reattaching a persistent device takes the new flags") {
    k.add_persistent_device("p0", Mode::tun, Flag::no_pi);
    const int fd = attach(k, "p0", IFF_TUN | IFF_VNET_HDR);
    CHECK(k.device("p0")->flags == (Flag::tun | Flag::vnet_hdr | Flag::persist));
    CHECK(get_flags(k, fd) == (IFF_TUN | IFF_VNET_HDR | IFF_PERSIST | kNoFilter));
  }
  SECTION("a second queue of a multi-queue device leaves them") {
    attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
    const int second = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_VNET_HDR);
    CHECK(k.device("mq0")->flags == (Flag::tun | Flag::multi_queue | Flag::no_pi));
    CHECK(get_flags(k, second) == (IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI));
  }
}

TEST_CASE("before TUNSETIFF: read and write give EBADFD, poll POLLERR", "[fake]") {
  FakeKernel k;
  const int fd = open_tun(k, O_NONBLOCK);
  std::vector<std::byte> buf(64);
  CHECK(read_into(k, fd, buf) == -EBADFD);
  CHECK(k.read(fd, buf.data(), 0) == -EBADFD);
  CHECK(write_bytes(k, fd, ipv4(20)) == -EBADFD);
  CHECK(k.write(fd, buf.data(), 0) == -EBADFD);
  int r = 0;
  CHECK(poll_one(k, fd, POLLIN | POLLOUT, &r) == POLLERR);
  CHECK(r == 1);
}

TEST_CASE("delete_device acts like ip link del", "[fake][lifetime]") {
  FakeKernel k;
  const int a = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
  const int b = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
  k.set_up("mq0", true);
  REQUIRE(k.inject("mq0", ipv4(20)) == a);
  REQUIRE(k.ioctl(a, TUNSETPERSIST, by_value(1)) == 0);

  CHECK(k.delete_device("mq0"));
  CHECK_FALSE(k.exists("mq0"));
  CHECK_FALSE(k.delete_device("mq0"));
  CHECK_FALSE(k.delete_device("lo"));
  CHECK(k.exists("lo"));
  std::vector<std::byte> buf(64);
  for (const int fd : {a, b}) {
    CHECK(read_into(k, fd, buf) == -EBADFD);  // the queued packet went with the device
    CHECK(write_bytes(k, fd, ipv4(20)) == -EBADFD);
    ifreq ifr{};
    CHECK(k.ioctl(fd, TUNGETIFF, &ifr) == -EBADFD);
    CHECK(poll_one(k, fd, POLLIN | POLLOUT) == POLLERR);
  }
  CHECK(k.open_fd_count() == 2);               // the descriptors stay open
  CHECK(set_iff(k, a, "new0", IFF_TUN) == 0);  // and may attach again (measured)
  CHECK(k.close(b) == 0);
  CHECK_THROWS_AS(k.inject("mq0", ipv4(20)), std::invalid_argument);
}

TEST_CASE("reading packets: one per call, min(length, buffer)", "[fake][read]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  const auto p = ipv4(60);

  SECTION("byte-exact") {
    REQUIRE(k.inject("t0", p) == fd);
    REQUIRE(k.inject("t0", ipv6(40)) == fd);
    CHECK(k.device("t0")->queued_packets == 2);
    std::vector<std::byte> buf(1500);
    REQUIRE(read_into(k, fd, buf) == 60);
    buf.resize(60);
    CHECK(buf == p);
    buf.resize(1500);
    CHECK(read_into(k, fd, buf) == 40);
    CHECK(read_into(k, fd, buf) == -EAGAIN);
  }
  SECTION("truncated to the buffer, returning the buffer length") {
    REQUIRE(k.inject("t0", p) == fd);
    std::vector<std::byte> buf(10);
    CHECK(read_into(k, fd, buf) == 10);
    CHECK(std::equal(buf.begin(), buf.end(), p.begin()));
    CHECK(k.device("t0")->queued_packets == 0);  // the tail is lost
  }
  SECTION("a read of 0 bytes returns 0 and keeps the packet") {
    REQUIRE(k.inject("t0", p) == fd);
    CHECK(k.read(fd, nullptr, 0) == 0);
    CHECK(k.device("t0")->queued_packets == 1);
  }
  SECTION("empty queue: EAGAIN, blocking or not") {
    std::vector<std::byte> buf(100);
    CHECK(read_into(k, fd, buf) == -EAGAIN);
    const int blocking = open_tun(k);
    REQUIRE(set_iff(k, blocking, "t1", IFF_TUN) == 0);
    CHECK(read_into(k, blocking, buf) == -EAGAIN);
  }
  SECTION("readv scatters one packet") {
    REQUIRE(k.inject("t0", p) == fd);
    std::array<std::byte, 7> head{};
    std::array<std::byte, 100> tail{};
    const std::array<iovec, 2> iov{{{head.data(), head.size()}, {tail.data(), tail.size()}}};
    CHECK(k.readv(fd, iov.data(), 2) == 60);
    CHECK(std::equal(head.begin(), head.end(), p.begin()));
    CHECK(std::equal(tail.begin(), tail.begin() + 53, p.begin() + 7));
    CHECK(k.readv(fd, iov.data(), -1) == -EINVAL);
    CHECK(k.readv(fd, iov.data(), 1025) == -EINVAL);
  }
}

TEST_CASE("reading with packet information", "[fake][read][pi]") {
  FakeKernel k;
  const auto strip_flags = [](const std::vector<std::byte>& b) {
    std::uint16_t f = 0;
    std::memcpy(&f, b.data(), sizeof f);  // host order, like struct tun_pi
    return f;
  };

  SECTION("TUN: header with the IP EtherType, then the packet") {
    const int fd = attach(k, "t0", IFF_TUN);
    const auto p = ipv6(48);
    REQUIRE(k.inject("t0", p) == fd);
    std::vector<std::byte> buf(100);
    REQUIRE(read_into(k, fd, buf) == 52);
    CHECK(strip_flags(buf) == 0);
    CHECK(buf[2] == std::byte{0x86});
    CHECK(buf[3] == std::byte{0xDD});
    CHECK(std::equal(p.begin(), p.end(), buf.begin() + 4));
  }
  SECTION("TUN_PKT_STRIP when the packet does not fit") {
    const int fd = attach(k, "t0", IFF_TUN);
    REQUIRE(k.inject("t0", ipv4(60)) == fd);
    std::vector<std::byte> buf(10);
    CHECK(read_into(k, fd, buf) == 10);
    CHECK(strip_flags(buf) == TUN_PKT_STRIP);
    CHECK(buf[2] == std::byte{0x08});
    CHECK(buf[3] == std::byte{0x00});
  }
  SECTION("a buffer under 4 bytes: EINVAL and the packet is dropped") {
    const int fd = attach(k, "t0", IFF_TUN);
    REQUIRE(k.inject("t0", ipv4(60)) == fd);
    std::vector<std::byte> buf(3);
    CHECK(read_into(k, fd, buf) == -EINVAL);
    buf.resize(100);
    CHECK(read_into(k, fd, buf) == -EAGAIN);
  }
  SECTION("TAP: the frame's type; explicit protocol") {
    const int fd = attach(k, "e0", IFF_TAP);
    REQUIRE(k.inject("e0", frame(60, 0x0806)) == fd);
    REQUIRE(k.inject("e0", frame(60, 0x0800), 0x1234) == fd);
    std::vector<std::byte> buf(100);
    REQUIRE(read_into(k, fd, buf) == 64);
    CHECK(buf[2] == std::byte{0x08});
    CHECK(buf[3] == std::byte{0x06});
    REQUIRE(read_into(k, fd, buf) == 64);
    CHECK(buf[2] == std::byte{0x12});
    CHECK(buf[3] == std::byte{0x34});
  }
  SECTION("virtio-net header before the packet") {
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR);
    const auto p = ipv4(30);
    REQUIRE(k.inject("t0", p) == fd);
    std::vector<std::byte> buf(100, std::byte{0xFF});
    REQUIRE(read_into(k, fd, buf) == 40);
    CHECK(
        std::all_of(buf.begin(), buf.begin() + 10, [](std::byte b) { return b == std::byte{0}; }));
    CHECK(std::equal(p.begin(), p.end(), buf.begin() + 10));
  }
}

TEST_CASE("inject: round-robin over queues, drops without a queue or when full", "[fake][inject]") {
  FakeKernel k;
  SECTION("round-robin in attach order") {
    const int a = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
    const int b = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
    CHECK(k.inject("mq0", ipv4(20)) == a);
    CHECK(k.inject("mq0", ipv4(20)) == b);
    CHECK(k.inject("mq0", ipv4(20)) == a);
    int r = 0;
    CHECK(poll_one(k, b, POLLIN, &r) == POLLIN);
  }
  SECTION("a persistent device nobody holds drops") {
    k.add_persistent_device("p0", Mode::tun);
    CHECK(k.inject("p0", ipv4(20)) == -1);
    CHECK(k.device("p0")->queued_packets == 0);
  }
  SECTION("500 packets per queue") {
    attach(k, "t0", IFF_TUN);
    for (int i = 0; i < 500; ++i)
      REQUIRE(k.inject("t0", ipv4(20)) >= 0);
    CHECK(k.inject("t0", ipv4(20)) == -1);
  }
  SECTION("unknown or non-TUN names throw") {
    CHECK_THROWS_AS(k.inject("nope", ipv4(20)), std::invalid_argument);
    CHECK_THROWS_AS(k.inject("lo", ipv4(20)), std::invalid_argument);
  }
}

TEST_CASE("writing packets: validated in the kernel's order, recorded", "[fake][write]") {
  FakeKernel k;

  SECTION("TUN without packet information") {
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    CHECK(write_bytes(k, fd, ipv4(20)) == -EIO);  // the device is down
    CHECK(k.written("t0").empty());
    REQUIRE(k.set_up("t0", true));
    CHECK(k.device("t0")->up);
    const auto p = ipv4(20);
    CHECK(write_bytes(k, fd, p) == 20);
    CHECK(write_bytes(k, fd, ipv6(40)) == 40);
    CHECK(k.write(fd, p.data(), 0) == -EINVAL);
    auto bad = ipv4(20);
    bad[0] = std::byte{0x10};
    CHECK(write_bytes(k, fd, bad) == -EINVAL);
    CHECK(write_bytes(k, fd, ipv4(66000)) == 66000);  // accepted (the kernel drops it later)
    const auto w = k.written("t0");
    REQUIRE(w.size() == 3);
    CHECK(w[0].data == p);
    CHECK(w[0].protocol == 0x0800);
    CHECK(w[0].fd == fd);
    CHECK(w[1].protocol == 0x86DD);
    CHECK(w[2].data.size() == 66000);
  }
  SECTION("EINVAL comes before EIO") {
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    auto bad = ipv4(20);
    bad[0] = std::byte{0x10};
    CHECK(write_bytes(k, fd, bad) == -EINVAL);
    CHECK(k.write(fd, bad.data(), 0) == -EINVAL);
  }
  SECTION("TUN with packet information: the header is stripped into the protocol") {
    const int fd = attach(k, "t0", IFF_TUN);
    k.set_up("t0", true);
    std::vector<std::byte> pkt{std::byte{0}, std::byte{0}, std::byte{0x86}, std::byte{0xDD}};
    const auto p = ipv6(40);
    pkt.insert(pkt.end(), p.begin(), p.end());
    CHECK(write_bytes(k, fd, pkt) == 44);
    pkt.resize(3);
    CHECK(write_bytes(k, fd, pkt) == -EINVAL);
    CHECK(k.write(fd, pkt.data(), 0) == -EINVAL);
    pkt.resize(4);
    CHECK(write_bytes(k, fd, pkt) == 4);  // header only: accepted (measured)
    const auto w = k.written("t0");
    REQUIRE(w.size() == 2);
    CHECK(w[0].data == p);
    CHECK(w[0].protocol == 0x86DD);
    CHECK(w[1].data.empty());
  }
  SECTION("TAP: at least an Ethernet header") {
    const int fd = attach(k, "e0", IFF_TAP | IFF_NO_PI);
    k.set_up("e0", true);
    CHECK(write_bytes(k, fd, frame(13, 0x0800)) == -EINVAL);
    CHECK(write_bytes(k, fd, frame(14, 0x0806)) == 14);
    REQUIRE(k.written("e0").size() == 1);
    CHECK(k.written("e0")[0].protocol == 0x0806);
  }
  SECTION("virtio-net header is stripped and kept") {
    const int fd = attach(k, "e0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    k.set_up("e0", true);
    CHECK(write_bytes(k, fd, frame(9, 0)) == -EINVAL);
    auto f = frame(24, 0x0800);
    f[0] = std::byte{1};
    CHECK(write_bytes(k, fd, f) == 24);
    const auto w = k.written("e0");
    REQUIRE(w.size() == 1);
    CHECK(w[0].vnet_header.size() == 10);
    CHECK(w[0].vnet_header[0] == std::byte{1});
    CHECK(w[0].data.size() == 14);
  }
  SECTION("writev gathers one packet") {
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    k.set_up("t0", true);
    const auto p = ipv4(30);
    const std::array<iovec, 2> iov{
        {{const_cast<std::byte*>(p.data()), 10}, {const_cast<std::byte*>(p.data() + 10), 20}}};
    CHECK(k.writev(fd, iov.data(), 2) == 30);
    REQUIRE(k.written("t0").size() == 1);
    CHECK(k.written("t0")[0].data == p);
    k.clear_written();
    CHECK(k.written("t0").empty());
  }
}

TEST_CASE("eventfd counts", "[fake][eventfd]") {
  FakeKernel k;
  const int ev = k.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  REQUIRE(ev >= 0);
  std::uint64_t v = 0;
  CHECK(k.read(ev, &v, sizeof v) == -EAGAIN);
  CHECK(k.read(ev, &v, 4) == -EINVAL);
  CHECK(poll_one(k, ev, POLLIN | POLLOUT) == POLLOUT);
  v = 2;
  CHECK(k.write(ev, &v, sizeof v) == 8);
  v = 3;
  CHECK(k.write(ev, &v, sizeof v) == 8);
  CHECK(poll_one(k, ev, POLLIN) == POLLIN);
  v = 0;
  CHECK(k.read(ev, &v, sizeof v) == 8);
  CHECK(v == 5);
  CHECK(k.read(ev, &v, sizeof v) == -EAGAIN);
  v = UINT64_MAX;
  CHECK(k.write(ev, &v, sizeof v) == -EINVAL);
  CHECK(k.write(ev, &v, 4) == -EINVAL);
  CHECK(k.eventfd(0, 0x4000000) == -EINVAL);

  const int sem = k.eventfd(2, EFD_SEMAPHORE);
  CHECK(k.read(sem, &v, sizeof v) == 8);
  CHECK(v == 1);
  CHECK(k.read(sem, &v, sizeof v) == 8);
  CHECK(k.read(sem, &v, sizeof v) == -EAGAIN);  // blocking too: the fake never blocks in read
  CHECK(k.fcntl(ev, F_GETFL, 0) == (O_RDWR | O_NONBLOCK));
  CHECK(k.fcntl(ev, F_GETFD, 0) == FD_CLOEXEC);
}

TEST_CASE("poll readiness and simulated time", "[fake][poll]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  const int ev = k.eventfd(0, EFD_NONBLOCK);

  SECTION("readiness per descriptor kind") {
    CHECK(poll_one(k, fd, POLLIN | POLLOUT) == 0);  // down: not even writable (measured)
    k.set_up("t0", true);
    CHECK(poll_one(k, fd, POLLIN | POLLOUT) == POLLOUT);
    CHECK(k.inject("t0", ipv4(20)) == fd);
    CHECK(poll_one(k, fd, POLLIN | POLLOUT) == (POLLIN | POLLOUT));
    CHECK(poll_one(k, fd, POLLIN | POLLRDNORM) == (POLLIN | POLLRDNORM));
    CHECK(poll_one(k, 4242, POLLIN) == POLLNVAL);
    std::array<pollfd, 3> fds{{{-1, POLLIN, 0}, {fd, POLLIN, 0}, {ev, POLLIN, 0}}};
    CHECK(k.poll(fds.data(), fds.size(), 0) == 1);
    CHECK(fds[0].revents == 0);
    CHECK(fds[1].revents == POLLIN);
    CHECK(fds[2].revents == 0);
  }
  SECTION("a finite timeout expires at once") {
    pollfd p{fd, POLLIN, 0};
    const auto start = std::chrono::steady_clock::now();
    CHECK(k.poll(&p, 1, 60'000) == 0);
    const bool quick = std::chrono::steady_clock::now() - start < std::chrono::seconds(5);
    CHECK(quick);
  }
  SECTION("an infinite wait ends when another thread makes something ready") {
    std::thread waker([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const std::uint64_t one = 1;
      (void)k.write(ev, &one, sizeof one);
    });
    std::array<pollfd, 2> fds{{{fd, POLLIN, 0}, {ev, POLLIN, 0}}};
    const int r = k.poll(fds.data(), fds.size(), -1);
    waker.join();
    CHECK(r == 1);
    CHECK(fds[1].revents == POLLIN);
  }
  SECTION("an infinite wait nobody ends fails with EDEADLK after the block limit") {
    k.set_block_limit(std::chrono::milliseconds(10));
    pollfd p{fd, POLLIN, 0};
    CHECK(k.poll(&p, 1, -1) == -EDEADLK);
  }
}

TEST_CASE("fcntl tracks O_NONBLOCK and FD_CLOEXEC", "[fake]") {
  FakeKernel k;
  const int fd = k.open("/dev/net/tun", O_RDWR);
  CHECK(k.fcntl(fd, F_GETFL, 0) == O_RDWR);
  CHECK(k.fcntl(fd, F_GETFD, 0) == 0);
  CHECK(k.fcntl(fd, F_SETFL, O_NONBLOCK | O_WRONLY) == 0);  // the access mode cannot change
  CHECK(k.fcntl(fd, F_GETFL, 0) == (O_RDWR | O_NONBLOCK));
  CHECK(k.fcntl(fd, F_SETFD, FD_CLOEXEC) == 0);
  CHECK(k.fcntl(fd, F_GETFD, 0) == FD_CLOEXEC);
  CHECK(k.fcntl(fd, F_DUPFD, 0) == -EINVAL);  // not simulated
  CHECK(k.fcntl(4242, F_GETFL, 0) == -EBADF);
  const int nb = k.open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  CHECK(k.fcntl(nb, F_GETFL, 0) == (O_RDWR | O_NONBLOCK));
  CHECK(k.fcntl(nb, F_GETFD, 0) == FD_CLOEXEC);
  // A blocking descriptor made non-blocking: reads report EAGAIN either way.
  REQUIRE(set_iff(k, fd, "t0", IFF_TUN) == 0);
  std::vector<std::byte> buf(10);
  CHECK(read_into(k, fd, buf) == -EAGAIN);
}

TEST_CASE("interface look-ups over an AF_INET socket", "[fake][socket]") {
  FakeKernel k;
  const int sock = k.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(sock >= 0);
  attach(k, "t0", IFF_TUN);
  const unsigned eth = k.add_interface("eth0");
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  CHECK(k.ioctl(sock, SIOCGIFINDEX, &ifr) == 0);
  CHECK(ifr.ifr_ifindex == 1);
  std::strcpy(ifr.ifr_name, "t0");
  CHECK(k.ioctl(sock, SIOCGIFINDEX, &ifr) == 0);
  CHECK(ifr.ifr_ifindex == static_cast<int>(k.device("t0")->ifindex));
  std::strcpy(ifr.ifr_name, "eth0");
  CHECK(k.ioctl(sock, SIOCGIFINDEX, &ifr) == 0);
  CHECK(ifr.ifr_ifindex == static_cast<int>(eth));
  std::strcpy(ifr.ifr_name, "nope");
  CHECK(k.ioctl(sock, SIOCGIFINDEX, &ifr) == -ENODEV);
  std::memset(&ifr, 0, sizeof ifr);
  ifr.ifr_ifindex = 1;
  CHECK(k.ioctl(sock, SIOCGIFNAME, &ifr) == 0);
  CHECK(std::string(ifr.ifr_name) == "lo");
  ifr.ifr_ifindex = 99;
  CHECK(k.ioctl(sock, SIOCGIFNAME, &ifr) == -ENODEV);
  CHECK(k.ioctl(sock, TUNGETIFF, &ifr) == -ENOTTY);

  CHECK(set_iff(k, open_tun(k), "eth0", IFF_TAP) == -EINVAL);  // not a TUN/TAP device
  CHECK(k.devices().size() == 1);
  CHECK(k.exists("eth0"));
  CHECK_THROWS_AS(k.add_interface("eth0"), std::invalid_argument);
  CHECK(k.delete_device("eth0"));

  CHECK(k.socket(AF_PACKET, SOCK_RAW, 0) == -EAFNOSUPPORT);
  CHECK(k.bind(sock, nullptr, 0) == -EOPNOTSUPP);
  CHECK(k.bind(open_tun(k), nullptr, 0) == -ENOTSOCK);
  CHECK(k.sendto(4242, nullptr, 0, 0, nullptr, 0) == -EBADF);
}

TEST_CASE("netlink sockets get a descriptor and are released on close", "[fake][socket]") {
  FakeKernel k;
  const int nl = k.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  REQUIRE(nl >= 1000);
  CHECK(k.fcntl(nl, F_GETFD, 0) == FD_CLOEXEC);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  CHECK(k.ioctl(nl, SIOCGIFINDEX, &ifr) == 0);  // works on any socket (measured)
  CHECK(ifr.ifr_ifindex == 1);
  CHECK(k.close(nl) == 0);
  CHECK(k.open_fd_count() == 0);
  (void)k.rtnetlink();
}

TEST_CASE("scripted failures fire once each, in order, per call kind", "[fake][script]") {
  FakeKernel k;

  SECTION("open: EINTR then EMFILE then success, with no descriptor used") {
    k.fail_next(Call::open, EINTR);
    k.fail_next(Call::open, EMFILE);
    CHECK(open_tun(k) == -EINTR);
    CHECK(open_tun(k) == -EMFILE);
    CHECK(k.open_fd_count() == 0);
    CHECK(open_tun(k) == 1000);
  }
  SECTION("ioctl: by request first, then any request") {
    const int fd = open_tun(k);
    k.fail_next(Call::ioctl, ENOMEM);
    k.fail_next_ioctl(TUNSETIFF, EPERM);
    unsigned features = 0;
    CHECK(set_iff(k, fd, "t0", IFF_TUN) == -EPERM);
    CHECK_FALSE(k.exists("t0"));
    CHECK(k.ioctl(fd, TUNGETFEATURES, &features) == -ENOMEM);
    CHECK(k.ioctl(fd, TUNGETFEATURES, &features) == 0);
    CHECK(set_iff(k, fd, "t0", IFF_TUN) == 0);
  }
  SECTION("close: the descriptor is released even when close reports an error") {
    const int fd = attach(k, "t0", IFF_TUN);
    k.fail_next(Call::close, EINTR);
    CHECK(k.close(fd) == -EINTR);
    CHECK(k.open_fd_count() == 0);
    CHECK_FALSE(k.exists("t0"));
    CHECK(k.close(fd) == -EBADF);
  }
  SECTION("every kind can be scripted") {
    const auto call =
        GENERATE(Call::read, Call::write, Call::readv, Call::writev, Call::poll, Call::eventfd,
                 Call::fcntl, Call::socket, Call::bind, Call::getsockname, Call::setsockopt,
                 Call::sendto, Call::recvfrom, Call::setns);
    CAPTURE(tunkit::testing::to_string(call));
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    k.fail_next(call, ENOBUFS);
    std::array<std::byte, 8> b{};
    iovec v{b.data(), b.size()};
    pollfd p{fd, POLLIN, 0};
    socklen_t len = 0;
    long long r = 0;
    switch (call) {
      case Call::read:
        r = k.read(fd, b.data(), b.size());
        break;
      case Call::write:
        r = k.write(fd, b.data(), b.size());
        break;
      case Call::readv:
        r = k.readv(fd, &v, 1);
        break;
      case Call::writev:
        r = k.writev(fd, &v, 1);
        break;
      case Call::poll:
        r = k.poll(&p, 1, 0);
        break;
      case Call::eventfd:
        r = k.eventfd(0, 0);
        break;
      case Call::fcntl:
        r = k.fcntl(fd, F_GETFL, 0);
        break;
      case Call::socket:
        r = k.socket(AF_INET, SOCK_DGRAM, 0);
        break;
      case Call::bind:
        r = k.bind(fd, nullptr, 0);
        break;
      case Call::getsockname:
        r = k.getsockname(fd, nullptr, &len);
        break;
      case Call::setsockopt:
        r = k.setsockopt(fd, 0, 0, nullptr, 0);
        break;
      case Call::sendto:
        r = k.sendto(fd, b.data(), b.size(), 0, nullptr, 0);
        break;
      case Call::recvfrom:
        r = k.recvfrom(fd, b.data(), b.size(), 0, nullptr, nullptr);
        break;
      case Call::setns:
        r = k.setns(fd, 0);
        break;
      default:
        FAIL("not covered");
        break;
    }
    CHECK(r == -ENOBUFS);
    CHECK(k.open_fd_count() == 1);
    CHECK(k.calls().back().call == call);
    CHECK(k.calls().back().result == -ENOBUFS);
  }
  SECTION("clear_failures drops them; bad errno values are refused") {
    k.fail_next(Call::open, EINTR);
    k.clear_failures();
    CHECK(open_tun(k) >= 0);
    CHECK_THROWS_AS(k.fail_next(Call::open, 0), std::invalid_argument);
    CHECK_THROWS_AS(k.fail_next(Call::open, -EINTR), std::invalid_argument);
    CHECK_THROWS_AS(k.fail_next_ioctl(TUNSETIFF, 0), std::invalid_argument);
  }
}

TEST_CASE("the call log records arguments and results", "[fake][script]") {
  FakeKernel k;
  const int fd = open_tun(k, O_NONBLOCK);
  REQUIRE(set_iff(k, fd, "t%d", IFF_TUN | IFF_NO_PI) == 0);
  REQUIRE(k.ioctl(fd, TUNSETPERSIST, by_value(1)) == 0);
  CHECK(k.close(fd) == 0);
  CHECK(k.close(fd) == -EBADF);

  const auto log = k.calls();
  REQUIRE(log.size() == 5);
  CHECK(log[0].call == Call::open);
  CHECK(log[0].text == "/dev/net/tun");
  CHECK(log[0].arg == (O_RDWR | O_CLOEXEC | O_NONBLOCK));
  CHECK(log[0].fd == fd);
  CHECK(log[0].result == fd);
  CHECK(log[1].call == Call::ioctl);
  CHECK(log[1].request == TUNSETIFF);
  CHECK(log[1].text == "t%d");  // as passed in, before the kernel filled in "t0"
  CHECK(log[1].arg == (IFF_TUN | IFF_NO_PI));
  CHECK(log[2].request == TUNSETPERSIST);
  CHECK(log[2].arg == 1);
  CHECK(log[3].call == Call::close);
  CHECK(log[3].result == 0);
  CHECK(log[4].result == -EBADF);
  CHECK(k.count(Call::close) == 2);
  CHECK(k.count_ioctl(TUNSETIFF) == 1);
  CHECK(k.count_ioctl(TUNGETIFF) == 0);
  CHECK(k.exists("t0"));  // persistent
  k.clear_calls();
  CHECK(k.calls().empty());
  CHECK(tunkit::testing::to_string(Call::getsockname) == "getsockname");
  CHECK(tunkit::testing::to_string(Call::setns) == "setns");
}

TEST_CASE("the fake is safe to use from several threads", "[fake][threads]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  constexpr int kPackets = 400;
  std::thread producer([&] {
    for (int i = 0; i < kPackets; ++i) {
      while (k.inject("t0", ipv4(20, static_cast<unsigned>(i))) < 0)
        std::this_thread::yield();
    }
  });
  int got = 0;
  std::vector<std::byte> buf(100);
  while (got < kPackets) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(k.poll(&p, 1, -1) == 1);
    while (read_into(k, fd, buf) == 20)
      ++got;
  }
  producer.join();
  CHECK(got == kPackets);
}

TEST_CASE("the fake rtnetlink follows the devices, and netlink changes reach them",
          "[fake][rtnl]") {
  FakeKernel k;
  auto& rtnl = k.rtnetlink();
  REQUIRE(rtnl.link(1));
  CHECK(rtnl.link(1)->name == "lo");

  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  const unsigned index = k.device("t0")->ifindex;
  REQUIRE(rtnl.link(index));
  CHECK(rtnl.link(index)->name == "t0");
  CHECK((rtnl.link(index)->flags & IFF_UP) == 0);
  CHECK(rtnl.link(index)->carrier);  // a reader is attached

  SECTION("set_up is seen over netlink") {
    REQUIRE(k.set_up("t0", true));
    CHECK((rtnl.link(index)->flags & IFF_UP) != 0);
    CHECK(tunkit::Link(index, k).state().up);
  }
  SECTION("tunkit::Link bringing the link up makes the device writable") {
    CHECK(write_bytes(k, fd, ipv4(20)) == -EIO);
    tunkit::Link link(index, k);
    link.set_up();
    CHECK(k.device("t0")->up);
    CHECK(poll_one(k, fd, POLLOUT) == POLLOUT);
    CHECK(write_bytes(k, fd, ipv4(20)) == 20);
    link.set_down();
    CHECK_FALSE(k.device("t0")->up);
  }
  SECTION("carrier goes with the last reader of a persistent device") {
    REQUIRE(k.ioctl(fd, TUNSETPERSIST, by_value(1)) == 0);
    CHECK(k.close(fd) == 0);
    REQUIRE(rtnl.link(index));
    CHECK_FALSE(rtnl.link(index)->carrier);
  }
  SECTION("deleting the device removes the link") {
    CHECK(k.delete_device("t0"));
    CHECK_FALSE(rtnl.link(index));
  }
  SECTION("closing the last descriptor removes the link") {
    CHECK(k.close(fd) == 0);
    CHECK_FALSE(rtnl.link(index));
  }
  SECTION("netlink sockets are the fake rtnetlink's") {
    const int nl = k.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    REQUIRE(nl >= 0);
    CHECK(rtnl.open_sockets() == 1);
    CHECK(k.socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC) == -EPROTONOSUPPORT);
    CHECK(k.open_fd_count() == 2);  // fd and nl: the refused socket left no descriptor
    CHECK(k.close(nl) == 0);
    CHECK(rtnl.open_sockets() == 0);
  }
}

// --- Multi-queue and the rest of the TUN ioctl surface (measured on Linux 6.18) ---------------

namespace {

constexpr unsigned kMq = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
constexpr unsigned kIffNoCarrier = 0x0040;

int set_queue(FakeKernel& k, int fd, unsigned flags) {
  ifreq ifr{};
  ifr.ifr_flags = static_cast<short>(flags);
  return k.ioctl(fd, TUNSETQUEUE, &ifr);
}

int ioctl_int(FakeKernel& k, int fd, unsigned long request, int value) {
  return k.ioctl(fd, request, &value);
}

// A getter's value, or -errno.
int get_int(FakeKernel& k, int fd, unsigned long request) {
  int value = -12345;
  const int r = k.ioctl(fd, request, &value);
  return r < 0 ? r : value;
}

std::vector<int> enabled_fds(const FakeKernel& k, const std::string& name) {
  std::vector<int> out;
  const auto d = k.device(name);
  REQUIRE(d);
  for (const auto& q : d->queue_states) {
    if (q.enabled) out.push_back(q.fd);
  }
  return out;
}

int set_tx_filter(FakeKernel& k, int fd, const std::vector<tunkit::MacAddress>& macs,
                  bool all_multicast = false) {
  tun_filter header{};
  header.flags = all_multicast ? TUN_FLT_ALLMULTI : 0;
  header.count = static_cast<std::uint16_t>(macs.size());
  std::array<std::uint8_t, sizeof header> head{};
  std::memcpy(head.data(), &header, sizeof header);
  std::vector<std::uint8_t> buf(head.begin(), head.end());
  for (const auto& m : macs)
    buf.insert(buf.end(), m.bytes.begin(), m.bytes.end());
  return k.ioctl(fd, TUNSETTXFILTER, buf.data());
}

std::vector<std::byte> frame_to(const tunkit::MacAddress& dst) {
  auto f = frame(60, 0x0800);
  for (std::size_t i = 0; i < 6; ++i)
    f[i] = static_cast<std::byte>(dst.bytes[i]);
  return f;
}

tunkit::MacAddress mac(std::uint8_t first, std::uint8_t last) {
  return {{first, 0x00, 0x5e, 0x00, 0x00, last}};
}

int attach_bpf(FakeKernel& k, int fd, std::vector<sock_filter> program) {
  sock_fprog prog{};
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = program.empty() ? nullptr : program.data();
  return k.ioctl(fd, TUNATTACHFILTER, &prog);
}

std::size_t get_filter_len(FakeKernel& k, int fd, int* result = nullptr) {
  sock_fprog prog{};
  const int r = k.ioctl(fd, TUNGETFILTER, &prog);
  if (result != nullptr) *result = r;
  return prog.len;
}

const std::vector<sock_filter> kAcceptAll = {{0x06, 0, 0, 0xFFFFFFFF}};  // ret #-1

}  // namespace

TEST_CASE("TUNSETQUEUE answers as the kernel does", "[fake][queue]") {
  FakeKernel k;
  SECTION("EINVAL before TUNSETIFF, for neither flag, and without multi-queue") {
    const int fd = open_tun(k);
    CHECK(set_queue(k, fd, IFF_ATTACH_QUEUE) == -EINVAL);
    CHECK(set_queue(k, fd, IFF_DETACH_QUEUE) == -EINVAL);
    CHECK(set_queue(k, fd, 0) == -EINVAL);
    CHECK(k.ioctl(fd, TUNSETQUEUE, nullptr) == -EFAULT);
    const int single = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    CHECK(set_queue(k, single, IFF_DETACH_QUEUE) == -EINVAL);
    CHECK(set_queue(k, single, IFF_ATTACH_QUEUE) == -EINVAL);
  }
  SECTION("detach once, attach once") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    CHECK(set_queue(k, a, IFF_ATTACH_QUEUE) == -EINVAL);  // already enabled
    CHECK(set_queue(k, a, 0) == -EINVAL);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == -EINVAL);  // twice (KERNEL.md)
    const auto d = k.device("mq0");
    CHECK(d->queues == 2);
    CHECK(d->disabled_queues == 1);
    REQUIRE(d->queue_states.size() == 2);
    CHECK(d->queue_states[0].fd == b);
    CHECK(d->queue_states[0].enabled);
    CHECK(d->queue_states[1].fd == a);
    CHECK_FALSE(d->queue_states[1].enabled);
    // TUNGETIFF marks the disabled queue with IFF_DETACH_QUEUE.
    CHECK(get_flags(k, a) == (kMq | kNoFilter | IFF_DETACH_QUEUE));
    CHECK(get_flags(k, b) == (kMq | kNoFilter));
    CHECK(set_queue(k, a, IFF_ATTACH_QUEUE) == 0);
    CHECK(k.device("mq0")->disabled_queues == 0);
    CHECK(enabled_fds(k, "mq0") == std::vector<int>{b, a});  // re-enabled at the end
    CHECK(get_flags(k, a) == (kMq | kNoFilter));
  }
  SECTION("a disabled queue gets no packets, loses its queued ones, and still works otherwise") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    REQUIRE(k.set_up("mq0", true));
    CHECK(k.inject("mq0", ipv4(20)) == a);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    CHECK(k.device("mq0")->queued_packets == 0);  // tun_queue_purge()
    for (int i = 0; i < 4; ++i)
      CHECK(k.inject("mq0", ipv4(20)) == b);
    std::vector<std::byte> buf(100);
    CHECK(read_into(k, a, buf) == -EAGAIN);    // measured: not EBADFD
    CHECK(write_bytes(k, a, ipv4(20)) == 20);  // measured: writes go through
    CHECK(poll_one(k, a, POLLIN | POLLOUT) == POLLOUT);
    CHECK(get_int(k, a, TUNGETSNDBUF) == INT_MAX);  // ioctls work on it
    CHECK(k.ioctl(a, TUNSETPERSIST, by_value(0)) == 0);
    CHECK(set_iff(k, a, "mq0", kMq) == -EEXIST);  // still attached to the device
    CHECK(set_queue(k, b, IFF_DETACH_QUEUE) == 0);
    CHECK(k.inject("mq0", ipv4(20)) == -1);  // every queue disabled: dropped
  }
  SECTION("the kernel's queue order: the last queue moves into the gap") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    const int c = attach(k, "mq0", kMq);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    CHECK(enabled_fds(k, "mq0") == std::vector<int>{c, b});
    CHECK(k.inject("mq0", ipv4(20)) == c);
    CHECK(k.inject("mq0", ipv4(20)) == b);
    CHECK(k.close(c) == 0);
    CHECK(enabled_fds(k, "mq0") == std::vector<int>{b});
  }
  SECTION("disabled queues count towards 256") {
    std::vector<int> fds;
    for (std::size_t i = 0; i < 256; ++i)
      fds.push_back(attach(k, "mq0", kMq));
    CHECK(set_queue(k, fds[0], IFF_DETACH_QUEUE) == 0);
    CHECK(set_iff(k, open_tun(k), "mq0", kMq) == -E2BIG);
    CHECK(set_queue(k, fds[0], IFF_ATTACH_QUEUE) == 0);  // re-enabling is not a new queue
  }
  SECTION("a disabled queue keeps the device; the last close removes it") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    CHECK(k.close(b) == 0);
    REQUIRE(k.exists("mq0"));
    CHECK(k.device("mq0")->queues == 1);
    CHECK(k.close(a) == 0);
    CHECK_FALSE(k.exists("mq0"));
  }
  SECTION("after ip link del: EINVAL both ways, and the descriptor may attach anew") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    REQUIRE(k.delete_device("mq0"));
    CHECK(set_queue(k, a, IFF_ATTACH_QUEUE) == -EINVAL);
    CHECK(set_queue(k, b, IFF_DETACH_QUEUE) == -EINVAL);
    CHECK(get_int(k, a, TUNGETSNDBUF) == -EBADFD);
    CHECK(set_iff(k, a, "mq1", kMq) == 0);
  }
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

TEST_CASE("TUNSETTXFILTER: TAP only, recorded and applied as the driver does", "[fake][txfilter]") {
  FakeKernel k;
  const int tun = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  CHECK(set_tx_filter(k, tun, {mac(0x02, 1)}) == -EINVAL);
  const int tap = attach(k, "e0", IFF_TAP | IFF_NO_PI);
  CHECK(k.ioctl(tap, TUNSETTXFILTER, nullptr) == -EFAULT);
  std::vector<tunkit::MacAddress> unicast;
  for (std::uint8_t i = 1; i <= 9; ++i)
    unicast.push_back(mac(0x02, i));

  SECTION("exact addresses: the count is returned; other unicast is dropped") {
    CHECK(set_tx_filter(k, tap, {unicast[0], unicast[1], unicast[2]}) == 3);
    const auto f = k.device("e0")->tx_filter;
    CHECK(f.addresses == std::vector<tunkit::MacAddress>{unicast[0], unicast[1], unicast[2]});
    CHECK_FALSE(f.all_multicast);
    CHECK(f.active);
    CHECK(k.inject("e0", frame_to(unicast[1])) == tap);
    CHECK(k.inject("e0", frame_to(unicast[5])) == -1);
    CHECK(k.inject("e0", frame_to(tunkit::MacAddress::broadcast())) == -1);
    CHECK(k.inject("e0", frame(5, 0)) == -1);  // no whole destination address
  }
  SECTION("a unicast address past the eighth turns filtering off (returns 0)") {
    CHECK(set_tx_filter(k, tap, unicast) == 0);
    CHECK(k.device("e0")->tx_filter.addresses.size() == 9);
    CHECK_FALSE(k.device("e0")->tx_filter.active);
    CHECK(k.inject("e0", frame_to(mac(0x02, 0x77))) == tap);
  }
  SECTION("multicast past the eighth is hashed") {
    auto macs = std::vector<tunkit::MacAddress>(unicast.begin(), unicast.begin() + 8);
    macs.push_back(mac(0x01, 0x01));
    CHECK(set_tx_filter(k, tap, macs) == 8);
    CHECK(k.device("e0")->tx_filter.active);
    CHECK(k.inject("e0", frame_to(mac(0x01, 0x01))) == tap);
    CHECK(k.inject("e0", frame_to(mac(0x01, 0x02))) == -1);  // another hash bit
    CHECK(k.inject("e0", frame_to(mac(0x02, 0x77))) == -1);
  }
  SECTION("all-multicast passes every group address") {
    CHECK(set_tx_filter(k, tap, {unicast[0]}, true) == 1);
    CHECK(k.device("e0")->tx_filter.all_multicast);
    CHECK(k.inject("e0", frame_to(mac(0x01, 0x02))) == tap);
    CHECK(k.inject("e0", frame_to(tunkit::MacAddress::broadcast())) == tap);
    CHECK(k.inject("e0", frame_to(unicast[4])) == -1);
  }
  SECTION("no address: filtering off, whatever the flag") {
    CHECK(set_tx_filter(k, tap, {unicast[0]}) == 1);
    CHECK(set_tx_filter(k, tap, {}, true) == 0);
    CHECK_FALSE(k.device("e0")->tx_filter.active);
    CHECK(k.inject("e0", frame_to(unicast[4])) == tap);
  }
}

TEST_CASE("classic BPF filters: TAP only, recorded, length kept", "[fake][bpf]") {
  FakeKernel k;
  const int tun = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  CHECK(attach_bpf(k, tun, kAcceptAll) == -EINVAL);
  CHECK(k.ioctl(tun, TUNDETACHFILTER, nullptr) == -EINVAL);
  int r = 0;
  (void)get_filter_len(k, tun, &r);
  CHECK(r == -EINVAL);

  const int tap = attach(k, "e0", IFF_TAP);  // with packet information: TUNGETIFF shows NOFILTER
  CHECK(get_filter_len(k, tap, &r) == 0);
  CHECK(r == 0);
  CHECK(k.ioctl(tap, TUNDETACHFILTER, nullptr) == 0);  // nothing attached: still 0 (measured)
  CHECK((get_flags(k, tap) & kNoFilter) != 0);
  CHECK(attach_bpf(k, tap, {}) == -EINVAL);
  const std::vector<sock_filter> no_ret = {{0x28, 0, 0, 12}, {0x28, 0, 0, 12}};
  CHECK(attach_bpf(k, tap, no_ret) == -EINVAL);
  CHECK(get_filter_len(k, tap) == 2);  // refused, yet reported (measured)
  CHECK_FALSE(k.device("e0")->filter_attached);
  const std::vector<sock_filter> program = {
      {0x28, 0, 0, 12}, {0x15, 0, 1, 0x0800}, {0x06, 0, 0, 0xFFFF}, {0x06, 0, 0, 0}};
  CHECK(attach_bpf(k, tap, program) == 0);
  const auto d = k.device("e0");
  CHECK(d->filter_attached);
  REQUIRE(d->filter_program.size() == 4);
  CHECK(d->filter_program[1] == tunkit::BpfInstruction{0x15, 0, 1, 0x0800});
  CHECK(d->queue_states[0].socket_filter);
  CHECK((get_flags(k, tap) & kNoFilter) == 0);
  CHECK(get_filter_len(k, tap) == 4);
  CHECK(k.ioctl(tap, TUNDETACHFILTER, nullptr) == 0);
  CHECK_FALSE(k.device("e0")->filter_attached);
  CHECK((get_flags(k, tap) & kNoFilter) != 0);
  CHECK(get_filter_len(k, tap) == 4);  // the last program's length stays (measured)

  SECTION("no queue enabled: any program is stored as attached, unchecked") {
    k.add_persistent_device("p0", Mode::tap, Flag::multi_queue);
    const int p = attach(k, "p0", IFF_TAP | IFF_MULTI_QUEUE | IFF_NO_PI);
    REQUIRE(set_queue(k, p, IFF_DETACH_QUEUE) == 0);
    CHECK(attach_bpf(k, p, no_ret) == 0);
    CHECK(k.device("p0")->filter_attached);
  }
}

TEST_CASE("the 6.18 driver leaves a queue detached while a classic filter is attached",
          "[fake][bpf][queue]") {
  FakeKernel k;
  constexpr unsigned kTapMq = IFF_TAP | IFF_MULTI_QUEUE;  // packet information: no IFF_NOFILTER
  const int first = attach(k, "e0", kTapMq);
  const int second = attach(k, "e0", kTapMq);
  REQUIRE(attach_bpf(k, first, kAcceptAll) == 0);

  SECTION("TUNSETIFF says 0 but the descriptor is not attached") {
    const int late = open_tun(k, O_NONBLOCK);
    CHECK(set_iff(k, late, "e0", kTapMq) == 0);
    ifreq ifr{};
    CHECK(k.ioctl(late, TUNGETIFF, &ifr) == -EBADFD);
    std::vector<std::byte> buf(100);
    CHECK(read_into(k, late, buf) == -EBADFD);
    CHECK(k.device("e0")->queues == 2);
    // With IFF_NO_PI (read as IFF_NOFILTER) the filter is skipped and the queue attaches.
    const int nofilter = open_tun(k, O_NONBLOCK);
    CHECK(set_iff(k, nofilter, "e0", kTapMq | IFF_NO_PI) == 0);
    CHECK(k.device("e0")->queues == 3);
  }
  SECTION("IFF_ATTACH_QUEUE says 0 but the queue stays disabled, until the filter goes") {
    REQUIRE(set_queue(k, second, IFF_DETACH_QUEUE) == 0);
    CHECK(set_queue(k, second, IFF_ATTACH_QUEUE) == 0);
    CHECK((get_flags(k, second) & IFF_DETACH_QUEUE) != 0);
    CHECK(k.device("e0")->disabled_queues == 1);
    CHECK(set_queue(k, second, IFF_ATTACH_QUEUE) == 0);  // again 0, still disabled
    CHECK(set_queue(k, second, IFF_DETACH_QUEUE) == -EINVAL);
    REQUIRE(k.ioctl(first, TUNDETACHFILTER, nullptr) == 0);
    CHECK(set_queue(k, second, IFF_ATTACH_QUEUE) == 0);
    CHECK(k.device("e0")->disabled_queues == 0);
  }
}

TEST_CASE("TUNSETSTEERINGEBPF and TUNSETFILTEREBPF take a socket-filter program or -1",
          "[fake][ebpf]") {
  FakeKernel k;
  const int fd = attach(k, "mq0", kMq);
  const auto request = GENERATE(TUNSETSTEERINGEBPF, TUNSETFILTEREBPF);
  auto recorded = [&] {
    const auto d = k.device("mq0");
    return request == TUNSETSTEERINGEBPF ? d->steering_ebpf : d->filter_ebpf;
  };
  CHECK(recorded() == -1);
  CHECK(ioctl_int(k, fd, request, -1) == 0);
  const int prog = k.add_ebpf_program();
  CHECK(k.fcntl(prog, F_GETFD, 0) == FD_CLOEXEC);
  CHECK(ioctl_int(k, fd, request, prog) == 0);
  CHECK(recorded() == prog);
  const int other_type = k.add_ebpf_program(false);
  CHECK(ioctl_int(k, fd, request, other_type) == -EINVAL);
  CHECK(ioctl_int(k, fd, request, k.eventfd(0, 0)) == -EINVAL);  // measured
  CHECK(ioctl_int(k, fd, request, 999) == -EBADF);               // measured
  CHECK(ioctl_int(k, fd, request, -2) == -EBADF);
  CHECK(k.ioctl(fd, request, nullptr) == -EFAULT);
  CHECK(recorded() == prog);
  CHECK(k.close(prog) == 0);  // the kernel holds the program
  CHECK(recorded() == prog);
  CHECK(ioctl_int(k, fd, request, -1) == 0);
  CHECK(recorded() == -1);
  std::vector<std::byte> buf(8);
  CHECK(read_into(k, other_type, buf) == -EINVAL);
}

TEST_CASE("carrier follows the kernel's rules and reaches rtnetlink", "[fake][carrier]") {
  FakeKernel k;
  auto& rtnl = k.rtnetlink();
  auto carrier = [&](const std::string& name) {
    const auto d = k.device(name);
    REQUIRE(d);
    CHECK(rtnl.link(d->ifindex)->carrier == d->carrier);
    return d->carrier;
  };
  SECTION("created with carrier, or without it (IFF_NO_CARRIER, never reported by TUNGETIFF)") {
    attach(k, "t0", IFF_TUN | IFF_NO_PI);
    CHECK(carrier("t0"));
    const int off = attach(k, "t1", IFF_TUN | IFF_NO_PI | kIffNoCarrier);
    CHECK_FALSE(carrier("t1"));
    CHECK(get_flags(k, off) == (IFF_TUN | IFF_NO_PI));
    CHECK_FALSE(k.device("t1")->flags.has(Flag::no_carrier));
  }
  SECTION("a queue joining others leaves carrier alone (measured)") {
    const int a = attach(k, "mq0", kMq | kIffNoCarrier);
    CHECK_FALSE(carrier("mq0"));
    attach(k, "mq0", kMq);
    CHECK_FALSE(carrier("mq0"));
    CHECK(ioctl_int(k, a, TUNSETCARRIER, 1) == 0);
    CHECK(carrier("mq0"));
    attach(k, "mq0", kMq | kIffNoCarrier);
    CHECK(carrier("mq0"));
  }
  SECTION("TUNSETCARRIER on needs an enabled queue; off never does (measured)") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    REQUIRE(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    REQUIRE(set_queue(k, b, IFF_DETACH_QUEUE) == 0);
    CHECK(carrier("mq0"));  // disabling queues does not touch it
    CHECK(ioctl_int(k, a, TUNSETCARRIER, 1) == -EPERM);
    CHECK(ioctl_int(k, a, TUNSETCARRIER, 0) == 0);
    CHECK_FALSE(carrier("mq0"));
    REQUIRE(set_queue(k, a, IFF_ATTACH_QUEUE) == 0);
    CHECK_FALSE(carrier("mq0"));                    // re-enabling does not either
    CHECK(ioctl_int(k, a, TUNSETCARRIER, 2) == 0);  // any non-zero value is on
    CHECK(carrier("mq0"));
    CHECK(k.ioctl(a, TUNSETCARRIER, nullptr) == -EFAULT);
  }
  SECTION("the only queue of a persistent device sets it as it attaches") {
    const int a = attach(k, "p0", IFF_TUN | IFF_NO_PI | kIffNoCarrier);
    REQUIRE(k.ioctl(a, TUNSETPERSIST, by_value(1)) == 0);
    REQUIRE(k.close(a) == 0);
    CHECK_FALSE(carrier("p0"));
    attach(k, "p0", IFF_TUN | IFF_NO_PI);
    CHECK(carrier("p0"));
  }
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

TEST_CASE("the call log records the new ioctls' arguments", "[fake][script]") {
  FakeKernel k;
  const int fd = attach(k, "e0", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
  k.clear_calls();
  (void)ioctl_int(k, fd, TUNSETSNDBUF, 4096);
  (void)k.ioctl(fd, TUNSETLINK, by_value(772));
  (void)set_queue(k, fd, IFF_DETACH_QUEUE);
  (void)set_tx_filter(k, fd, {mac(0x02, 1), mac(0x02, 2)});
  (void)attach_bpf(k, fd, kAcceptAll);
  (void)ioctl_int(k, fd, TUNSETCARRIER, 0);
  const auto log = k.calls();
  REQUIRE(log.size() == 6);
  CHECK(log[0].arg == 4096);
  CHECK(log[1].arg == 772);
  CHECK(log[2].arg == IFF_DETACH_QUEUE);
  CHECK(log[3].arg == 2);
  CHECK(log[3].result == 2);
  CHECK(log[4].arg == 1);
  CHECK(log[5].arg == 0);
}

TEST_CASE("a scripted failure can let calls through first", "[fake][script]") {
  FakeKernel k;
  k.fail_next(Call::eventfd, EMFILE, 2);
  k.fail_next(Call::eventfd, ENFILE);
  CHECK(k.eventfd(0, 0) >= 0);
  CHECK(k.eventfd(0, 0) >= 0);
  CHECK(k.eventfd(0, 0) == -EMFILE);
  CHECK(k.eventfd(0, 0) == -ENFILE);
  CHECK(k.eventfd(0, 0) >= 0);
  const int fd = attach(k, "mq0", kMq);
  k.fail_next_ioctl(TUNSETIFF, EBUSY, 1);
  k.fail_next(Call::ioctl, EINTR);
  CHECK(set_iff(k, open_tun(k), "mq0", kMq) == -EINTR);  // the TUNSETIFF one let it through
  CHECK(set_iff(k, open_tun(k), "mq0", kMq) == -EBUSY);
  (void)fd;
}

TEST_CASE("the fake's namespaces: descriptors, setns per thread, devices per namespace",
          "[fake][netns]") {
  FakeKernel k;
  k.add_netns("blue");
  CHECK_THROWS_AS(k.add_netns("blue"), std::invalid_argument);
  CHECK_THROWS_AS(k.add_netns("a/b"), std::invalid_argument);
  const int blue = k.open("/run/netns/blue", O_RDONLY | O_CLOEXEC);
  REQUIRE(blue >= 0);
  CHECK(k.open("/run/netns/green", O_RDONLY) == -ENOENT);
  const int self = k.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  REQUIRE(self >= 0);
  CHECK(k.read(blue, nullptr, 0) == -EINVAL);
  CHECK(k.ioctl(blue, 0, nullptr) == -ENOTTY);
  const int copy = k.fcntl(blue, F_DUPFD_CLOEXEC, 0);
  CHECK(copy >= 0);
  CHECK(k.fcntl(copy, F_GETFD, 0) == FD_CLOEXEC);
  CHECK(k.close(copy) == 0);

  std::thread([&] {
    CHECK(k.setns(blue, CLONE_NEWNET) == 0);
    CHECK(k.current_netns() == "blue");
    CHECK(attach(k, "t0", IFF_TUN | IFF_NO_PI) >= 0);  // made in "blue"
    CHECK(k.setns(self, 0) == 0);
    CHECK(k.current_netns().empty());
  }).join();
  CHECK(k.current_netns().empty());  // setns moved only that thread
  REQUIRE(k.device("t0", "blue").has_value());
  CHECK(k.device("t0", "blue")->netns == "blue");
  CHECK_FALSE(k.exists("t0"));

  const int efd = k.eventfd(0, 0);
  CHECK(k.setns(efd, CLONE_NEWNET) == -EINVAL);
  CHECK(k.setns(blue, CLONE_NEWNS) == -EINVAL);
  CHECK(k.setns(4242, 0) == -EBADF);
  k.set_credentials(0, 0, true, {}, false);
  CHECK(k.setns(blue, 0) == -EPERM);
  CHECK(k.calls().back().call == Call::setns);
}

TEST_CASE("the fake rtnetlink notifies subscribed sockets", "[fake][rtnetlink]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  REQUIRE(fd >= 0);
  const int sub = k.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK;
  REQUIRE(k.bind(sub, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
  const std::uint32_t group = RTNLGRP_IPV4_IFADDR;
  REQUIRE(k.setsockopt(sub, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) == 0);

  auto next = [&]() -> std::optional<nlmsghdr> {
    std::array<std::byte, 4096> buf{};
    if (k.recvfrom(sub, buf.data(), buf.size(), 0, nullptr, nullptr) <= 0) return std::nullopt;
    nlmsghdr h{};
    std::memcpy(&h, buf.data(), sizeof h);
    return h;
  };
  CHECK_FALSE(next());

  tunkit::Link link = tunkit::Link::from_name("t0", k);
  link.set_mtu(1400);
  auto h = next();
  REQUIRE(h);
  CHECK(h->nlmsg_type == RTM_NEWLINK);
  CHECK(h->nlmsg_seq == 0);  // link notifications answer no request
  CHECK(h->nlmsg_pid == 0);
  link.add_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
  h = next();
  REQUIRE(h);
  CHECK(h->nlmsg_type == RTM_NEWADDR);
  CHECK(h->nlmsg_seq != 0);  // address notifications carry the request's
  link.add_address(tunkit::IpPrefix::parse("fd00::1/64"));
  CHECK_FALSE(next());  // IPv6 address group not joined

  const std::uint32_t v6 = RTNLGRP_IPV6_IFADDR;
  REQUIRE(k.setsockopt(sub, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &v6, sizeof v6) == 0);
  REQUIRE(k.setsockopt(sub, SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, &group, sizeof group) == 0);
  link.remove_address(tunkit::IpPrefix::parse("fd00::1/64"));
  link.remove_address(tunkit::IpPrefix::parse("10.0.0.1/24"));
  h = next();
  REQUIRE(h);
  CHECK(h->nlmsg_type == RTM_DELADDR);
  CHECK_FALSE(next());
  CHECK(k.close(fd) == 0);  // the device goes: RTM_DELLINK
  h = next();
  REQUIRE(h);
  CHECK(h->nlmsg_type == RTM_DELLINK);
}
