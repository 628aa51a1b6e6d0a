// The body of the Asio namespace tests, compiled once per flavour of tunkit's Asio adapter:
// asio_netns_test.cpp (tunkit::AsyncQueue on standalone Asio, tunkit/asio.hpp) and
// boost_asio_netns_test.cpp (tunkit::boost_asio::AsyncQueue on Boost.Asio). Each test is in a
// fresh network namespace: one packet per operation, the completion tokens (callbacks,
// use_future, use_awaitable), cancellation (cancel(), cancellation slots, awaitable operators),
// packet information, truncation and the descriptor's ownership.
//
// The including file has included its flavour's adapter and these Asio headers:
// bind_cancellation_slot, cancellation_signal, co_spawn, detached,
// experimental/awaitable_operators, io_context, steady_timer, use_awaitable, use_future; and
// declared, in an unnamed namespace, `net` (the Asio namespace), `adapter` (the adapter's),
// `error_code` (the completion's), `system_error` (what use_future throws), and the macros
// TUNKIT_ASIO_TEST_PREFIX (put before every test's name) and TUNKIT_ASIO_TEST_TAG (added to its
// tags). Both including files are kept out of unity builds (tests/CMakeLists.txt): the helpers
// below have the same names in both.
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <variant>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/packet/checksum.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using namespace std::chrono_literals;
using tunkit::testing::NetNsSandbox;

constexpr const char* kLocal = "10.79.0.1";  // the device's address
constexpr const char* kPeer = "10.79.0.2";   // routed into the device

// A sandbox with one TUN device, 10.79.0.1/24, up. IPv6 is off in the sandbox so that the kernel
// sends nothing of its own (router solicitations, MLD reports) into the device: every packet
// read is one the test sent.
struct Tun {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev;

  explicit Tun(tunkit::Options options) {
    if (FILE* f = std::fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w")) {
      std::fputs("1", f);
      std::fclose(f);
    }
    dev.open(options);
    tunkit::Link link(dev.ifindex());
    link.add_address(tunkit::IpPrefix::parse("10.79.0.1/24"));
    link.set_up();
  }
};

using netns_test::UdpSocket;

sockaddr_in address(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, ip, &a.sin_addr) == 1);
  return a;
}

// Sends a datagram to kPeer:`port`, which the kernel routes into the device.
void send_to_peer(const std::string& payload, std::uint16_t port = 9000) {
  UdpSocket s;
  const sockaddr_in a = address(kPeer, port);
  REQUIRE(::sendto(s.fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&a),
                   sizeof a) == static_cast<ssize_t>(payload.size()));
}

// A UDP socket bound to kLocal:`port`, for packets written into the device.
struct Receiver : UdpSocket {
  explicit Receiver(std::uint16_t port) {
    const sockaddr_in a = address(kLocal, port);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
  }
  // The next datagram, waiting at most 2 s.
  std::optional<std::string> receive() const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) != 1) return std::nullopt;
    std::array<char, 2048> buf{};
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    return std::string(buf.data(), static_cast<std::size_t>(n));
  }
};

// An IPv4/UDP packet kPeer:7000 -> kLocal:`port` (UDP checksum 0: none, allowed for IPv4).
// Free of Catch2 assertions: a coroutine on the io_context's thread calls it, and Catch2's
// assertions are not thread-safe.
std::vector<std::byte> udp_to_local(const std::string& payload, std::uint16_t port) {
  const std::size_t total = 28 + payload.size();
  std::vector<std::byte> p(total);
  auto put16 = [&](std::size_t at, unsigned v) {
    p[at] = static_cast<std::byte>(v >> 8U);
    p[at + 1] = static_cast<std::byte>(v & 0xFFU);
  };
  p[0] = std::byte{0x45};
  put16(2, static_cast<unsigned>(total));
  put16(6, 0x4000);  // DF
  p[8] = std::byte{64};
  p[9] = std::byte{17};
  std::memcpy(p.data() + 12, tunkit::IpAddress::parse(kPeer).bytes().data(), 4);
  std::memcpy(p.data() + 16, tunkit::IpAddress::parse(kLocal).bytes().data(), 4);
  put16(10, tunkit::internet_checksum(std::span(p).first(20)));
  put16(20, 7000);
  put16(22, port);
  put16(24, static_cast<unsigned>(8 + payload.size()));
  std::memcpy(p.data() + 28, payload.data(), payload.size());
  return p;
}

