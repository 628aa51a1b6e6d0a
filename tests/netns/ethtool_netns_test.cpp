// tunkit::Ethtool against the real kernel's ethtool netlink family, each test in its own network
// namespace: values set are read back by tunkit and by `ethtool` itself where installed (Debian
// package ethtool, in ./dev's test packages).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/ethtool.hpp"
#include "tunkit/link.hpp"
#include "tunkit/packet.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/vnet.hpp"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace {

using netns_test::named;
using netns_test::output_of;
using netns_test::thrown_by;
using tunkit::Duplex;
using tunkit::Ethtool;
using tunkit::TunDevice;
using tunkit::testing::NetNsSandbox;

bool ethtool_installed() {
  return output_of("command -v ethtool").find("ethtool") != std::string::npos;
}

std::optional<tunkit::Feature> ethtool_feature(const std::vector<tunkit::Feature>& all,
                                               std::string_view name) {
  const auto it = std::find_if(all.begin(), all.end(),
                               [&](const tunkit::Feature& f) { return f.name == name; });
  if (it == all.end()) return std::nullopt;
  return *it;
}

// The line `ethtool -k DEV` prints for `name` ("tx-udp-segmentation: off [requested on]").
std::string ethtool_k_line(const std::string& dev, const std::string& name) {
  const std::string out = output_of("ethtool -k " + dev);
  const auto at = out.find("\t" + name + ": ");
  if (at == std::string::npos) {
    const auto top = out.find("\n" + name + ": ");
    if (top == std::string::npos) return {};
    return out.substr(top + 1, out.find('\n', top + 1) - top - 1);
  }
  return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
}

// Sends `segments` datagrams of 1000 bytes to 10.95.0.2:9999 in one UDP_SEGMENT send, and
// counts what the device's reader gets for that port: packets, and how many were GSO
// super-packets.
std::pair<int, int> ethtool_uso_burst(TunDevice& dev, int segments) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  const int gso_size = 1000;
  REQUIRE(::setsockopt(s, IPPROTO_UDP, UDP_SEGMENT, &gso_size, sizeof gso_size) == 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  REQUIRE(::inet_pton(AF_INET, "10.95.0.2", &to.sin_addr) == 1);
  const std::vector<char> payload(static_cast<std::size_t>(segments) * 1000, 'e');
  REQUIRE(::sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                   sizeof to) == static_cast<ssize_t>(payload.size()));
  ::close(s);
  std::array<std::byte, 65536 + 64> buf{};
  int packets = 0;
  int super = 0;
  std::size_t bytes_seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (bytes_seen < payload.size() && std::chrono::steady_clock::now() < deadline) {
    if (dev.wait_readable(std::chrono::milliseconds(100)) != tunkit::WaitResult::ready) continue;
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    if (ec) continue;
    const auto bytes = std::span<const std::byte>(buf).first(n);
    const auto hdr = tunkit::VirtioNetHeader::parse(bytes);
    REQUIRE(hdr);
    const auto pkt = tunkit::parse_ip(bytes.subspan(tunkit::VirtioNetHeader::legacy_size));
    if (!pkt || pkt->udp() == nullptr || pkt->udp()->dst_port() != 9999) continue;
    ++packets;
    if (hdr->gso_type == tunkit::GsoType::udp_l4) ++super;
    bytes_seen += pkt->udp()->payload().size();
  }
  return {packets, super};
}

}  // namespace

TEST_CASE("Ethtool reads tun's default link settings and stores speed and duplex",
          "[netns][ethtool]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Ethtool ethtool(dev.ifindex());

  // Measured (Linux 6.1, `ethtool tun0`): tun starts at 10000 Mb/s (older kernels: 10), full
  // duplex, autoneg off.
  const auto before = ethtool.link_settings();
  REQUIRE(before.speed.has_value());
  CHECK(before.duplex == Duplex::full);
  CHECK_FALSE(before.autoneg);

  const std::uint32_t speed = *before.speed == 1000 ? 100 : 1000;
  ethtool.set_link_settings({.speed = speed, .duplex = Duplex::half});
  const auto after = ethtool.link_settings();
  CHECK(after.speed == std::optional<std::uint32_t>(speed));
  CHECK(after.duplex == Duplex::half);
  if (ethtool_installed()) {
    const std::string out = output_of("ethtool tun0");
    CHECK(out.find("Speed: " + std::to_string(speed) + "Mb/s") != std::string::npos);
    CHECK(out.find("Duplex: Half") != std::string::npos);
  }

  // Only the fields given change; tun stores any speed (measured: 0 and 4000000 too).
  ethtool.set_link_settings({.duplex = Duplex::full});
  CHECK(ethtool.link_settings().speed == std::optional<std::uint32_t>(speed));
  CHECK(ethtool.link_settings().duplex == Duplex::full);
  ethtool.set_link_settings({.speed = 4000000});
  CHECK(ethtool.link_settings().speed == std::optional<std::uint32_t>(4000000));
  if (ethtool_installed()) {
    const std::string out = output_of("ethtool tun0");
    CHECK(out.find("Speed: 4000000Mb/s") != std::string::npos);
    CHECK(out.find("Duplex: Full") != std::string::npos);
  }
}

