// The fake kernel's own rules: each answer below is what the real tun driver gives (KERNEL.md and
// our measurements on Linux 6.18), so that tests written against the fake hold on the real thing.
// This file: the descriptor table, interfaces and their rtnetlink view, sockets, namespaces,
// scripted failures and the call log. The tun driver, its ioctls, its filters and packet I/O
// have files of their own (fake_kernel_*_test.cpp), as in src/testing/fake_kernel/.
#include "tunkit/testing/fake_kernel.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_kernel_test.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

using namespace fake_test;  // NOLINT(google-build-using-namespace): the helpers of these tests

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

TEST_CASE("delete_device acts like ip link del", "[fake][lifetime]") {
  FakeKernel k;
  const int a = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
  const int b = attach(k, "mq0", IFF_TUN | IFF_MULTI_QUEUE | IFF_NO_PI);
  k.set_up("mq0", true);
  REQUIRE(k.inject("mq0", fake_ipv4(20)) == a);
  REQUIRE(k.ioctl(a, TUNSETPERSIST, by_value(1)) == 0);

  CHECK(k.delete_device("mq0"));
  CHECK_FALSE(k.exists("mq0"));
  CHECK_FALSE(k.delete_device("mq0"));
  CHECK_FALSE(k.delete_device("lo"));
  CHECK(k.exists("lo"));
  std::vector<std::byte> buf(64);
  for (const int fd : {a, b}) {
    CHECK(read_into(k, fd, buf) == -EBADFD);  // the queued packet went with the device
    CHECK(write_bytes(k, fd, fake_ipv4(20)) == -EBADFD);
    ifreq ifr{};
    CHECK(k.ioctl(fd, TUNGETIFF, &ifr) == -EBADFD);
    CHECK(poll_one(k, fd, POLLIN | POLLOUT) == POLLERR);
  }
  CHECK(k.open_fd_count() == 2);               // the descriptors stay open
  CHECK(set_iff(k, a, "new0", IFF_TUN) == 0);  // and may attach again (measured)
  CHECK(k.close(b) == 0);
  CHECK_THROWS_AS(k.inject("mq0", fake_ipv4(20)), std::invalid_argument);
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
    const auto call = GENERATE(Call::read, Call::write, Call::readv, Call::writev, Call::poll,
                               Call::eventfd, Call::fcntl, Call::socket, Call::bind,
                               Call::getsockname, Call::setsockopt, Call::sendto, Call::recvfrom,
                               Call::setns, Call::fstat, Call::getsockopt, Call::fcntl_ptr);
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
      case Call::fstat: {
        struct stat st {};
        r = k.fstat(fd, &st);
        break;
      }
      case Call::getsockopt:
        r = k.getsockopt(fd, SOL_SOCKET, SO_TYPE, b.data(), &len);
        break;
      case Call::fcntl_ptr: {
        f_owner_ex owner{};
        r = k.fcntl_ptr(fd, F_GETOWN_EX, &owner);
        break;
      }
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
    CHECK(write_bytes(k, fd, fake_ipv4(20)) == -EIO);
    tunkit::Link link(index, k);
    link.set_up();
    CHECK(k.device("t0")->up);
    CHECK(poll_one(k, fd, POLLOUT) == POLLOUT);
    CHECK(write_bytes(k, fd, fake_ipv4(20)) == 20);
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
    CHECK(k.socket(AF_NETLINK, SOCK_RAW, NETLINK_XFRM) == -EPROTONOSUPPORT);
    rtnl.set_generic_netlink(false);
    CHECK(k.socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC) == -EPROTONOSUPPORT);
    CHECK(k.open_fd_count() == 2);  // fd and nl: the refused sockets left no descriptor
    CHECK(k.close(nl) == 0);
    CHECK(rtnl.open_sockets() == 0);
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

TEST_CASE("fstat and getsockopt answer as Linux does for each kind of descriptor", "[fake]") {
  FakeKernel k;
  struct stat st {};
  const int unattached = k.open("/dev/net/tun", O_RDWR);
  REQUIRE(k.fstat(unattached, &st) == 0);
  CHECK(st.st_mode == (S_IFCHR | 0600));
  CHECK(major(st.st_rdev) == 10);
  CHECK(minor(st.st_rdev) == 200);
  const int event = k.eventfd(0, 0);
  REQUIRE(k.fstat(event, &st) == 0);
  CHECK(st.st_mode == 0600);  // an anonymous inode
  const int sock = k.socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(k.fstat(sock, &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  const int ns = k.open("/proc/self/ns/net", O_RDONLY);
  REQUIRE(k.fstat(ns, &st) == 0);
  CHECK(st.st_mode == (S_IFREG | 0444));
  CHECK(k.fstat(4242, &st) == -EBADF);

  int type = 0;
  socklen_t len = sizeof type;
  CHECK(k.getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) == 0);
  CHECK(type == SOCK_DGRAM);
  CHECK(k.getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &type, &len) == -ENOPROTOOPT);
  CHECK(k.getsockopt(event, SOL_SOCKET, SO_TYPE, &type, &len) == -ENOTSOCK);
  CHECK(k.getsockopt(4242, SOL_SOCKET, SO_TYPE, &type, &len) == -EBADF);
  // No Unix sockets in the fake.
  std::array<int, 2> sv{};
  CHECK(k.socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv.data()) == -ENOSYS);
}
