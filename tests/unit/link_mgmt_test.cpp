// Unit tests of link management beyond the basics (link_test.cpp): txqueuelen, MAC address,
// rename, statistics, point-to-point addresses, routes, configure() with rollback. Each
// operation is checked for its request (marshalling), its effect on the fake kernel, and its
// errno paths with the exact message.
#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/link.hpp"
#include "tunkit/mac.hpp"

using test::sys;
using test::thrown_by;
using test::World;
using tunkit::AddressInfo;
using tunkit::IpAddress;
using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::MacAddress;
using tunkit::Route;
using tunkit::RouteProtocol;

namespace {

using test::kNeedsNetAdmin;

std::string what(const tunkit::Error& e) {
  return e.what();
}

Route route_to(const char* destination) {
  Route r;
  r.destination = IpPrefix::parse(destination);
  return r;
}

Route route_via(const char* destination, const char* gateway, std::uint32_t metric = 0) {
  Route r = route_to(destination);
  r.gateway = IpAddress::parse(gateway);
  r.metric = metric;
  return r;
}

}  // namespace

// --- txqueuelen ---------------------------------------------------------------------------------

TEST_CASE("set_txqueuelen sends IFLA_TXQLEN and txqueuelen() reads it back", "[link][txqlen]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  CHECK(link.txqueuelen() == 500);
  link.set_txqueuelen(1000);
  const auto& r = w.last();
  CHECK(r.type == RTM_NEWLINK);
  CHECK(r.flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(r.ifindex == w.ifindex());
  CHECK(r.ifi_change == 0);
  REQUIRE(r.attributes.size() == 1);
  CHECK(r.attributes[0].type == IFLA_TXQLEN);
  CHECK(r.attributes[0].u32() == 1000U);
  CHECK(w.record().txqlen == 1000);
  CHECK(link.txqueuelen() == 1000);
  CHECK(link.state().txqueuelen == 1000);

  w.rtnl.set_net_admin(false);
  CHECK_THROWS_WITH(
      link.set_txqueuelen(10),
      std::string("tunkit: set txqueuelen 10 on \"tun0\": operation not permitted (") +
          kNeedsNetAdmin + ")");
  std::error_code ec;
  link.set_txqueuelen(10, ec);
  CHECK(ec == sys(EPERM));
}

TEST_CASE("txqueuelen bounds the fake TUN queue as it does the driver's ring", "[link][txqlen]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.set_txqueuelen(2);
  const std::byte packet[20] = {std::byte{0x45}};
  CHECK(w.kernel.inject("tun0", packet) >= 0);
  CHECK(w.kernel.inject("tun0", packet) >= 0);
  CHECK(w.kernel.inject("tun0", packet) == -1);  // the third is dropped
  CHECK(link.statistics().tx_dropped == 1);
}

// --- MAC address --------------------------------------------------------------------------------

TEST_CASE("set_mac sends IFLA_ADDRESS; mac() reads it", "[link][mac]") {
  World w(tunkit::Mode::tap, "tap0");
  Link link(w.ifindex(), w.kernel);
  REQUIRE(link.mac().has_value());  // a TAP device has one from the start
  CHECK(link.state().mac == link.mac());

  const MacAddress mac({0x02, 0x00, 0x5e, 0x00, 0x53, 0x01});
  link.set_mac(mac);
  const auto& r = w.last();
  CHECK(r.type == RTM_NEWLINK);
  CHECK(r.ifindex == w.ifindex());
  REQUIRE(r.attributes.size() == 1);
  CHECK(r.attributes[0].type == IFLA_ADDRESS);
  CHECK(r.attributes[0].payload == test::bytes_of(mac));
  CHECK(w.record().mac == mac);
  CHECK(link.mac() == mac);

  link.set_up();  // TAP accepts a new address while up (IFF_LIVE_ADDR_CHANGE)
  const MacAddress random = link.set_random_mac();
  CHECK_FALSE(random.is_multicast());
  CHECK((random.bytes[0] & 0x02U) != 0);
  CHECK(link.mac() == random);
}

TEST_CASE("MAC address errors", "[link][mac][errors]") {
  SECTION("a TUN device has none: EOPNOTSUPP") {
    World w;
    Link link(w.ifindex(), w.kernel);
    CHECK_FALSE(link.mac().has_value());
    const auto e = thrown_by([&] { link.set_mac(MacAddress({0x02, 0, 0, 0, 0, 1})); });
    CHECK(e.code() == sys(EOPNOTSUPP));
    CHECK(what(e) ==
          "tunkit: set MAC address 02:00:00:00:00:01 on \"tun0\": operation not supported (this "
          "device has no link-layer address to set (TUN devices have none; TAP devices do))");
  }
  SECTION("multicast and all-zero addresses are refused before any request") {
    World w(tunkit::Mode::tap, "tap0");
    Link link(w.ifindex(), w.kernel);
    w.rtnl.clear_requests();
    const auto mac = GENERATE(MacAddress({0x03, 0, 0, 0, 0, 1}), MacAddress::broadcast(),
                              MacAddress({0, 0, 0, 0, 0, 0}));
    const auto e = thrown_by([&] { link.set_mac(mac); });
    CHECK(e.code() == tunkit::errc::invalid_address);
    CHECK(what(e) == "tunkit: set MAC address " + mac.to_string() +
                         " on \"tap0\": invalid MAC address (a device address must be unicast "
                         "and not all zeros)");
    CHECK(w.rtnl.requests().empty());
  }
  SECTION("the kernel's EADDRNOTAVAIL reads the same") {
    World w(tunkit::Mode::tap, "tap0");
    Link link(w.ifindex(), w.kernel);
    w.rtnl.fail_next(RTM_NEWLINK, EADDRNOTAVAIL);
    CHECK_THROWS_WITH(link.set_mac(MacAddress({0x02, 0, 0, 0, 0, 1})),
                      "tunkit: set MAC address 02:00:00:00:00:01 on \"tap0\": address not "
                      "assigned (a device address must be unicast and not all zeros)");
  }
}

// --- rename -------------------------------------------------------------------------------------

TEST_CASE("rename checks the state, then sends IFLA_IFNAME", "[link][rename]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  w.rtnl.clear_requests();
  link.rename("wan0");
  REQUIRE(w.rtnl.requests().size() == 2);
  CHECK(w.rtnl.requests()[0].type == RTM_GETLINK);
  const auto& r = w.rtnl.requests()[1];
  CHECK(r.type == RTM_NEWLINK);
  CHECK(r.ifindex == w.ifindex());
  REQUIRE(r.attributes.size() == 1);
  CHECK(r.attributes[0].type == IFLA_IFNAME);
  CHECK(r.attributes[0].str() == "wan0");
  CHECK(w.record().name == "wan0");
  CHECK(link.name() == "wan0");
  CHECK(link.state().name == "wan0");
  CHECK(w.kernel.exists("wan0"));

  SECTION("a template: the kernel picks the number") {
    link.rename("vpn%d");
    CHECK(link.name() == "vpn0");
    CHECK(w.record().name == "vpn0");
  }
}

TEST_CASE("rename errors", "[link][rename][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  SECTION("the interface is up: EBUSY without a change request") {
    link.set_up();
    w.rtnl.clear_requests();
    const auto e = thrown_by([&] { link.rename("wan0"); });
    CHECK(e.code() == sys(EBUSY));
    CHECK(what(e) ==
          "tunkit: rename \"tun0\" to \"wan0\": device busy (the interface is up: set it down "
          "first)");
    CHECK(w.sent(RTM_NEWLINK).empty());
    CHECK(link.name() == "tun0");
  }
  SECTION("the kernel says EBUSY itself (it went up meanwhile)") {
    w.rtnl.fail_next(RTM_NEWLINK, EBUSY);
    CHECK_THROWS_WITH(link.rename("wan0"),
                      "tunkit: rename \"tun0\" to \"wan0\": device busy (the interface is up: "
                      "set it down first)");
  }
  SECTION("the name is taken") {
    w.kernel.add_interface("eth0");
    const auto e = thrown_by([&] { link.rename("eth0"); });
    CHECK(e.code() == sys(EEXIST));
    CHECK(what(e) ==
          "tunkit: rename \"tun0\" to \"eth0\": already exists (another interface has that "
          "name)");
  }
  SECTION("names the kernel would refuse, before any request") {
    w.rtnl.clear_requests();
    auto e = thrown_by([&] { link.rename("a-name-of-16-chr"); });
    CHECK(e.code() == tunkit::errc::name_too_long);
    CHECK(what(e) ==
          "tunkit: rename \"tun0\" to \"a-name-of-16-chr\": interface name too long (at most 15 "
          "bytes)");
    e = thrown_by([&] { link.rename("a/b"); });
    CHECK(e.code() == tunkit::errc::invalid_name);
    CHECK(what(e) ==
          "tunkit: rename \"tun0\" to \"a/b\": invalid interface name (no '/', ':' or "
          "whitespace, not \".\" or \"..\", at most one \"%d\")");
    e = thrown_by([&] { link.rename(""); });
    CHECK(what(e) == "tunkit: rename \"tun0\" to \"\": invalid interface name (the name is empty)");
    CHECK(w.rtnl.requests().empty());
  }
}

