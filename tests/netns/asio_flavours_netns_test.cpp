// Both flavours of tunkit's Asio adapter in one translation unit and one program:
// tunkit::AsyncQueue (tunkit/asio.hpp, standalone Asio) and tunkit::boost_asio::AsyncQueue
// (tunkit/boost_asio.hpp, Boost.Asio), each with its own error_code in its completion
// signature, reading packets of one queue in turn. Built only with both tunkit::asio and
// tunkit::boost_asio.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

#include <asio/io_context.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/asio.hpp"
#include "tunkit/boost_asio.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

static_assert(
    std::is_same_v<tunkit::AsyncQueue::signature_type, void(std::error_code, std::size_t)>);
static_assert(std::is_same_v<tunkit::boost_asio::AsyncQueue::signature_type,
                             void(boost::system::error_code, std::size_t)>);
static_assert(
    std::is_same_v<tunkit::boost_asio::AsyncQueue::executor_type, boost::asio::any_io_executor>);
static_assert(!std::is_same_v<tunkit::AsyncQueue, tunkit::boost_asio::AsyncQueue>);

namespace asio_flavours_test {

// Sends a UDP datagram to 10.78.0.2:9000, which the kernel routes into the device.
void send_datagram(const std::string& payload) {
  netns_test::UdpSocket s;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(9000);
  REQUIRE(::inet_pton(AF_INET, "10.78.0.2", &a.sin_addr) == 1);
  REQUIRE(::sendto(s.fd, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&a),
                   sizeof a) == static_cast<ssize_t>(payload.size()));
}

// The UDP payload of an IPv4 packet, or "" for anything else.
std::string payload_of(std::span<const std::byte> p) {
  const auto pkt = tunkit::parse_ip(p);
  if (!pkt || pkt->udp() == nullptr) return {};
  const auto payload = pkt->udp()->payload();
  return {reinterpret_cast<const char*>(payload.data()), payload.size()};
}

}  // namespace asio_flavours_test

TEST_CASE("standalone Asio and Boost.Asio adapters in one program", "[netns][asio][boost_asio]") {
  using namespace std::chrono_literals;
  using asio_flavours_test::payload_of;
  using asio_flavours_test::send_datagram;
  tunkit::testing::NetNsSandbox sandbox;
  // No IPv6 in the sandbox: the kernel sends nothing of its own into the device.
  if (FILE* f = std::fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w")) {
    std::fputs("1", f);
    std::fclose(f);
  }
  tunkit::TunDevice dev({.name = "asioboth%d"});
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.78.0.1/24"));
  link.set_up();

  ::asio::io_context standalone_io;
  boost::asio::io_context boost_io;
  tunkit::AsyncQueue standalone(standalone_io, dev.queue(0));
  tunkit::boost_asio::AsyncQueue boost(boost_io, dev.queue(0));
  std::array<std::byte, 2048> buf{};

  // The kernel may send packets of its own (IPv6 router solicitations): read until the datagram.
  auto read_standalone = [&]() -> std::string {
    for (int i = 0; i < 16; ++i) {
      std::optional<std::error_code> result;
      std::size_t n = 0;
      standalone.async_read(buf, [&](std::error_code ec, std::size_t len) {
        result = ec;
        n = len;
      });
      standalone_io.restart();
      standalone_io.run_for(5s);
      if (!result || *result) return "error";
      if (auto text = payload_of(std::span(buf).first(n)); !text.empty()) return text;
    }
    return "nothing";
  };
  auto read_boost = [&]() -> std::string {
    for (int i = 0; i < 16; ++i) {
      std::optional<boost::system::error_code> result;
      std::size_t n = 0;
      boost.async_read(buf, [&](boost::system::error_code ec, std::size_t len) {
        result = ec;
        n = len;
      });
      boost_io.restart();
      boost_io.run_for(5s);
      if (!result || *result) return "error";
      if (auto text = payload_of(std::span(buf).first(n)); !text.empty()) return text;
    }
    return "nothing";
  };

  send_datagram("to standalone");
  CHECK(read_standalone() == "to standalone");
  send_datagram("to boost");
  CHECK(read_boost() == "to boost");

  // Each flavour's cancellation code, from its own Asio.
  std::optional<std::error_code> standalone_result;
  std::optional<boost::system::error_code> boost_result;
  standalone.async_read(buf, [&](std::error_code ec, std::size_t) { standalone_result = ec; });
  boost.async_read(buf, [&](boost::system::error_code ec, std::size_t) { boost_result = ec; });
  standalone_io.restart();
  boost_io.restart();
  standalone_io.poll();
  boost_io.poll();
  standalone.cancel();
  boost.cancel();
  standalone_io.run_for(2s);
  boost_io.run_for(2s);
  REQUIRE(standalone_result);
  REQUIRE(boost_result);
  CHECK(*standalone_result == ::asio::error::operation_aborted);
  CHECK(*boost_result == boost::asio::error::operation_aborted);
}
