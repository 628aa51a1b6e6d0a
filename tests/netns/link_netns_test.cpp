// tunkit::Link against the real kernel's rtnetlink, each test in its own network namespace: the
// configuration is read back through Link itself and cross-checked with `ip -j addr show`.
#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/capability.h>
#include <linux/if.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tun_info.hpp"

namespace {

using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::TunDevice;
using tunkit::testing::NetNsSandbox;

using netns_test::named;

using netns_test::output_of;

// `ip -j addr show dev NAME`: the JSON holds "local":"ADDRESS","prefixlen":LEN per address.
bool ip_shows(const std::string& json, const IpPrefix& p) {
  return json.find("\"local\":\"" + p.address.to_string() +
                   "\",\"prefixlen\":" + std::to_string(p.length)) != std::string::npos;
}

bool contains(const std::vector<IpPrefix>& list, const IpPrefix& p) {
  return std::find(list.begin(), list.end(), p) != list.end();
}

using netns_test::open_fd_count;

using netns_test::thrown_by;

using netns_test::sys;

// Drops CAP_NET_ADMIN from the calling thread's effective set (capabilities are per thread) and
// restores it on destruction; the permitted set keeps it, so it can come back.
class WithoutNetAdmin {
 public:
  WithoutNetAdmin() {
    header_.version = _LINUX_CAPABILITY_VERSION_3;
    header_.pid = 0;  // the calling thread
    REQUIRE(::syscall(SYS_capget, &header_, saved_.data()) == 0);
    auto dropped = saved_;
    dropped[CAP_NET_ADMIN / 32].effective &= ~(1U << (CAP_NET_ADMIN % 32));
    REQUIRE(::syscall(SYS_capset, &header_, dropped.data()) == 0);
  }
  ~WithoutNetAdmin() { (void)::syscall(SYS_capset, &header_, saved_.data()); }
  WithoutNetAdmin(const WithoutNetAdmin&) = delete;
  WithoutNetAdmin& operator=(const WithoutNetAdmin&) = delete;

 private:
  __user_cap_header_struct header_{};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> saved_{};
};

}  // namespace

TEST_CASE("Link configures a TUN device and reads it back", "[netns][link]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  CHECK(link.name() == "tun0");
  CHECK(link.ifindex() == dev.ifindex());

  const auto v4 = IpPrefix::parse("10.23.45.67/24");
  const auto v6 = IpPrefix::parse("fd00:23::1/64");
  link.set_mtu(1400);
  link.add_address(v4);
  link.add_address(v6);
  link.set_up();

  const tunkit::LinkState s = link.state();
  CHECK(s.name == "tun0");
  CHECK(s.ifindex == dev.ifindex());
  CHECK(s.mtu == 1400);
  CHECK(s.min_mtu == 68);
  CHECK(s.max_mtu == 65535);
  CHECK(s.up);
  CHECK(s.running);  // a TUN device with a reader has carrier
  CHECK(s.lower_up);
  CHECK((s.flags & IFF_POINTOPOINT) != 0);

  const auto addresses = link.addresses();
  CHECK(contains(addresses, v4));
  CHECK(contains(addresses, v6));
  CHECK(addresses.front() == v4);  // IPv4 first, as the kernel dumps
  CHECK(std::none_of(addresses.begin(), addresses.end(), [](const IpPrefix& p) {
    return p.address.to_string().rfind("127.", 0) == 0;  // lo's addresses are not tun0's
  }));

  std::string json = output_of("ip -j addr show dev tun0");
  CAPTURE(json);
  CHECK(ip_shows(json, v4));
  CHECK(ip_shows(json, v6));
  CHECK(json.find("\"mtu\":1400") != std::string::npos);
  CHECK(json.find("\"UP\"") != std::string::npos);

  const Link by_name = Link::from_name("tun0");
  CHECK(by_name.ifindex() == dev.ifindex());
  CHECK(by_name.addresses() == link.addresses());

  link.remove_address(v4);
  CHECK_FALSE(contains(link.addresses(), v4));
  CHECK(contains(link.addresses(), v6));
  json = output_of("ip -j addr show dev tun0");
  CHECK_FALSE(ip_shows(json, v4));
  CHECK(ip_shows(json, v6));

  link.set_down();
  const tunkit::LinkState down = link.state();
  CHECK_FALSE(down.up);
  CHECK_FALSE(down.running);
  CHECK(output_of("ip -j link show dev tun0").find("\"UP\"") == std::string::npos);
}

