// XDP on TUN/TAP devices against the real kernel: a program that drops everything makes the
// packets a program writes into the device vanish before the stack, detaching restores
// delivery; replace is atomic and checked; the modes each device kind has; the refusals.
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "bpf_programs.hpp"
#include "catch.hpp"
#include "netns_helpers.hpp"
#include "privilege_skip.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

using namespace std::chrono_literals;
using tunkit::Link;
using tunkit::XdpAttachMode;
using tunkit::XdpMode;

namespace {

constexpr int kXdpBurst = 50;

// A loaded program's descriptor, closed at the end.
struct XdpProgram {
  int fd;
  explicit XdpProgram(int action)
      : fd(tunkit::test::load_bpf_program(tunkit::test::xdp_return(action))) {}
  XdpProgram(const XdpProgram&) = delete;
  XdpProgram& operator=(const XdpProgram&) = delete;
  ~XdpProgram() { ::close(fd); }
  [[nodiscard]] std::uint32_t id() const { return tunkit::test::bpf_program_id(fd); }
};

// Writes `count` UDP datagrams 10.96.0.2:4000 -> 10.96.0.1:9 into the device (the stack takes
// them as received on it), then counts what the socket bound to 10.96.0.1:9 gets within 1 s.
int xdp_write_and_count(tunkit::TunDevice& dev, int count) {
  netns_test::UdpSocket rx;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(9);
  ::inet_pton(AF_INET, "10.96.0.1", &sa.sin_addr);
  REQUIRE(::bind(rx.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  const timeval tv{0, 100000};
  ::setsockopt(rx.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::array<std::byte, 16> data{};
  std::array<std::byte, 128> packet{};
  for (int i = 0; i < count; ++i) {
    const auto n = tunkit::build_udp_datagram({.src = tunkit::IpAddress::parse("10.96.0.2"),
                                               .dst = tunkit::IpAddress::parse("10.96.0.1"),
                                               .src_port = 4000,
                                               .dst_port = 9,
                                               .data = data,
                                               .identification = static_cast<std::uint16_t>(i)},
                                              packet);
    REQUIRE(n);
    dev.write(std::span(packet.data(), *n));
  }
  int received = 0;
  const auto until = std::chrono::steady_clock::now() + 1s;
  std::array<char, 64> buf{};
  while (received < count && std::chrono::steady_clock::now() < until) {
    if (::recv(rx.fd, buf.data(), buf.size(), 0) > 0) ++received;
  }
  return received;
}

}  // namespace

TEST_CASE("XDP_DROP on a TUN device: written packets vanish, detached, they arrive",
          "[netns][xdp]") {
  tunkit::testing::NetNsSandbox sandbox;
  if (!tunkit::test::may_load_bpf()) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  tunkit::TunDevice dev({.name = "xdptun0"});
  Link link(dev.ifindex());
  link.configure({.addresses = {tunkit::IpPrefix::parse("10.96.0.1/24")}, .up = true});
  CHECK(link.xdp() == tunkit::XdpInfo{});
  CHECK(xdp_write_and_count(dev, kXdpBurst) == kXdpBurst);  // the path works without a program

  const XdpProgram drop(XDP_DROP);
  link.attach_xdp(drop.fd);  // a TUN device: generic, the only mode it has
  const auto info = link.xdp();
  CHECK(info.mode == XdpMode::generic);
  CHECK(info.prog_id == drop.id());
  CHECK(netns_test::output_of("ip -d link show xdptun0").find("xdpgeneric") != std::string::npos);
  const auto before = link.statistics();
  CHECK(xdp_write_and_count(dev, kXdpBurst) == 0);
  const auto after = link.statistics();
  INFO("rx_packets " << before.rx_packets << " -> " << after.rx_packets << ", rx_dropped "
                     << before.rx_dropped << " -> " << after.rx_dropped);
  // Measured on Linux 6.18: the driver counts every written packet as received (rx_packets)
  // before generic XDP runs, and an XDP_DROP is not counted as rx_dropped: the counters show
  // the packets arriving and the socket shows none leaving the stack.
  CHECK(after.rx_packets - before.rx_packets == static_cast<std::uint64_t>(kXdpBurst));
  CHECK(after.rx_dropped == before.rx_dropped);

  link.detach_xdp();
  CHECK(link.xdp() == tunkit::XdpInfo{});
  CHECK(xdp_write_and_count(dev, kXdpBurst) == kXdpBurst);
  link.detach_xdp();  // nothing attached: success
}

TEST_CASE("XDP replace is atomic and checked, attach never replaces", "[netns][xdp]") {
  tunkit::testing::NetNsSandbox sandbox;
  if (!tunkit::test::may_load_bpf()) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  tunkit::TunDevice dev({.name = "xdptun1"});
  Link link(dev.ifindex());
  link.configure({.addresses = {tunkit::IpPrefix::parse("10.96.0.1/24")}, .up = true});
  const XdpProgram drop(XDP_DROP);
  const XdpProgram pass(XDP_PASS);
  const XdpProgram other(XDP_PASS);
  link.attach_xdp(drop.fd, XdpAttachMode::generic);

  std::error_code ec;
  link.attach_xdp(pass.fd, XdpAttachMode::generic, ec);
  CHECK(ec == std::error_code(EBUSY, std::system_category()));
  const auto e = netns_test::thrown_by([&] { link.attach_xdp(pass.fd, XdpAttachMode::generic); });
  CHECK(std::string(e.what()).find(fmt::format("program {} (generic mode) is already attached",
                                               drop.id())) != std::string::npos);

  link.replace_xdp(pass.fd, drop.fd, XdpAttachMode::generic);
  CHECK(link.xdp().prog_id == pass.id());
  CHECK(xdp_write_and_count(dev, kXdpBurst) == kXdpBurst);
  // The expected program is no longer attached: refused, nothing changes.
  link.replace_xdp(other.fd, drop.fd, XdpAttachMode::generic, ec);
  CHECK(ec == std::error_code(EEXIST, std::system_category()));
  CHECK(link.xdp().prog_id == pass.id());
  link.detach_xdp();
}

TEST_CASE("XDP modes: TUN has generic only, TAP native too, what is not an XDP program",
          "[netns][xdp]") {
  tunkit::testing::NetNsSandbox sandbox;
  if (!tunkit::test::may_load_bpf()) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  tunkit::TunDevice tun({.name = "xdptun2"});
  tunkit::TunDevice tap({.name = "xdptap2", .mode = tunkit::Mode::tap});
  Link tun_link(tun.ifindex());
  Link tap_link(tap.ifindex());
  const XdpProgram pass(XDP_PASS);

  std::error_code ec;
  tun_link.attach_xdp(pass.fd, XdpAttachMode::native, ec);
  CHECK(ec == std::error_code(EOPNOTSUPP, std::system_category()));
  CHECK(netns_test::thrown_by([&] {
          tun_link.attach_xdp(pass.fd, XdpAttachMode::native);
        }).what() == std::string("tunkit: attach XDP program (native mode) to \"xdptun2\": "
                                 "operation not supported (TUN devices have generic XDP only: "
                                 "attach in generic mode)"));
  tun_link.attach_xdp(pass.fd);  // any: generic on a TUN device
  CHECK(tun_link.xdp().mode == XdpMode::generic);

  tap_link.attach_xdp(pass.fd);  // any: native on a TAP device
  CHECK(tap_link.xdp().mode == XdpMode::native);
  CHECK(tap_link.xdp().native_prog_id == pass.id());
  // Native and generic cannot both be active.
  tap_link.attach_xdp(pass.fd, XdpAttachMode::generic, ec);
  CHECK(ec == std::error_code(EEXIST, std::system_category()));
  tap_link.detach_xdp();
  CHECK(tap_link.xdp().mode == XdpMode::none);
  tap_link.attach_xdp(pass.fd, XdpAttachMode::generic);
  CHECK(tap_link.xdp().mode == XdpMode::generic);
  tap_link.detach_xdp();  // detaches the generic program although the device has native XDP
  CHECK(tap_link.xdp().mode == XdpMode::none);
  tun_link.detach_xdp();

  // A socket filter is not an XDP program; a closed descriptor is not a program.
  const int filter =
      tunkit::test::load_bpf_program(tunkit::test::xdp_return(0), BPF_PROG_TYPE_SOCKET_FILTER);
  tun_link.attach_xdp(filter, XdpAttachMode::any, ec);
  CHECK(ec == std::error_code(EINVAL, std::system_category()));
  ::close(filter);
  tun_link.attach_xdp(filter, XdpAttachMode::any, ec);
  CHECK(ec == std::error_code(EBADF, std::system_category()));
}