TEST_CASE("Ethtool sets and reads the message level", "[netns][ethtool]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Ethtool ethtool(dev.ifindex());
  std::error_code ec;
  const std::uint32_t initial = ethtool.message_level(ec);
  REQUIRE_FALSE(ec);
  const std::uint32_t level = 0x3;  // NETIF_MSG_DRV | NETIF_MSG_PROBE
  ethtool.set_message_level(level);
  CHECK(ethtool.message_level() == level);
  ethtool.set_message_level(initial == 0x5 ? 0x9 : 0x5);
  CHECK(ethtool.message_level() == (initial == 0x5 ? 0x9U : 0x5U));
  ethtool.set_message_level(level);
  if (ethtool_installed()) {
    CHECK(output_of("ethtool tun0").find("Current message level: 0x00000003") != std::string::npos);
  }
  // Bits past the kernel's NETIF_MSG_* set are refused, with the kernel's own words.
  const auto e = thrown_by([&] { ethtool.set_message_level(0x80000000U); });
  CHECK(e.code() == netns_test::sys(EINVAL));
  INFO(e.what());
  // Measured: "cannot modify bits past kernel bitset size".
  CHECK(std::string(e.what()).find("kernel: cannot modify bits past kernel bitset size") !=
        std::string::npos);
  CHECK(ethtool.message_level() == level);
}

TEST_CASE("Ethtool sets rx-frames, tun's rx_batched, and caps it", "[netns][ethtool]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Ethtool ethtool(dev.ifindex());
  CHECK(ethtool.rx_frames() == 0);
  ethtool.set_rx_frames(16);
  CHECK(ethtool.rx_frames() == 16);
  if (ethtool_installed()) {
    CHECK(output_of("ethtool -c tun0").find("rx-frames: 16\n") != std::string::npos);
  }
  ethtool.set_rx_frames(1000);  // tun_set_coalesce caps at NAPI_POLL_WEIGHT
  CHECK(ethtool.rx_frames() == 64);
}

TEST_CASE("Ethtool on a vanished interface fails with ENODEV", "[netns][ethtool]") {
  NetNsSandbox sandbox;
  unsigned ifindex = 0;
  {
    TunDevice dev(named("tun0"));
    ifindex = dev.ifindex();
  }
  Ethtool ethtool(ifindex);
  std::error_code ec;
  (void)ethtool.link_settings(ec);
  CHECK(ec == netns_test::sys(ENODEV));
  const auto e = thrown_by([&] { (void)ethtool.rx_frames(); });
  CHECK(e.code() == netns_test::sys(ENODEV));
}

TEST_CASE("Ethtool reads the driver's name and bus: tun, tun or tap", "[netns][ethtool]") {
  NetNsSandbox sandbox;
  TunDevice tun(named("tun0"));
  TunDevice tap(named("tap0", tunkit::Mode::tap));
  const tunkit::DriverInfo t = Ethtool(tun.ifindex()).driver_info();
  CHECK(t.driver == "tun");
  CHECK(t.bus_info == "tun");
  CHECK_FALSE(t.version.empty());
  const tunkit::DriverInfo p = Ethtool::from_name("tap0").driver_info();
  CHECK(p.driver == "tun");
  CHECK(p.bus_info == "tap");
  if (ethtool_installed()) {
    const std::string out = output_of("ethtool -i tap0");
    CHECK(out.find("driver: tun\n") != std::string::npos);
    CHECK(out.find("version: " + p.version + "\n") != std::string::npos);
    CHECK(out.find("bus-info: tap\n") != std::string::npos);
  }
  const auto e = thrown_by([] { (void)Ethtool::from_name("nosuch0"); });
  CHECK(e.code() == tunkit::errc::link_not_found);
}

