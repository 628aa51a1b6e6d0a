// Backpressure against the real kernel, in both directions, with every packet accounted for:
//
// - the stack sending into a TUN faster than its reader reads: the device's queue (txqueuelen
//   packets) fills and the kernel drops the rest, counting each in the link's tx_dropped, so
//   sent = read + tx_dropped;
// - a writer into a TUN faster than the receiving socket drains: a write is one packet handed
//   to the stack (tun_get_user delivers it synchronously); a write the kernel refuses comes
//   back as an error code (EAGAIN/ENOBUFS; in blocking mode tunkit waits instead), and what the
//   socket cannot take is counted in the namespace's UDP RcvbufErrors, so written = received +
//   RcvbufErrors (+ the link's rx_dropped, should the backlog overflow).
//
// Every loop is bounded in count and time; packets go only to addresses of the sandbox.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using Clock = std::chrono::steady_clock;

void write_proc(const std::string& path, const std::string& value) {
  std::ofstream(path) << value;
}

// A field of the "Udp:" lines of /proc/thread-self/net/snmp (this thread's namespace).
std::uint64_t udp_counter(const std::string& name) {
  std::ifstream in("/proc/thread-self/net/snmp");
  std::string names;
  std::string values;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Udp: ", 0) != 0) continue;
    if (names.empty()) {
      names = line;
    } else {
      values = line;
      break;
    }
  }
  std::istringstream n(names);
  std::istringstream v(values);
  std::string key;
  std::string value;
  while (n >> key && v >> value) {
    if (key == name) return std::stoull(value);
  }
  FAIL("no Udp counter " << name);
  return 0;
}

using netns_test::UdpSocket;

sockaddr_in endpoint(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, ip, &a.sin_addr) == 1);
  return a;
}

// IPv4/UDP from 10.59.0.2:5000 to 10.59.0.1:9998 carrying `seq`, header checksum filled in, UDP
// checksum 0 (none, RFC 768).
std::vector<std::byte> udp_packet(std::uint32_t seq) {
  std::vector<std::uint8_t> p(20 + 8 + 64, 0);
  p[0] = 0x45;
  p[2] = static_cast<std::uint8_t>(p.size() >> 8U);
  p[3] = static_cast<std::uint8_t>(p.size() & 0xFFU);
  p[8] = 64;
  p[9] = 17;
  const std::array<std::uint8_t, 8> addrs{10, 59, 0, 2, 10, 59, 0, 1};
  std::memcpy(&p[12], addrs.data(), addrs.size());
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < 20; i += 2)
    sum += static_cast<std::uint32_t>(p[i] << 8U | p[i + 1]);
  while (sum >> 16U)
    sum = (sum & 0xFFFFU) + (sum >> 16U);
  p[10] = static_cast<std::uint8_t>(~sum >> 8U);
  p[11] = static_cast<std::uint8_t>(~sum & 0xFFU);
  p[20] = 5000 >> 8;
  p[21] = 5000 & 0xFF;
  p[22] = 9998 >> 8;
  p[23] = 9998 & 0xFF;
  p[25] = 8 + 64;
  std::memcpy(&p[28], &seq, sizeof seq);
  std::vector<std::byte> out(p.size());
  std::memcpy(out.data(), p.data(), p.size());
  return out;
}

}  // namespace

