// tunkit::Ethtool against the real kernel's ethtool netlink family, each test in its own network
// namespace: values set are read back by tunkit and by `ethtool` itself where installed (Debian
// package ethtool, in ./dev's test packages).
#include <optional>
#include <string>
#include <system_error>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/ethtool.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

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