// --- statistics ---------------------------------------------------------------------------------

TEST_CASE("statistics() reads IFLA_STATS64 counters", "[link][stats]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  CHECK(link.statistics() == tunkit::LinkStats{});
  link.set_up();
  const std::byte ip[40] = {std::byte{0x45}};
  for (int i = 0; i < 3; ++i)
    (void)w.dev.write(ip);                   // the interface receives what the program writes
  (void)w.kernel.inject("tun0", ip);         // and transmits what the stack sends into it
  CHECK(link.statistics().tx_packets == 0);  // counted when the program reads it, as the driver
  std::array<std::byte, 64> buf{};
  CHECK(w.dev.read(buf) == 40);
  const tunkit::LinkStats s = link.statistics();
  CHECK(s.rx_packets == 3);
  CHECK(s.rx_bytes == 120);
  CHECK(s.tx_packets == 1);
  CHECK(s.tx_bytes == 40);
  CHECK(s.rx_errors == 0);
  CHECK(s.tx_errors == 0);
  CHECK(s.rx_dropped == 0);
  CHECK(s.tx_dropped == 0);
  CHECK(link.state().stats == s);
  CHECK(w.last().type == RTM_GETLINK);
}

// --- point-to-point addresses -------------------------------------------------------------------

TEST_CASE("A point-to-point address sends IFA_LOCAL and the peer in IFA_ADDRESS", "[link][peer]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  SECTION("IPv4") {
    const auto local = IpAddress::parse("10.1.0.1");
    const auto peer = IpPrefix::parse("10.1.0.2/32");
    link.add_address(local, peer);
    const auto add = w.last();
    CHECK(add.type == RTM_NEWADDR);
    CHECK(add.flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
    CHECK(add.family == AF_INET);
    CHECK(add.prefix_length == 32);
    REQUIRE(add.attributes.size() == 2);
    CHECK(add.find(IFA_LOCAL)->payload == test::bytes_of(local));
    CHECK(add.find(IFA_ADDRESS)->payload == test::bytes_of(peer.address));

    const auto details = link.address_details();
    REQUIRE(details.size() == 1);
    CHECK(details[0].prefix == IpPrefix{local, 32});
    CHECK(details[0].peer == peer.address);
    CHECK(details[0].scope == tunkit::AddressScope::global);
    CHECK_FALSE(details[0].secondary);
    CHECK((details[0].flags & IFA_F_PERMANENT) != 0);
    CHECK(link.addresses() == std::vector<IpPrefix>{IpPrefix{local, 32}});

    // The kernel routes the peer through the interface while it is up.
    link.set_up();
    const auto routes = link.routes();
    REQUIRE(routes.size() == 2);  // and IPv6's fe80::/64 for the link-local address
    CHECK(routes[0].destination == peer);
    CHECK(routes[0].protocol == RouteProtocol::kernel);
    CHECK(routes[0].source == local);

    link.remove_address(local, peer);
    const auto del = w.last();
    CHECK(del.type == RTM_DELADDR);
    CHECK(del.find(IFA_LOCAL)->payload == test::bytes_of(local));
    CHECK(del.find(IFA_ADDRESS)->payload == test::bytes_of(peer.address));
    CHECK(link.addresses().size() == 1);  // the link-local address
    CHECK(link.routes().size() == 1);     // its route
  }
  SECTION("IPv6") {
    const auto local = IpAddress::parse("fd00::1");
    const auto peer = IpPrefix::parse("fd00::2/128");
    link.add_address(local, peer);
    const auto add = w.last();
    CHECK(add.family == AF_INET6);
    CHECK(add.prefix_length == 128);
    CHECK(add.find(IFA_LOCAL)->payload == test::bytes_of(local));
    CHECK(add.find(IFA_ADDRESS)->payload == test::bytes_of(peer.address));
    const auto details = link.address_details();
    REQUIRE(details.size() == 1);
    CHECK(details[0].prefix == IpPrefix{local, 128});
    CHECK(details[0].peer == peer.address);
    link.remove_address(local, peer);
    CHECK(link.addresses().empty());
  }
}