TEST_CASE("list_tun_devices and find_tun_device report the link as Link::state does",
          "[netns][link][tun_info]") {
  // TunDeviceInfo::link is the same LinkState as Link::state(): txqueuelen, counters and the
  // MAC address included.
  NetNsSandbox sandbox;
  tunkit::Options o = named("tap0");
  o.mode = tunkit::Mode::tap;
  TunDevice tap(o);
  Link link(tap.ifindex());
  link.set_txqueuelen(321);
  link.set_up();
  // One frame written into the device: received, in its counters (an EtherType nobody handles,
  // so nothing answers).
  std::vector<std::byte> frame(60, std::byte{0});
  for (std::size_t i = 0; i < 6; ++i)
    frame[i] = std::byte{0xff};
  frame[6] = std::byte{0x02};
  frame[12] = std::byte{0x88};
  frame[13] = std::byte{0xb5};
  REQUIRE(tap.write(frame) == frame.size());
  const tunkit::LinkState expected = link.state();
  REQUIRE(expected.mac);
  REQUIRE(expected.stats.rx_packets == 1);

  const std::vector<tunkit::TunDeviceInfo> list = tunkit::list_tun_devices();
  REQUIRE(list.size() == 1);
  const std::optional<tunkit::TunDeviceInfo> found = tunkit::find_tun_device("tap0");
  REQUIRE(found);
  for (const tunkit::TunDeviceInfo& info : {list[0], *found}) {
    const tunkit::LinkState& got = info.link;
    CHECK(got.name == "tap0");
    CHECK(got.ifindex == tap.ifindex());
    CHECK(got.mtu == expected.mtu);
    CHECK(got.txqueuelen == 321);
    CHECK(got.mac == expected.mac);
    CHECK(info.mac == expected.mac);
    CHECK(got.stats.rx_packets == expected.stats.rx_packets);
    CHECK(got.stats.rx_bytes == expected.stats.rx_bytes);
  }
}

TEST_CASE("Link reports the kernel's errors in plain words", "[netns][link][errors]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  const std::size_t fds = open_fd_count();

  SECTION("an MTU beyond the device's maximum") {
    const auto e = thrown_by([&] { link.set_mtu(70000); });
    CHECK(e.code() == tunkit::errc::out_of_range);
    CHECK(e.code() == std::errc::invalid_argument);
    CHECK(std::string(e.what()) == "tunkit: set MTU 70000 on \"tun0\": out of range (68..65535)");
    CHECK(link.state().mtu == 1500);
  }
  SECTION("the same address twice") {
    const auto p = GENERATE(as<std::string>{}, "10.23.45.67/24", "fd00:23::1/64");
    link.add_address(IpPrefix::parse(p));
    const auto e = thrown_by([&] { link.add_address(IpPrefix::parse(p)); });
    CHECK(e.code() == sys(EEXIST));
    CHECK(std::string(e.what()) == "tunkit: add address " + p + " on \"tun0\": already exists");
  }
  SECTION("removing an address that is not there") {
    link.add_address(IpPrefix::parse("10.23.45.67/24"));
    const auto e = thrown_by([&] { link.remove_address(IpPrefix::parse("10.23.45.67/25")); });
    CHECK(e.code() == sys(EADDRNOTAVAIL));
    CHECK(std::string(e.what()) ==
          "tunkit: remove address 10.23.45.67/25 from \"tun0\": address "
          "not assigned (no assigned address matches both address and "
          "prefix length)");
  }
  SECTION("IPv6 below an MTU of 1280") {
    link.set_mtu(1200);
    CHECK_THROWS_WITH(link.add_address(IpPrefix::parse("fd00:23::1/64")),
                      "tunkit: add address fd00:23::1/64 on \"tun0\": invalid argument (IPv6 "
                      "needs an MTU of at least 1280; this interface has 1200)");
  }
  SECTION("no such interface") {
    auto e = thrown_by([] { Link missing(9999); });
    CHECK(e.code() == tunkit::errc::link_not_found);
    CHECK(std::string(e.what()) ==
          "tunkit: look up interface index 9999: no such network interface");
    e = thrown_by([] { (void)Link::from_name("nope0"); });
    CHECK(e.code() == tunkit::errc::link_not_found);
  }
  SECTION("the interface was deleted") {
    dev.close();  // the last descriptor of a non-persistent device: the kernel deletes it
    const auto e = thrown_by([&] { link.set_up(); });
    CHECK(e.code() == sys(ENODEV));
    CHECK(std::string(e.what()) ==
          "tunkit: set up \"tun0\": no such device (the interface no longer exists)");
    std::error_code ec;
    CHECK(link.addresses(ec).empty());
    CHECK(ec == sys(ENODEV));
  }
  SECTION("changes without CAP_NET_ADMIN") {
    link.add_address(IpPrefix::parse("10.23.45.67/24"));
    const WithoutNetAdmin unprivileged;
    const auto e = thrown_by([&] { link.set_up(); });
    CHECK(e.code() == sys(EPERM));
    CHECK(std::string(e.what()) ==
          "tunkit: set up \"tun0\": operation not permitted (needs "
          "CAP_NET_ADMIN in the interface's network namespace)");
    // Reading needs no privilege.
    CHECK(contains(link.addresses(), IpPrefix::parse("10.23.45.67/24")));
  }
  CHECK(open_fd_count() == fds - (dev.is_open() ? 0 : 2));  // the device's two descriptors
}