// The UDP payload of an IPv4 packet, or "" for anything else.
std::string udp_payload(std::span<const std::byte> p) {
  const auto pkt = tunkit::parse_ip(p);
  if (!pkt || pkt->udp() == nullptr) return {};
  const auto payload = pkt->udp()->payload();
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};
}

}  // namespace

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX "AsyncQueue with callbacks: one packet per read, one per write",
          "[netns][asio]" TUNKIT_ASIO_TEST_TAG) {
  Tun tun({.name = "asio%d"});
  net::io_context io;
  adapter::AsyncQueue q(io, tun.dev.queue(0));
  REQUIRE(q.is_open());
  CHECK(q.native_handle() != tun.dev.native_handle());  // a duplicate, not the queue's own

  // Two datagrams queued before the first read: each read returns exactly one of them.
  send_to_peer("first");
  send_to_peer("second, longer");
  std::array<std::byte, 2048> buf{};
  std::vector<std::string> got;
  error_code last;
  auto on_read = [&](error_code ec, std::size_t n) {
    last = ec;
    if (!ec) got.push_back(udp_payload(std::span(buf).first(n)));
  };
  q.async_read(buf, on_read);
  CHECK(io.run_for(5s) > 0);
  io.restart();
  q.async_read(buf, on_read);
  io.run_for(5s);
  REQUIRE_FALSE(last);
  CHECK(got == std::vector<std::string>{"first", "second, longer"});

  // A write is one packet, delivered to the local socket.
  Receiver rx(7001);
  const auto packet = udp_to_local("written by asio", 7001);
  std::size_t written = 0;
  io.restart();
  q.async_write(packet, [&](error_code ec, std::size_t n) {
    last = ec;
    written = n;
  });
  io.run_for(5s);
  REQUIRE_FALSE(last);
  CHECK(written == packet.size());
  CHECK(rx.receive() == "written by asio");
}

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX "AsyncQueue with use_future and use_awaitable",
          "[netns][asio]" TUNKIT_ASIO_TEST_TAG) {
  Tun tun({.name = "asio%d"});
  net::io_context io;
  adapter::AsyncQueue q(io.get_executor(), tun.dev.queue(0));
  // The io_context runs on its own thread while this one waits for futures; it is stopped and
  // joined however the test ends (declared after q: destroyed before it).
  struct Runner {
    net::io_context& io;
    net::executor_work_guard<net::io_context::executor_type> guard{io.get_executor()};
    std::thread thread{[this] { io.run_for(10s); }};
    ~Runner() {
      guard.reset();
      io.stop();
      thread.join();
    }
  } runner{io};
  std::array<std::byte, 2048> buf{};

  SECTION("use_future") {
    std::future<std::size_t> read = q.async_read(buf, net::use_future);
    send_to_peer("future");
    REQUIRE(read.wait_for(5s) == std::future_status::ready);
    CHECK(udp_payload(std::span(buf).first(read.get())) == "future");

    Receiver rx(7002);
    const auto packet = udp_to_local("future write", 7002);
    std::future<std::size_t> write = q.async_write(packet, net::use_future);
    REQUIRE(write.wait_for(5s) == std::future_status::ready);
    CHECK(write.get() == packet.size());
    CHECK(rx.receive() == "future write");

    // Errors arrive as the future's exception: an empty packet.
    std::future<std::size_t> empty = q.async_write(std::span<const std::byte>{}, net::use_future);
    REQUIRE(empty.wait_for(5s) == std::future_status::ready);
    try {
      (void)empty.get();
      FAIL("no exception");
    } catch (const system_error& e) {
      CHECK(e.code() == tunkit::errc::empty_packet);
    }
  }

  SECTION("use_awaitable: a coroutine answers one datagram with another") {
    Receiver rx(7003);
    std::future<std::string> done = net::co_spawn(
        io,
        [&]() -> net::awaitable<std::string> {
          const std::size_t n = co_await q.async_read(buf, net::use_awaitable);
          const std::string text = udp_payload(std::span(buf).first(n));
          const auto reply = udp_to_local("re: " + text, 7003);
          co_await q.async_write(reply, net::use_awaitable);
          co_return text;
        },
        net::use_future);
    send_to_peer("awaited");
    REQUIRE(done.wait_for(5s) == std::future_status::ready);
    CHECK(done.get() == "awaited");
    CHECK(rx.receive() == "re: awaited");
  }
}

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX "AsyncQueue cancellation loses no packet",
          "[netns][asio]" TUNKIT_ASIO_TEST_TAG) {
  Tun tun({.name = "asio%d"});
  net::io_context io;
  adapter::AsyncQueue q(io, tun.dev.queue(0));
  std::array<std::byte, 2048> buf{};
  std::optional<error_code> result;
  auto on_read = [&](error_code ec, std::size_t) { result = ec; };

  SECTION("cancel() aborts a pending read") {
    q.async_read(buf, on_read);
    io.poll();  // started, nothing to read
    CHECK_FALSE(result);
    q.cancel();
    io.run_for(2s);
    REQUIRE(result);
    CHECK(*result == net::error::operation_aborted);
  }

  SECTION("a cancellation slot aborts one read (terminal and total)") {
    const auto type = GENERATE(net::cancellation_type::terminal, net::cancellation_type::total);
    net::cancellation_signal signal;
    q.async_read(buf, net::bind_cancellation_slot(signal.slot(), on_read));
    io.poll();
    CHECK_FALSE(result);
    signal.emit(type);
    io.run_for(2s);
    REQUIRE(result);
    CHECK(*result == net::error::operation_aborted);
  }

  SECTION("awaitable operators: a timer wins over a read that has nothing to read") {
    using namespace net::experimental::awaitable_operators;
    std::optional<std::size_t> winner;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          net::steady_timer timer(io, 100ms);
          auto r = co_await (q.async_read(buf, net::use_awaitable) ||
                             timer.async_wait(net::use_awaitable));
          winner = r.index();
        },
        net::detached);
    io.run_for(5s);
    REQUIRE(winner);
    CHECK(*winner == 1);
    result = error_code{};
  }

  // After any of the cancellations the queue still delivers the next packet, once.
  REQUIRE(result);
  send_to_peer("after cancel");
  std::size_t n = 0;
  io.restart();
  q.async_read(buf, [&](error_code ec, std::size_t len) {
    result = ec;
    n = len;
  });
  io.run_for(5s);
  REQUIRE_FALSE(*result);
  CHECK(udp_payload(std::span(buf).first(n)) == "after cancel");
}

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX "AsyncQueue reports truncation and handles packet information",
          "[netns][asio]" TUNKIT_ASIO_TEST_TAG) {
  const bool packet_info = GENERATE(false, true);
  CAPTURE(packet_info);
  Tun tun({.name = "asio%d", .packet_info = packet_info});
  REQUIRE(tun.dev.queue(0).has_packet_info() == packet_info);
  net::io_context io;
  adapter::AsyncQueue q(io, tun.dev.queue(0));
  error_code result;
  std::size_t n = 0;
  auto on_done = [&](error_code ec, std::size_t len) {
    result = ec;
    n = len;
  };

  // Whole packet: starts with the IPv4 header, the packet-information header stripped.
  std::array<std::byte, 2048> buf{};
  send_to_peer("whole");
  q.async_read(buf, on_done);
  io.run_for(5s);
  REQUIRE_FALSE(result);
  CHECK(n == 28 + 5);
  CHECK(buf[0] == std::byte{0x45});
  CHECK(udp_payload(std::span(buf).first(n)) == "whole");

  // A packet longer than the buffer: its head, and packet_truncated.
  std::array<std::byte, 10> small{};
  send_to_peer("this does not fit in ten bytes");
  io.restart();
  q.async_read(small, on_done);
  io.run_for(5s);
  CHECK(result == tunkit::errc::packet_truncated);
  CHECK(n == small.size());
  CHECK(small[0] == std::byte{0x45});

  // Writes carry the header the kernel expects.
  Receiver rx(7004);
  const auto packet = udp_to_local("with or without pi", 7004);
  io.restart();
  q.async_write(packet, on_done);
  io.run_for(5s);
  REQUIRE_FALSE(result);
  CHECK(n == packet.size());
  CHECK(rx.receive() == "with or without pi");
}

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX "AsyncQueue owns a duplicate descriptor",
          "[netns][asio]" TUNKIT_ASIO_TEST_TAG) {
  Tun tun({.name = "asio%d"});
  net::io_context io;
  const std::string name = tun.dev.name();

  SECTION("closed queues and objects") {
    tunkit::Queue closed;
    std::error_code ec;
    adapter::AsyncQueue q(io);
    CHECK_FALSE(q.is_open());
    q.open(closed, ec);
    CHECK(ec == tunkit::errc::not_open);
    CHECK_THROWS_AS(adapter::AsyncQueue(io, closed), tunkit::Error);
    CHECK_THROWS_WITH(adapter::AsyncQueue(io, closed),
                      "tunkit: duplicate for Asio the descriptor of: device not open");

    // Operations on a closed object complete (through the executor) with bad_descriptor.
    std::array<std::byte, 64> buf{};
    std::optional<error_code> result;
    q.async_read(buf, [&](error_code e, std::size_t) { result = e; });
    CHECK_FALSE(result);
    io.run_for(2s);
    REQUIRE(result);
    CHECK(*result == net::error::bad_descriptor);
  }

  SECTION("the interface lives until the duplicate is closed too") {
    adapter::AsyncQueue q(io, tun.dev.queue(0));
    tun.dev.close();
    CHECK(::if_nametoindex(name.c_str()) != 0);  // still attached through the duplicate
    q.close();
    CHECK(::if_nametoindex(name.c_str()) == 0);
  }

  SECTION("moving keeps the outstanding read") {
    adapter::AsyncQueue a(io, tun.dev.queue(0));
    std::array<std::byte, 2048> buf{};
    std::size_t n = 0;
    a.async_read(buf, [&](error_code ec, std::size_t len) { n = ec ? 0 : len; });
    adapter::AsyncQueue b(std::move(a));
    CHECK_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
    send_to_peer("moved");
    io.run_for(5s);
    CHECK(udp_payload(std::span(buf).first(n)) == "moved");
  }
}

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX
          "AsyncQueue reports a deleted interface with Queue::read's error code",
          "[netns][asio]" TUNKIT_ASIO_TEST_TAG) {
  // tunkit/asio.hpp: "the errors are those of Queue::read". After `ip link del`, Queue::read
  // fails with EBADFD in std::system_category() (lifetime_netns_test.cpp), so an async_read
  // waiting at that moment must complete with that error_code, which a caller compares with the
  // one it knows from Queue::read. (Found by ./dev stress, part link-del.)
  Tun tun({.name = "asiodel0"});
  net::io_context io;
  adapter::AsyncQueue q(io, tun.dev.queue(0));
  std::array<std::byte, 2048> buf{};
  std::optional<error_code> result;
  q.async_read(buf, [&](error_code e, std::size_t) { result = e; });
  io.run_for(50ms);  // the read now waits in the reactor
  REQUIRE_FALSE(result);
  REQUIRE(std::system("ip link del asiodel0") == 0);
  io.run_for(5s);  // returns as soon as the read completes
  REQUIRE(result);
  CHECK(result->value() == EBADFD);
  CHECK(*result == std::error_code(EBADFD, std::system_category()));
}