TEST_CASE("Point-to-point address errors", "[link][peer][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  w.rtnl.clear_requests();
  auto e = thrown_by(
      [&] { link.add_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("fd00::2/128")); });
  CHECK(e.code() == tunkit::errc::invalid_address);
  CHECK(what(e) ==
        "tunkit: add address 10.1.0.1 peer fd00::2/128 on \"tun0\": invalid IP address or prefix "
        "(the local address is IPv4 but the peer is IPv6)");
  CHECK(w.rtnl.requests().empty());

  link.add_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.0.2/32"));
  e = thrown_by(
      [&] { link.add_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.0.2/32")); });
  CHECK(e.code() == sys(EEXIST));
  CHECK(what(e) == "tunkit: add address 10.1.0.1 peer 10.1.0.2/32 on \"tun0\": already exists");
  e = thrown_by(
      [&] { link.remove_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.9.9/32")); });
  CHECK(e.code() == sys(EADDRNOTAVAIL));
  CHECK(what(e) ==
        "tunkit: remove address 10.1.0.1 peer 10.1.9.9/32 from \"tun0\": address not assigned "
        "(no assigned address matches local address, peer and prefix length)");
}

TEST_CASE("address_details() reports scopes and secondaries", "[link][address]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.add_address(IpPrefix::parse("10.0.0.2/24"));  // same subnet: secondary
  link.set_up();                                     // adds the IPv6 link-local address
  const auto details = link.address_details();
  REQUIRE(details.size() == 3);
  CHECK(details[0].prefix == IpPrefix::parse("10.0.0.1/24"));
  CHECK_FALSE(details[0].secondary);
  CHECK(details[1].prefix == IpPrefix::parse("10.0.0.2/24"));
  CHECK(details[1].secondary);
  CHECK(details[2].scope == tunkit::AddressScope::link);
  CHECK_FALSE(details[2].peer.has_value());
}

// --- routes -------------------------------------------------------------------------------------

TEST_CASE("add_route sends RTM_NEWROUTE for the main table", "[link][route]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();

  SECTION("IPv4 on the link: scope link, RTPROT_STATIC") {
    link.add_route(route_to("10.9.0.0/16"));
    const auto& r = w.last();
    CHECK(r.type == RTM_NEWROUTE);
    CHECK(r.flags == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
    CHECK(r.family == AF_INET);
    CHECK(r.prefix_length == 16);
    CHECK(r.table == RT_TABLE_MAIN);
    CHECK(r.protocol == RTPROT_STATIC);
    CHECK(r.scope == RT_SCOPE_LINK);
    CHECK(r.route_type == RTN_UNICAST);
    REQUIRE(r.attributes.size() == 2);
    CHECK(r.find(RTA_DST)->payload == std::vector<std::uint8_t>{10, 9, 0, 0});
    CHECK(r.find(RTA_OIF)->u32() == w.ifindex());
    CHECK(r.find(RTA_GATEWAY) == nullptr);
    CHECK(r.find(RTA_PRIORITY) == nullptr);  // metric 0: the kernel's default
  }
  SECTION("IPv4 via a gateway with a metric: scope universe") {
    Route route = route_via("10.9.0.0/16", "10.0.0.254", 5);
    route.protocol = RouteProtocol::boot;
    link.add_route(route);
    const auto& r = w.last();
    CHECK(r.scope == RT_SCOPE_UNIVERSE);
    CHECK(r.protocol == RTPROT_BOOT);
    CHECK(r.find(RTA_GATEWAY)->payload == std::vector<std::uint8_t>{10, 0, 0, 254});
    CHECK(r.find(RTA_PRIORITY)->u32() == 5U);
    REQUIRE(w.rtnl.routes().size() == 1);
    CHECK(w.rtnl.routes()[0].gateway == IpAddress::parse("10.0.0.254"));
  }
  SECTION("the default route has no RTA_DST") {
    link.add_route(route_via("0.0.0.0/0", "10.0.0.254"));
    CHECK(w.last().prefix_length == 0);
    CHECK(w.last().find(RTA_DST) == nullptr);
  }
  SECTION("a preferred source") {
    Route route = route_to("10.9.0.0/16");
    route.source = IpAddress::parse("10.0.0.1");
    link.add_route(route);
    CHECK(w.last().find(RTA_PREFSRC)->payload == std::vector<std::uint8_t>{10, 0, 0, 1});
  }
  SECTION("IPv6") {
    link.add_route(route_to("fd09::/64"));
    const auto& r = w.last();
    CHECK(r.family == AF_INET6);
    CHECK(r.prefix_length == 64);
    CHECK(r.find(RTA_DST)->payload.size() == 16);
  }
}

TEST_CASE("routes() lists this interface's main-table routes, the kernel's included",
          "[link][route]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.add_address(IpPrefix::parse("fd00::1/64"));
  link.set_up();
  link.add_route(route_via("10.9.0.0/16", "10.0.0.254", 5));
  link.add_route(route_to("fd09::/64"));  // metric 0: IPv6 makes it 1024

  // Another interface's route is not listed.
  w.kernel.add_interface("eth0");
  Link other = Link::from_name("eth0", w.kernel);
  other.add_address(IpPrefix::parse("192.168.1.1/24"));
  other.set_up();
  other.add_route(route_to("172.16.0.0/12"));

  w.rtnl.clear_requests();
  const auto routes = link.routes();
  const auto dumps = w.sent(RTM_GETROUTE);
  REQUIRE(dumps.size() == 2);
  CHECK(dumps[0].family == AF_INET);
  CHECK(dumps[1].family == AF_INET6);
  CHECK(dumps[0].flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(dumps[0].attributes.empty());

  Route v4_prefix = route_to("10.0.0.0/24");
  v4_prefix.protocol = RouteProtocol::kernel;
  v4_prefix.source = IpAddress::parse("10.0.0.1");
  Route v4_static = route_via("10.9.0.0/16", "10.0.0.254", 5);
  Route v6_prefix = route_to("fd00::/64");
  v6_prefix.protocol = RouteProtocol::kernel;
  v6_prefix.metric = 256;
  Route link_local = route_to("fe80::/64");
  link_local.protocol = RouteProtocol::kernel;
  link_local.metric = 256;
  Route v6_static = route_to("fd09::/64");
  v6_static.metric = 1024;
  CHECK(routes == std::vector<Route>{v4_prefix, v4_static, v6_prefix, v6_static, link_local});
}

TEST_CASE("remove_route sends RTM_DELROUTE matching any protocol and scope", "[link][route]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();
  Route route = route_via("10.9.0.0/16", "10.0.0.254", 5);
  route.protocol = RouteProtocol::boot;
  link.add_route(route);
  route.protocol = RouteProtocol::static_route;  // ignored when removing
  link.remove_route(route);
  const auto& r = w.last();
  CHECK(r.type == RTM_DELROUTE);
  CHECK(r.flags == (NLM_F_REQUEST | NLM_F_ACK));
  CHECK(r.protocol == RTPROT_UNSPEC);
  CHECK(r.scope == RT_SCOPE_NOWHERE);
  CHECK(r.route_type == RTN_UNSPEC);
  CHECK(r.table == RT_TABLE_MAIN);
  CHECK(r.find(RTA_DST)->payload == std::vector<std::uint8_t>{10, 9, 0, 0});
  CHECK(r.find(RTA_GATEWAY)->payload == std::vector<std::uint8_t>{10, 0, 0, 254});
  CHECK(r.find(RTA_PRIORITY)->u32() == 5U);
  CHECK(r.find(RTA_OIF)->u32() == w.ifindex());
  CHECK(w.rtnl.routes().empty());

  // IPv6 with metric 0 matches the 1024 the kernel gave it.
  link.add_route(route_to("fd09::/64"));
  link.remove_route(route_to("fd09::/64"));
  CHECK(w.rtnl.routes().empty());
}

TEST_CASE("Routes go with the interface's state as in the kernel", "[link][route]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();
  link.add_route(route_via("10.9.0.0/16", "10.0.0.254"));
  link.add_route(route_to("fd09::/64"));
  REQUIRE(w.rtnl.routes().size() == 2);

  SECTION("down drops them") {
    link.set_down();
    CHECK(w.rtnl.routes().empty());
  }
  SECTION("removing the address drops the route through its gateway") {
    link.remove_address(IpPrefix::parse("10.0.0.1/24"));
    REQUIRE(w.rtnl.routes().size() == 1);
    CHECK(w.rtnl.routes()[0].destination.address.is_v6());
  }
  SECTION("an MTU below 1280 drops the IPv6 ones") {
    link.set_mtu(1200);
    REQUIRE(w.rtnl.routes().size() == 1);
    CHECK(w.rtnl.routes()[0].destination.address.is_v4());
  }
}

TEST_CASE("Route errors name the route, the device and the fix", "[link][route][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));

  SECTION("the interface is down: ENETDOWN (both families)") {
    const char* dst = GENERATE("10.9.0.0/16", "fd09::/64");
    const auto e = thrown_by([&] { link.add_route(route_to(dst)); });
    CHECK(e.code() == sys(ENETDOWN));
    CHECK(what(e) == std::string("tunkit: add route ") + dst +
                         " on \"tun0\": network is down (the interface is down: set it up "
                         "first)");
  }
  SECTION(
      "down, with a gateway in the interface's subnet: ENETDOWN, not the kernel's ENETUNREACH") {
    // The kernel answers ENETUNREACH (IPv6: EHOSTUNREACH) for a gateway on a down interface,
    // whose hint would send the user to add an address they have. tunkit looks at the link.
    link.add_address(IpPrefix::parse("fd00::1/64"));
    for (const auto& [dst, gw] :
         {std::pair{"10.9.0.0/16", "10.0.0.254"}, std::pair{"fd09::/64", "fd00::fe"}}) {
      INFO(dst);
      std::error_code ec;
      link.add_route(route_via(dst, gw), ec);
      CHECK(ec == sys(ENETDOWN));
      const auto e = thrown_by([&] { link.add_route(route_via(dst, gw)); });
      CHECK(e.code() == sys(ENETDOWN));
      CHECK(what(e) == std::string("tunkit: add route ") + dst + " via " + gw +
                           " on \"tun0\": network is down (the interface is down: set it up "
                           "first)");
    }
    link.set_up();
    CHECK_NOTHROW(link.add_route(route_via("10.9.0.0/16", "10.0.0.254")));
  }
  SECTION("a gateway off the interface's networks") {
    link.set_up();
    auto e = thrown_by([&] { link.add_route(route_via("10.9.0.0/16", "10.200.0.1")); });
    CHECK(e.code() == sys(ENETUNREACH));
    CHECK(what(e) ==
          "tunkit: add route 10.9.0.0/16 via 10.200.0.1 on \"tun0\": network is unreachable (the "
          "gateway 10.200.0.1 is not on a network this interface reaches: add an address in its "
          "subnet first)");
    e = thrown_by([&] { link.add_route(route_via("fd09::/64", "fd00::99")); });
    CHECK(e.code() == sys(EHOSTUNREACH));
    CHECK(what(e) ==
          "tunkit: add route fd09::/64 via fd00::99 on \"tun0\": no route to host (the gateway "
          "fd00::99 is not on a network this interface reaches: add an address in its subnet "
          "first)");
  }
  SECTION("the same route twice: EEXIST") {
    link.set_up();
    link.add_route(route_to("10.9.0.0/16"));
    const auto e = thrown_by([&] { link.add_route(route_to("10.9.0.0/16")); });
    CHECK(e.code() == sys(EEXIST));
    CHECK(what(e) ==
          "tunkit: add route 10.9.0.0/16 on \"tun0\": already exists (a route to this "
          "destination with this metric exists)");
  }
  SECTION("removing an absent route: ESRCH, said as \"no such route\"") {
    link.set_up();
    const auto e = thrown_by([&] { link.remove_route(route_via("10.12.0.0/16", "10.0.0.9", 7)); });
    CHECK(e.code() == sys(ESRCH));
    CHECK(what(e) ==
          "tunkit: remove route 10.12.0.0/16 via 10.0.0.9 metric 7 from \"tun0\": no such route "
          "(no route through this interface matches destination, gateway and metric)");
  }
  SECTION("IPv6 below an MTU of 1280: ENODEV with the reason") {
    link.set_up();
    link.set_mtu(1200);
    CHECK_THROWS_WITH(link.add_route(route_to("fd09::/64")),
                      "tunkit: add route fd09::/64 on \"tun0\": no such device (IPv6 needs an MTU "
                      "of at least 1280; this interface has 1200)");
  }
  SECTION("checked before any request") {
    link.set_up();
    w.rtnl.clear_requests();
    auto e = thrown_by([&] { link.add_route(route_to("10.11.0.1/16")); });
    CHECK(e.code() == tunkit::errc::invalid_address);
    CHECK(what(e) ==
          "tunkit: add route 10.11.0.1/16 on \"tun0\": invalid IP address or prefix (host bits "
          "are set: the network is 10.11.0.0/16)");
    e = thrown_by([&] { link.add_route(route_via("10.9.0.0/16", "fd00::1")); });
    CHECK(what(e) ==
          "tunkit: add route 10.9.0.0/16 via fd00::1 on \"tun0\": invalid IP address or prefix "
          "(the gateway is IPv6 but the destination is IPv4)");
    Route bad_source = route_to("10.9.0.0/16");
    bad_source.source = IpAddress::parse("fd00::1");
    e = thrown_by([&] { link.add_route(bad_source); });
    CHECK(what(e) ==
          "tunkit: add route 10.9.0.0/16 on \"tun0\": invalid IP address or prefix (the source "
          "is IPv6 but the destination is IPv4)");
    Route too_long;
    too_long.destination = IpPrefix{IpAddress::parse("10.0.0.0"), 33};
    e = thrown_by([&] { link.remove_route(too_long); });
    CHECK(what(e) ==
          "tunkit: remove route 10.0.0.0/33 from \"tun0\": invalid IP address or prefix (the "
          "prefix length of an IPv4 address is at most 32)");
    CHECK(w.rtnl.requests().empty());
  }
  SECTION("a source that is no local address: EINVAL") {
    link.set_up();
    Route route = route_to("10.9.0.0/16");
    route.source = IpAddress::parse("10.0.0.77");
    CHECK_THROWS_WITH(link.add_route(route),
                      "tunkit: add route 10.9.0.0/16 on \"tun0\": invalid argument (is the "
                      "source 10.0.0.77 an address of this host?)");
  }
  SECTION("without CAP_NET_ADMIN") {
    w.rtnl.set_net_admin(false);
    CHECK_THROWS_WITH(link.add_route(route_to("10.9.0.0/16")),
                      std::string("tunkit: add route 10.9.0.0/16 on \"tun0\": operation not "
                                  "permitted (") +
                          kNeedsNetAdmin + ")");
    CHECK(link.routes().empty());  // reading needs no privilege
  }
}

TEST_CASE("Errno table of the new operations: each comes back as its errno", "[link][errors]") {
  World w(tunkit::Mode::tap, "tap0");
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();
  link.add_route(route_to("10.9.0.0/16"));
  const auto [type, err, op] = GENERATE(table<std::uint16_t, int, int>({
      {RTM_NEWLINK, ENOBUFS, 0},  // txqueuelen
      {RTM_NEWLINK, EBUSY, 1},    // MAC address
      {RTM_NEWLINK, EEXIST, 2},   // rename
      {RTM_NEWROUTE, ENOMEM, 3},  // add route
      {RTM_DELROUTE, EPERM, 4},   // remove route
      {RTM_GETROUTE, EIO, 5},     // routes
      {RTM_GETLINK, EACCES, 6},   // statistics
      {RTM_NEWADDR, ENOBUFS, 7},  // peer address
      {RTM_NEWLINK, EINVAL, 8},   // move (namespace)
  }));
  CAPTURE(type, err, op);
  if (op == 2) link.set_down();
  w.rtnl.fail_next(type, err);
  std::error_code ec;
  switch (op) {
    case 0:
      link.set_txqueuelen(7, ec);
      break;
    case 1:
      link.set_mac(MacAddress({0x02, 1, 2, 3, 4, 5}), ec);
      break;
    case 2:
      link.rename("wan0", ec);
      break;
    case 3:
      link.add_route(route_to("10.10.0.0/16"), ec);
      break;
    case 4:
      link.remove_route(route_to("10.9.0.0/16"), ec);
      break;
    case 5:
      (void)link.routes(ec);
      break;
    case 6:
      (void)link.statistics(ec);
      break;
    case 7:
      link.add_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.0.2/32"), ec);
      break;
    default:
      link.move_to_netns_of(::getpid(), ec);
      break;
  }
  CHECK(ec == sys(err));
  CHECK(link.state().name == "tap0");  // and the Link stays usable
}

// --- configure ----------------------------------------------------------------------------------

TEST_CASE("configure applies MTU, addresses, up and routes in order", "[link][configure]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  w.rtnl.clear_requests();
  link.configure({.mtu = 1400,
                  .txqueuelen = 1000,
                  .addresses = {IpPrefix::parse("10.0.0.1/24"), IpPrefix::parse("fd00::1/64")},
                  .up = true,
                  .routes = {route_via("10.9.0.0/16", "10.0.0.2"), route_to("fd09::/64")}});
  std::vector<std::uint16_t> changes;
  for (const auto& r : w.rtnl.requests()) {
    if (r.type != RTM_GETLINK) changes.push_back(r.type);
  }
  CHECK(changes == std::vector<std::uint16_t>{RTM_NEWLINK, RTM_NEWLINK, RTM_NEWADDR, RTM_NEWADDR,
                                              RTM_NEWLINK, RTM_NEWROUTE, RTM_NEWROUTE});
  const auto s = link.state();
  CHECK(s.mtu == 1400);
  CHECK(s.txqueuelen == 1000);
  CHECK(s.up);
  CHECK(w.rtnl.routes().size() == 2);
  CHECK(link.addresses().size() == 3);  // with the link-local address
}

TEST_CASE("A failed configure undoes the steps before it", "[link][configure][errors]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  const auto before = link.state();
  const tunkit::LinkConfig config{
      .mtu = 1400,
      .txqueuelen = 900,
      .addresses = {IpPrefix::parse("10.0.0.1/24"), IpPrefix::parse("fd00::1/64")},
      .up = true,
      .routes = {route_to("10.9.0.0/16"), route_via("10.10.0.0/16", "10.200.0.1")}};

  SECTION("throwing form: the failed step's message, then the rollback") {
    const auto e = thrown_by([&] { link.configure(config); });
    CHECK(e.code() == sys(ENETUNREACH));
    CHECK(what(e) ==
          "tunkit: add route 10.10.0.0/16 via 10.200.0.1 on \"tun0\": network is unreachable "
          "(the gateway 10.200.0.1 is not on a network this interface reaches: add an address "
          "in its subnet first); the steps before it were undone");
  }
  SECTION("ec form") {
    std::error_code ec;
    link.configure(config, ec);
    CHECK(ec == sys(ENETUNREACH));
  }
  SECTION("a failure in the middle (an address the kernel refuses)") {
    w.rtnl.fail_next(RTM_NEWADDR, EACCES);  // the first address fails
    std::error_code ec;
    link.configure(config, ec);
    CHECK(ec == sys(EACCES));
  }
  const auto after = link.state();
  CHECK(after.mtu == before.mtu);
  CHECK(after.txqueuelen == before.txqueuelen);
  CHECK(after.up == before.up);
  CHECK(link.addresses().empty());
  CHECK(w.rtnl.routes().empty());
}

TEST_CASE("configure leaves an interface that was up, up", "[link][configure]") {
  World w(tunkit::Mode::tap, "tap0");
  Link link(w.ifindex(), w.kernel);
  link.set_up();
  const auto mac_before = link.mac();
  std::error_code ec;
  link.configure({.mac = MacAddress({0x02, 0, 0, 0, 0, 9}),
                  .addresses = {IpPrefix::parse("10.0.0.1/24")},
                  .up = true,
                  .routes = {route_to("10.9.0.0/15")}},  // host bits: refused
                 ec);
  CHECK(ec == tunkit::errc::invalid_address);
  CHECK(link.state().up);
  CHECK(link.mac() == mac_before);
  CHECK(link.addresses().size() == 1);  // only the link-local address it had
}
