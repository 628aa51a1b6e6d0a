#include "tunkit/tun_info.hpp"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

using tunkit::Flag;
using tunkit::Mode;
using tunkit::TunDeviceInfo;
using tunkit::testing::FakeKernel;

TEST_CASE("list_tun_devices reports every TUN/TAP device with its driver flags", "[tun_info]") {
  FakeKernel kernel;
  (void)kernel.add_interface("eth0");  // not a TUN/TAP device: never listed
  (void)kernel.add_persistent_device("ptap0", Mode::tap, Flag::no_pi | Flag::multi_queue, 1000,
                                     100);
  tunkit::TunDevice dev({.name = "tun0", .packet_info = true, .vnet_hdr = true}, kernel);
  tunkit::TunDevice mq({.name = "mq0", .queues = 3}, kernel);
  kernel.rtnetlink().clear_requests();

  const std::vector<TunDeviceInfo> list = tunkit::list_tun_devices(kernel);
  REQUIRE(list.size() == 3);
  // One dump, filtered by kind as the kernel allows since 4.20.
  REQUIRE(kernel.rtnetlink().requests().size() == 1);
  const auto& request = kernel.rtnetlink().requests().front();
  CHECK(request.type == RTM_GETLINK);
  CHECK(request.has_flags(NLM_F_DUMP));
  CHECK(request.find(IFLA_LINKINFO) != nullptr);

  const TunDeviceInfo& tap = list[0];  // by ifindex: in order of creation
  CHECK(tap.link.name == "ptap0");
  CHECK(tap.mode == Mode::tap);
  CHECK_FALSE(tap.packet_info);
  CHECK(tap.multi_queue);
  CHECK(tap.persist);
  CHECK(tap.owner == 1000U);
  CHECK(tap.group == 100U);
  CHECK(tap.queues == 0U);
  CHECK(tap.disabled_queues == 0U);
  CHECK(tap.flags() == (Flag::tap | Flag::no_pi | Flag::multi_queue | Flag::persist));

  const TunDeviceInfo& tun = list[1];
  CHECK(tun.link.name == "tun0");
  CHECK(tun.link.ifindex == dev.ifindex());
  CHECK(tun.link.mtu == 1500);
  CHECK(tun.mode == Mode::tun);
  CHECK(tun.packet_info);
  CHECK(tun.vnet_hdr);
  CHECK_FALSE(tun.persist);
  CHECK_FALSE(tun.owner);
  CHECK_FALSE(tun.group);
  CHECK_FALSE(tun.queues);  // the kernel counts queues of multi-queue devices only
  CHECK(tun.flags() == (Flag::tun | Flag::vnet_hdr));

  CHECK(list[2].link.name == "mq0");
  CHECK(list[2].queues == 3U);
  CHECK(kernel.rtnetlink().open_sockets() == 0);
}

TEST_CASE("list_tun_devices and find_tun_device report the link as Link::state does",
          "[tun_info]") {
  // Both read the same RTM_NEWLINK answer as Link::state(): txqueuelen, counters and the MAC
  // address of a TAP device included.
  FakeKernel kernel;
  tunkit::TunDevice tap({.name = "tap0", .mode = Mode::tap}, kernel);
  tunkit::Link link(tap.ifindex(), kernel);
  link.set_txqueuelen(321);
  kernel.rtnetlink().count_packet(tap.ifindex(), true, 100);
  kernel.rtnetlink().count_packet(tap.ifindex(), false, 60);
  kernel.rtnetlink().count_packet(tap.ifindex(), false, 60, true);
  const tunkit::LinkState expected = link.state();
  REQUIRE(expected.mac);
  REQUIRE(expected.stats.rx_packets == 1);

  const std::vector<TunDeviceInfo> list = tunkit::list_tun_devices(kernel);
  REQUIRE(list.size() == 1);
  const std::optional<TunDeviceInfo> found = tunkit::find_tun_device("tap0", kernel);
  REQUIRE(found);
  for (const TunDeviceInfo& info : {list[0], *found}) {
    const tunkit::LinkState& got = info.link;
    CHECK(got.name == expected.name);
    CHECK(got.ifindex == expected.ifindex);
    CHECK(got.mtu == expected.mtu);
    CHECK(got.flags == expected.flags);
    CHECK(got.min_mtu == expected.min_mtu);
    CHECK(got.max_mtu == expected.max_mtu);
    CHECK(got.txqueuelen == 321);
    CHECK(got.mac == expected.mac);
    CHECK(got.stats == expected.stats);
    CHECK(info.mac == expected.mac);
  }
}

TEST_CASE("find_tun_device looks one device up by name", "[tun_info]") {
  FakeKernel kernel;
  (void)kernel.add_interface("eth0");
  (void)kernel.add_persistent_device("tap7", Mode::tap, Flag::vnet_hdr);

  SECTION("a TUN/TAP device") {
    const auto info = tunkit::find_tun_device("tap7", kernel);
    REQUIRE(info);
    CHECK(info->mode == Mode::tap);
    CHECK(info->vnet_hdr);
    CHECK(info->packet_info);  // created without NO_PI
    const tunkit::Options o = info->attach_options();
    CHECK(o.name == "tap7");
    CHECK(o.mode == Mode::tap);
    CHECK(o.vnet_hdr);
    CHECK(o.packet_info);
    CHECK_FALSE(o.multi_queue);
    // Attaching with those options works and leaves the device's flags as they were.
    tunkit::TunDevice dev(o, kernel);
    CHECK(kernel.device("tap7")->flags == (Flag::tap | Flag::vnet_hdr | Flag::persist));
  }
  SECTION("another kind of interface, or none: nullopt without an error") {
    std::error_code ec;
    CHECK_FALSE(tunkit::find_tun_device("eth0", ec, kernel));
    CHECK_FALSE(ec);
    CHECK_FALSE(tunkit::find_tun_device("nothere", ec, kernel));
    CHECK_FALSE(ec);
  }
  SECTION("bad names are refused before any request") {
    std::error_code ec;
    CHECK_FALSE(tunkit::find_tun_device("a-name-of-16-chr", ec, kernel));
    CHECK(ec == tunkit::errc::name_too_long);
    CHECK_FALSE(tunkit::find_tun_device("", ec, kernel));
    CHECK(ec == tunkit::errc::invalid_name);
    CHECK(kernel.rtnetlink().requests().empty());
  }
}

TEST_CASE("list_tun_devices reports rtnetlink failures", "[tun_info]") {
  FakeKernel kernel;
  kernel.rtnetlink().fail_next(RTM_GETLINK, ENOBUFS);
  std::error_code ec;
  CHECK(tunkit::list_tun_devices(ec, kernel).empty());
  CHECK(ec == std::error_code(ENOBUFS, std::system_category()));

  kernel.fail_next(FakeKernel::Call::socket, EMFILE);
  try {
    (void)tunkit::list_tun_devices(kernel);
    FAIL("no exception");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == std::error_code(EMFILE, std::system_category()));
    CHECK(std::string(e.what()).starts_with("tunkit: list TUN/TAP devices: "));
  }
  CHECK(kernel.open_fd_count() == 0);
}
