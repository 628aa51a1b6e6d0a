// Offloads against the real kernel: what TUNSETOFFLOAD grants, a UDP GSO send arriving as one
// super-packet with its gso_size, and bad virtio-net headers stopped before the kernel.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <vector>

#include "catch.hpp"
#include "tunkit/offload.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

using tunkit::Offload;

TEST_CASE("the running kernel grants CSUM, TSO and USO", "[netns][offload]") {
  tunkit::testing::NetNsSandbox sandbox;
  const auto wanted = Offload::csum | Offload::tso4 | Offload::tso6 | Offload::tso_ecn |
                      Offload::uso4 | Offload::uso6;
  tunkit::TunDevice dev({.name = "tkoff0", .vnet_hdr = true, .offloads = wanted});
  CHECK(dev.offloads() == wanted);
  CHECK(dev.flags().has(tunkit::Flag::vnet_hdr));
}

TEST_CASE("a UDP GSO send arrives as one super-packet with its gso_size", "[netns][offload]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkgso0",
                         .vnet_hdr = true,
                         .offloads = Offload::csum | Offload::uso4 | Offload::uso6,
                         .non_blocking = true});
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.92.0.1/24"));
  link.set_up();

  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  const int gso_size = 1000;
  REQUIRE(::setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &gso_size, sizeof gso_size) == 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  REQUIRE(::inet_pton(AF_INET, "10.92.0.2", &to.sin_addr) == 1);
  std::vector<char> payload(4 * 1000 + 321, 'g');  // four full segments and a short one
  REQUIRE(::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to) == static_cast<ssize_t>(payload.size()));
  ::close(s);

  std::array<std::byte, 65536 + 64> buf{};
  bool found = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (!found && std::chrono::steady_clock::now() < deadline) {
    if (dev.wait_readable(std::chrono::milliseconds(100)) != tunkit::WaitResult::ready) continue;
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    if (ec) continue;
    const auto bytes = std::span<const std::byte>(buf).first(n);
    const auto hdr = tunkit::VirtioNetHeader::parse(bytes);
    REQUIRE(hdr);
    const auto pkt = tunkit::parse_ip(bytes.subspan(tunkit::VirtioNetHeader::legacy_size));
    if (!pkt || pkt->udp() == nullptr || pkt->udp()->dst_port() != 9999) continue;
    found = true;
    CHECK(hdr->gso_type == tunkit::GsoType::udp_l4);
    CHECK(hdr->gso_size == gso_size);
    CHECK(pkt->udp()->payload().size() == payload.size());
    // Split in user space, it is the five datagrams the application would have sent one by one.
    std::array<std::array<std::byte, 1500>, 8> out{};
    std::array<std::span<std::byte>, 8> spans{};
    for (std::size_t i = 0; i < out.size(); ++i)
      spans[i] = out[i];
    std::array<std::size_t, 8> sizes{};
    const auto count =
        tunkit::gso_split(*hdr, bytes.subspan(tunkit::VirtioNetHeader::legacy_size), spans, sizes);
    REQUIRE(count);
    CHECK(*count == 5);
    CHECK(sizes[4] == 20 + 8 + 321);
  }
  CHECK(found);
}

TEST_CASE("bad virtio-net headers are refused before they reach the kernel", "[netns][offload]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tkbad0", .vnet_hdr = true});
  tunkit::Link(dev.ifindex()).set_up();
  // A valid 28-byte IPv4/UDP packet behind a header that claims TCPv4 GSO with gso_size 0.
  std::array<std::byte, 10 + 28> frame{};
  frame[0] = std::byte{0};      // flags
  frame[1] = std::byte{1};      // gso_type TCPV4
  frame[10] = std::byte{0x45};  // IPv4
  frame[13] = std::byte{28};
  frame[18] = std::byte{64};
  frame[19] = std::byte{17};
  try {
    dev.write(frame);
    FAIL("written");
  } catch (const std::system_error& e) {
    CHECK(e.code() == tunkit::errc::invalid_vnet_header);
    CHECK(std::string(e.what()).starts_with("tunkit: write \"tkbad0\": invalid"));
    // The type the header names, not NONE (the pre-write check is check()'s own first part).
    CHECK(std::string(e.what()).find("gso_size 0 with gso_type TCPV4") != std::string::npos);
  }
  frame[1] = std::byte{0};
  frame[2] = std::byte{200};  // gso_type none, hdr_len 200 > 28
  std::error_code ec;
  dev.write(frame, ec);
  CHECK(ec == tunkit::errc::invalid_vnet_header);
  frame[2] = std::byte{0};
  frame[1] = std::byte{9};  // unknown gso type
  dev.write(frame, ec);
  CHECK(ec == tunkit::errc::invalid_vnet_header);
  frame[1] = std::byte{0};  // all well: the kernel takes it
  CHECK(dev.write(frame) == frame.size());
}