TEST_CASE(TUNKIT_ASIO_TEST_PREFIX
          "packet information after a virtio-net header: the protocol is the packet's",
          "[netns][asio][vnet]" TUNKIT_ASIO_TEST_TAG) {
  // With both headers a TUN write's protocol (in the packet-information header) must come from
  // the IP packet after the virtio-net header: from the header's first byte it was 0, and the
  // kernel took the write and dropped the packet without a word. Without packet information,
  // read(buf, info) reports the IP packet's protocol, not the header's.
  const bool packet_info = GENERATE(true, false);
  CAPTURE(packet_info);
  Tun tun({.name = "asio%d", .packet_info = packet_info, .vnet_hdr = true});
  tunkit::Queue& queue = tun.dev.queue(0);
  const std::size_t vnet = 10;  // the default header, all zero: no offload, checksum complete
  REQUIRE(tun.dev.vnet_header_size() == static_cast<int>(vnet));
  Receiver rx(7005);
  auto with_header = [&](const std::string& payload) {
    std::vector<std::byte> p(vnet);
    const auto ip = udp_to_local(payload, 7005);
    p.insert(p.end(), ip.begin(), ip.end());
    return p;
  };

  const auto one = with_header("write");
  CHECK(queue.write(one) == one.size());
  CHECK(rx.receive() == "write");
  // The virtio-net header split across buffers, the packet in a third.
  const auto two = with_header("writev");
  const std::span<const std::byte> all(two);
  const std::span<const std::byte> parts[3] = {all.first(4), all.subspan(4, vnet - 4),
                                               all.subspan(vnet)};
  CHECK(queue.writev(parts) == two.size());
  CHECK(rx.receive() == "writev");

  net::io_context io;
  adapter::AsyncQueue q(io, queue);
  const auto three = with_header("async_write");
  error_code result;
  std::size_t n = 0;
  q.async_write(three, [&](error_code ec, std::size_t len) {
    result = ec;
    n = len;
  });
  io.run_for(5s);
  REQUIRE_FALSE(result);
  CHECK(n == three.size());
  CHECK(rx.receive() == "async_write");

  // A datagram routed into the device reads back with its protocol, the header skipped.
  send_to_peer("read");
  std::array<std::byte, 2048> buf{};
  tunkit::PacketInfo info;
  std::error_code ec;
  REQUIRE(queue.wait_readable(2s) == tunkit::WaitResult::ready);
  const std::size_t got = queue.read(buf, info, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(got > vnet);
  CHECK(info.protocol == 0x0800);
  CHECK(udp_payload(std::span(buf).subspan(vnet, got - vnet)) == "read");
}
