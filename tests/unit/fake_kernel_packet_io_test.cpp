// The fake kernel's packet I/O and poll (src/testing/fake_kernel/packet_io.cpp, poll.cpp): reads,
// writes, inject, eventfd counters and readiness, as the real driver gives them (Linux 6.18).
#include "tunkit/testing/fake_kernel.hpp"

#include <sys/eventfd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_kernel_test.hpp"

using namespace fake_test;  // NOLINT(google-build-using-namespace): the helpers of these tests

TEST_CASE("before TUNSETIFF: read and write give EBADFD, poll POLLERR", "[fake]") {
  FakeKernel k;
  const int fd = open_tun(k, O_NONBLOCK);
  std::vector<std::byte> buf(64);
  CHECK(read_into(k, fd, buf) == -EBADFD);
  CHECK(k.read(fd, buf.data(), 0) == -EBADFD);
  CHECK(write_bytes(k, fd, fake_ipv4(20)) == -EBADFD);
  CHECK(k.write(fd, buf.data(), 0) == -EBADFD);
  int r = 0;
  CHECK(poll_one(k, fd, POLLIN | POLLOUT, &r) == POLLERR);
  CHECK(r == 1);
}

TEST_CASE("reading packets: one per call, min(length, buffer)", "[fake][read]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  const auto p = fake_ipv4(60);

  SECTION("byte-exact") {
    REQUIRE(k.inject("t0", p) == fd);
    REQUIRE(k.inject("t0", fake_ipv6(40)) == fd);
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
    const auto p = fake_ipv6(48);
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
    REQUIRE(k.inject("t0", fake_ipv4(60)) == fd);
    std::vector<std::byte> buf(10);
    CHECK(read_into(k, fd, buf) == 10);
    CHECK(strip_flags(buf) == TUN_PKT_STRIP);
    CHECK(buf[2] == std::byte{0x08});
    CHECK(buf[3] == std::byte{0x00});
  }
  SECTION("a buffer under 4 bytes: EINVAL and the packet is dropped") {
    const int fd = attach(k, "t0", IFF_TUN);
    REQUIRE(k.inject("t0", fake_ipv4(60)) == fd);
    std::vector<std::byte> buf(3);
    CHECK(read_into(k, fd, buf) == -EINVAL);
    buf.resize(100);
    CHECK(read_into(k, fd, buf) == -EAGAIN);
  }
  SECTION("TAP: the frame's type; explicit protocol") {
    const int fd = attach(k, "e0", IFF_TAP);
    REQUIRE(k.inject("e0", fake_frame(60, 0x0806)) == fd);
    REQUIRE(k.inject("e0", fake_frame(60, 0x0800), 0x1234) == fd);
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
    const auto p = fake_ipv4(30);
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
    CHECK(k.inject("mq0", fake_ipv4(20)) == a);
    CHECK(k.inject("mq0", fake_ipv4(20)) == b);
    CHECK(k.inject("mq0", fake_ipv4(20)) == a);
    int r = 0;
    CHECK(poll_one(k, b, POLLIN, &r) == POLLIN);
  }
  SECTION("a persistent device nobody holds drops") {
    k.add_persistent_device("p0", Mode::tun);
    CHECK(k.inject("p0", fake_ipv4(20)) == -1);
    CHECK(k.device("p0")->queued_packets == 0);
  }
  SECTION("500 packets per queue") {
    attach(k, "t0", IFF_TUN);
    for (int i = 0; i < 500; ++i)
      REQUIRE(k.inject("t0", fake_ipv4(20)) >= 0);
    CHECK(k.inject("t0", fake_ipv4(20)) == -1);
  }
  SECTION("unknown or non-TUN names throw") {
    CHECK_THROWS_AS(k.inject("nope", fake_ipv4(20)), std::invalid_argument);
    CHECK_THROWS_AS(k.inject("lo", fake_ipv4(20)), std::invalid_argument);
  }
}

TEST_CASE("writing packets: validated in the kernel's order, recorded", "[fake][write]") {
  FakeKernel k;

  SECTION("TUN without packet information") {
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    CHECK(write_bytes(k, fd, fake_ipv4(20)) == -EIO);  // the device is down
    CHECK(k.written("t0").empty());
    REQUIRE(k.set_up("t0", true));
    CHECK(k.device("t0")->up);
    const auto p = fake_ipv4(20);
    CHECK(write_bytes(k, fd, p) == 20);
    CHECK(write_bytes(k, fd, fake_ipv6(40)) == 40);
    CHECK(k.write(fd, p.data(), 0) == -EINVAL);
    auto bad = fake_ipv4(20);
    bad[0] = std::byte{0x10};
    CHECK(write_bytes(k, fd, bad) == -EINVAL);
    CHECK(write_bytes(k, fd, fake_ipv4(66000)) == 66000);  // accepted (the kernel drops it later)
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
    auto bad = fake_ipv4(20);
    bad[0] = std::byte{0x10};
    CHECK(write_bytes(k, fd, bad) == -EINVAL);
    CHECK(k.write(fd, bad.data(), 0) == -EINVAL);
  }
  SECTION("TUN with packet information: the header is stripped into the protocol") {
    const int fd = attach(k, "t0", IFF_TUN);
    k.set_up("t0", true);
    std::vector<std::byte> pkt{std::byte{0}, std::byte{0}, std::byte{0x86}, std::byte{0xDD}};
    const auto p = fake_ipv6(40);
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
    CHECK(write_bytes(k, fd, fake_frame(13, 0x0800)) == -EINVAL);
    CHECK(write_bytes(k, fd, fake_frame(14, 0x0806)) == 14);
    REQUIRE(k.written("e0").size() == 1);
    CHECK(k.written("e0")[0].protocol == 0x0806);
  }
  SECTION("virtio-net header is stripped and kept") {
    const int fd = attach(k, "e0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    k.set_up("e0", true);
    CHECK(write_bytes(k, fd, fake_frame(9, 0)) == -EINVAL);
    auto f = fake_frame(24, 0x0800);
    std::fill_n(f.begin(), 10, std::byte{0});  // a header the driver takes: flags only
    f[0] = std::byte{2};                       // DATA_VALID, which a write ignores
    CHECK(write_bytes(k, fd, f) == 24);
    f[1] = std::byte{0x11};  // an unknown gso_type: refused as the driver does
    CHECK(write_bytes(k, fd, f) == -EINVAL);
    const auto w = k.written("e0");
    REQUIRE(w.size() == 1);
    CHECK(w[0].vnet_header.size() == 10);
    CHECK(w[0].vnet_header[0] == std::byte{2});
    CHECK(w[0].data.size() == 14);
  }
  SECTION("writev gathers one packet") {
    const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
    k.set_up("t0", true);
    const auto p = fake_ipv4(30);
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
    CHECK(k.inject("t0", fake_ipv4(20)) == fd);
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

TEST_CASE("the fake is safe to use from several threads", "[fake][threads]") {
  FakeKernel k;
  const int fd = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  constexpr int kPackets = 400;
  std::thread producer([&] {
    for (int i = 0; i < kPackets; ++i) {
      while (k.inject("t0", fake_ipv4(20, static_cast<unsigned>(i))) < 0)
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