TEST_CASE("a reader slower than the stack: every packet sent is read or counted in tx_dropped",
          "[netns][backpressure]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkbp0", .non_blocking = true});
  // No IPv6 (no router or multicast solicitations of the kernel's own), a short device queue.
  write_proc("/proc/sys/net/ipv6/conf/tkbp0/disable_ipv6", "1");
  tunkit::Link link(dev.ifindex());
  link.set_txqueuelen(32);
  link.configure({.addresses = {tunkit::IpPrefix::parse("10.58.0.1/24")}, .up = true});

  UdpSocket s;
  const auto local = endpoint("10.58.0.1", 0);
  REQUIRE(::bind(s.fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
  const auto peer = endpoint("10.58.0.2", 9999);  // on the TUN's subnet: routed into it

  constexpr std::uint32_t kPackets = 3000;
  const auto before = link.statistics();
  std::uint32_t sent = 0;
  std::uint32_t refused = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (std::uint32_t i = 0; i < kPackets && Clock::now() < deadline; ++i) {
    const ssize_t n = ::sendto(s.fd, &i, sizeof i, MSG_DONTWAIT,
                               reinterpret_cast<const sockaddr*>(&peer), sizeof peer);
    if (n == static_cast<ssize_t>(sizeof i)) {
      ++sent;
    } else {
      ++refused;  // reported to the sender (ENOBUFS/EAGAIN), never silent
    }
  }
  // Drain what the device queued; non-blocking reads until EAGAIN.
  std::uint32_t read = 0;
  std::uint32_t other = 0;
  std::array<std::byte, 2048> buf{};
  for (std::uint32_t i = 0; i < kPackets + 1000 && Clock::now() < deadline; ++i) {
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    if (ec) {
      CHECK(ec == std::errc::operation_would_block);
      break;
    }
    const bool ours = n == 20 + 8 + 4 && buf[9] == std::byte{17} && buf[22] == std::byte{0x27} &&
                      buf[23] == std::byte{0x0f};  // UDP to port 9999
    ++(ours ? read : other);
  }
  const auto after = link.statistics();
  const auto dropped = after.tx_dropped - before.tx_dropped;
  std::printf(
      "backpressure, stack to TUN (txqueuelen 32): sent %u, refused %u, read %u, "
      "tx_dropped %llu, other packets read %u\n",
      sent, refused, read, static_cast<unsigned long long>(dropped), other);
  CHECK(sent + refused == kPackets);
  CHECK(sent == read + dropped);
  CHECK(dropped > 0);  // the queue really overflowed
  CHECK(read <= 32 + other + 1);
}

TEST_CASE("a writer faster than the socket drains: every packet written is received or counted",
          "[netns][backpressure]") {
  const bool non_blocking = GENERATE(true, false);
  CAPTURE(non_blocking);
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkbp1", .non_blocking = non_blocking});
  write_proc("/proc/sys/net/ipv6/conf/tkbp1/disable_ipv6", "1");
  tunkit::Link link(dev.ifindex());
  link.configure({.addresses = {tunkit::IpPrefix::parse("10.59.0.1/24")}, .up = true});

  UdpSocket s;
  const int small = 4096;  // the kernel doubles it; still only a few dozen datagrams
  REQUIRE(::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  const auto local = endpoint("10.59.0.1", 9998);
  REQUIRE(::bind(s.fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);

  constexpr std::uint32_t kPackets = 2000;
  const auto before = link.statistics();
  const std::uint64_t rcvbuf_before = udp_counter("RcvbufErrors");
  std::uint32_t written = 0;
  std::uint32_t refused = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (std::uint32_t i = 0; i < kPackets && Clock::now() < deadline; ++i) {
    std::error_code ec;
    const std::size_t n = dev.write(udp_packet(i), ec);
    if (!ec) {
      CHECK(n == 20 + 8 + 64);
      ++written;
    } else {
      // The only answers a full kernel may give; the packet was not taken, and the caller knows.
      CHECK((ec == std::errc::operation_would_block || ec == std::errc::no_buffer_space));
      ++refused;
    }
  }
  std::uint32_t received = 0;
  std::array<std::byte, 256> buf{};
  for (std::uint32_t i = 0; i < kPackets && Clock::now() < deadline; ++i) {
    if (::recv(s.fd, buf.data(), buf.size(), MSG_DONTWAIT) < 0) break;
    ++received;
  }
  const auto after = link.statistics();
  const std::uint64_t socket_drops = udp_counter("RcvbufErrors") - rcvbuf_before;
  const std::uint64_t link_drops = after.rx_dropped - before.rx_dropped;
  std::printf(
      "backpressure, TUN writer to a UDP socket (%s): written %u, refused %u, "
      "received %u, socket drops %llu, link rx_dropped %llu, link rx_packets +%llu\n",
      non_blocking ? "non-blocking" : "blocking", written, refused, received,
      static_cast<unsigned long long>(socket_drops), static_cast<unsigned long long>(link_drops),
      static_cast<unsigned long long>(after.rx_packets - before.rx_packets));
  CHECK(written + refused == kPackets);
  CHECK(after.rx_packets - before.rx_packets == written);  // every write reached the stack
  CHECK(written == received + socket_drops + link_drops);
  CHECK(socket_drops > 0);  // the socket really overflowed
}