TEST_CASE("Ethtool features: TUN offloads are requested, active once offered, and switchable",
          "[netns][ethtool]") {
  NetNsSandbox sandbox;
  // No offloads offered: the offloads are off, whatever was asked for.
  TunDevice dev({.name = "tun0", .vnet_hdr = true, .non_blocking = true});
  Ethtool ethtool(dev.ifindex());
  auto all = ethtool.features();
  auto uso = ethtool_feature(all, "tx-udp-segmentation");
  REQUIRE(uso);
  CHECK_FALSE(uso->active);
  CHECK_FALSE(uso->fixed);
  const auto gro = ethtool_feature(all, "rx-gro");
  REQUIRE(gro);
  CHECK(gro->active);
  // Every feature the kernel names, the fixed ones too, as ethtool lists them.
  const auto csum = ethtool_feature(all, "rx-checksum");
  REQUIRE(csum);
  CHECK(csum->fixed);
  CHECK_FALSE(csum->active);
  if (ethtool_installed()) {
    CHECK(ethtool_k_line("tun0", "rx-checksumming") == "rx-checksumming: off [fixed]");
    // Each line of `ethtool -k` whose name is a kernel name (some go by older ones there)
    // agrees with what tunkit read: on/off and [fixed].
    std::istringstream k(output_of("ethtool -k tun0"));
    int compared = 0;
    for (std::string line; std::getline(k, line);) {
      const auto colon = line.find(": ");
      if (colon == std::string::npos) continue;
      const auto f = ethtool_feature(
          all, line.substr(line.find_first_not_of('\t'), colon - line.find_first_not_of('\t')));
      if (!f) continue;
      INFO(line);
      CHECK(line.substr(colon + 2).starts_with("on") == f->active);
      CHECK((line.find("[fixed]") != std::string::npos) == f->fixed);
      ++compared;
    }
    CHECK(compared > 20);
  }
  // Asked for by ethtool, it stays off until the reader offers it (tun_net_fix_features).
  const auto asked =
      ethtool.set_features(std::vector<tunkit::FeatureChange>{{"tx-udp-segmentation", true}});
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].requested);
  CHECK_FALSE(asked[0].active);
  if (ethtool_installed()) {
    CHECK(ethtool_k_line("tun0", "tx-udp-segmentation") ==
          "tx-udp-segmentation: off [requested on]");
  }

  // Offered by the reader: active. Then off by ethtool's request: inactive, and a UDP_SEGMENT
  // send reaches the reader as separate datagrams instead of one super-packet.
  (void)dev.set_offloads(tunkit::Offload::csum | tunkit::Offload::uso4 | tunkit::Offload::uso6);
  uso = ethtool_feature(ethtool.features(), "tx-udp-segmentation");
  REQUIRE(uso);
  CHECK(uso->active);
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.95.0.1/24"));
  link.set_up();
  const auto [packets_on, super_on] = ethtool_uso_burst(dev, 4);
  CHECK(packets_on == 1);
  CHECK(super_on == 1);

  const std::vector<tunkit::Feature> changed =
      ethtool.set_features(std::vector<tunkit::FeatureChange>{{"tx-udp-segmentation", false}});
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].name == "tx-udp-segmentation");
  CHECK_FALSE(changed[0].active);
  CHECK_FALSE(changed[0].requested);
  if (ethtool_installed()) {
    CHECK(ethtool_k_line("tun0", "tx-udp-segmentation") == "tx-udp-segmentation: off");
  }
  const auto [packets_off, super_off] = ethtool_uso_burst(dev, 4);
  CHECK(packets_off == 4);
  CHECK(super_off == 0);

  // A group name changes its changeable members; ethtool agrees.
  const auto tso = ethtool.set_features(std::vector<tunkit::FeatureChange>{{"tso", false}});
  CHECK(std::any_of(tso.begin(), tso.end(),
                    [](const tunkit::Feature& f) { return f.name == "tx-tcp-segmentation"; }));
  for (const auto& f : tso) {
    INFO(f.name);
    CHECK_FALSE(f.requested);
  }
  ethtool.set_features(std::vector<tunkit::FeatureChange>{{"gro", false}});
  CHECK_FALSE(ethtool_feature(ethtool.features(), "rx-gro")->active);
  if (ethtool_installed()) {
    CHECK(ethtool_k_line("tun0", "generic-receive-offload") == "generic-receive-offload: off");
  }

  // Refusals change nothing: a fixed feature, an unknown name (the whole request is refused).
  const std::vector<tunkit::FeatureChange> fixed{{"rx-gro", true}, {"rx-checksum", true}};
  auto e = thrown_by([&] { (void)ethtool.set_features(fixed); });
  CHECK(e.code() == tunkit::errc::feature_fixed);
  CHECK(std::string(e.what()) ==
        "tunkit: set feature rx-checksum \"interface index " + std::to_string(dev.ifindex()) +
            "\": feature fixed by the driver (the driver does not let it change)");
  CHECK_FALSE(ethtool_feature(ethtool.features(), "rx-gro")->active);
  e = thrown_by([&] {
    (void)ethtool.set_features(std::vector<tunkit::FeatureChange>{{"tx-warp-drive", true}});
  });
  CHECK(e.code() == tunkit::errc::unknown_feature);
  CHECK(e.code() == std::errc::invalid_argument);
}
