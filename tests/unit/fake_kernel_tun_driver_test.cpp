// The fake kernel's tun driver (src/testing/fake_kernel/tun_driver.cpp): TUNSETIFF, TUNSETQUEUE,
// device lifetime and carrier, answered as the real driver does (KERNEL.md, Linux 6.18).
#include "tunkit/testing/fake_kernel.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_kernel_test.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

using namespace fake_test;  // NOLINT(google-build-using-namespace): the helpers of these tests

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
      {"a\xA0"
       "b",
       IFF_TUN, EINVAL},  // the kernel's isspace() counts the no-break space
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
    CHECK(k.inject("mq0", fake_ipv4(20)) == a);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    CHECK(k.device("mq0")->queued_packets == 0);  // tun_queue_purge()
    for (int i = 0; i < 4; ++i)
      CHECK(k.inject("mq0", fake_ipv4(20)) == b);
    std::vector<std::byte> buf(100);
    CHECK(read_into(k, a, buf) == -EAGAIN);         // measured: not EBADFD
    CHECK(write_bytes(k, a, fake_ipv4(20)) == 20);  // measured: writes go through
    CHECK(poll_one(k, a, POLLIN | POLLOUT) == POLLOUT);
    CHECK(get_int(k, a, TUNGETSNDBUF) == INT_MAX);  // ioctls work on it
    CHECK(k.ioctl(a, TUNSETPERSIST, by_value(0)) == 0);
    CHECK(set_iff(k, a, "mq0", kMq) == -EEXIST);  // still attached to the device
    CHECK(set_queue(k, b, IFF_DETACH_QUEUE) == 0);
    CHECK(k.inject("mq0", fake_ipv4(20)) == -1);  // every queue disabled: dropped
  }
  SECTION("the kernel's queue order: the last queue moves into the gap") {
    const int a = attach(k, "mq0", kMq);
    const int b = attach(k, "mq0", kMq);
    const int c = attach(k, "mq0", kMq);
    CHECK(set_queue(k, a, IFF_DETACH_QUEUE) == 0);
    CHECK(enabled_fds(k, "mq0") == std::vector<int>{c, b});
    CHECK(k.inject("mq0", fake_ipv4(20)) == c);
    CHECK(k.inject("mq0", fake_ipv4(20)) == b);
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
