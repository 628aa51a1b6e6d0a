// Link management against the real kernel, each test in its own network namespace: the state is
// read back through tunkit and cross-checked by parsing `ip -j addr` / `ip -j link` /
// `ip -j route` (run in the test's namespace: children inherit the calling thread's).
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "json.hpp"
#include "netns_helpers.hpp"
#include "privilege_skip.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/link_events.hpp"
#include "tunkit/netns.hpp"
#include "tunkit/packet/checksum.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

namespace {

using namespace std::chrono_literals;
using tunkit::IpAddress;
using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::LinkEventType;
using tunkit::NetNs;
using tunkit::Route;
using tunkit::RouteProtocol;
using tunkit::TunDevice;
using tunkit::testing::NetNsSandbox;
namespace json = test::json;

using netns_test::named;

using netns_test::output_of;

// `ip -j ...` parsed; a test failure when it is not JSON.
json::Value ip(const std::string& args) {
  const std::string out = output_of("ip -j " + args);
  CAPTURE(args, out);
  try {
    return json::parse(out);
  } catch (const std::exception& e) {
    FAIL("ip -j " << args << ": " << e.what());
  }
  return {};
}

// The one interface object of `ip -j [-d|-s] link|addr show dev NAME`.
json::Value ip_dev(const std::string& what, const std::string& name) {
  const json::Value v = ip(what + " show dev " + name);
  REQUIRE(v.is_array());
  REQUIRE(v.array().size() == 1);
  return v.array()[0];
}

// The entry of `ip -j [-6] route show dev NAME` whose "dst" is `dst`, if any.
std::optional<json::Value> ip_route(const std::string& family, const std::string& name,
                                    const std::string& dst) {
  const json::Value v = ip(family + " route show dev " + name);
  REQUIRE(v.is_array());
  for (const json::Value& r : v.array()) {
    if (r.text("dst") == dst) return r;
  }
  return std::nullopt;
}

// The addr_info entry of `ip -j addr` with this local address.
std::optional<json::Value> ip_address(const std::string& name, const IpAddress& local) {
  const json::Value dev = ip_dev("addr", name);
  const json::Value* info = dev.find("addr_info");
  if (info == nullptr) return std::nullopt;
  for (const json::Value& a : info->array()) {
    if (a.text("local") == local.to_string()) return a;
  }
  return std::nullopt;
}

using netns_test::thrown_by;

using netns_test::sys;

Route route_to(const char* dst, std::optional<const char*> gateway = {}, std::uint32_t metric = 0) {
  Route r;
  r.destination = IpPrefix::parse(dst);
  if (gateway) r.gateway = IpAddress::parse(*gateway);
  r.metric = metric;
  return r;
}

// The calling thread's network namespace, as the kernel names it ("net:[4026532...]").
std::string netns_id() {
  return std::filesystem::read_symlink("/proc/thread-self/ns/net").string();
}

// A second network namespace besides the test's sandbox: made on a helper thread, which leaves
// it at once; the returned descriptor keeps it alive.
NetNs another_namespace() {
  NetNs ns;
  std::thread([&] {
    NetNsSandbox other;
    ns = NetNs::current();
  }).join();
  REQUIRE(ns.is_open());
  return ns;
}

// A minimal IPv4/UDP packet (UDP checksum 0: none, as IPv4 allows).
std::vector<std::byte> udp_packet(const char* src, const char* dst, std::size_t payload) {
  std::vector<std::byte> p(28 + payload, std::byte{0});
  const std::size_t total = p.size();
  p[0] = std::byte{0x45};
  p[2] = static_cast<std::byte>(total >> 8U);
  p[3] = static_cast<std::byte>(total & 0xFFU);
  p[8] = std::byte{64};  // TTL
  p[9] = std::byte{17};  // UDP
  const IpAddress s = IpAddress::parse(src);
  const IpAddress d = IpAddress::parse(dst);
  std::memcpy(p.data() + 12, s.bytes().data(), 4);
  std::memcpy(p.data() + 16, d.bytes().data(), 4);
  const std::uint16_t sum = tunkit::internet_checksum(std::span(p).first(20));
  p[10] = static_cast<std::byte>(sum >> 8U);
  p[11] = static_cast<std::byte>(sum & 0xFFU);
  p[20] = std::byte{0x30};  // source port 12345
  p[21] = std::byte{0x39};
  p[23] = std::byte{9};  // destination port 9 (discard)
  p[24] = static_cast<std::byte>((8 + payload) >> 8U);
  p[25] = static_cast<std::byte>((8 + payload) & 0xFFU);
  return p;
}

}  // namespace

TEST_CASE("Routes through a device: add, list, remove, v4 and v6, with metric",
          "[netns][link][route]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.add_address(IpPrefix::parse("fd00::1/64"));
  link.set_up();

  link.add_route(route_to("10.9.0.0/16", "10.0.0.254", 5));
  link.add_route(route_to("10.10.0.0/16"));
  Route v6 = route_to("fd09::/64");
  v6.protocol = RouteProtocol::boot;
  link.add_route(v6);
  link.add_route(route_to("fd0a::/64", "fd00::2", 77));

  const auto routes = link.routes();
  auto find = [&](const char* dst) -> std::optional<Route> {
    for (const Route& r : routes) {
      if (r.destination == IpPrefix::parse(dst)) return r;
    }
    return std::nullopt;
  };
  REQUIRE(find("10.9.0.0/16"));
  CHECK(find("10.9.0.0/16")->gateway == IpAddress::parse("10.0.0.254"));
  CHECK(find("10.9.0.0/16")->metric == 5);
  CHECK(find("10.9.0.0/16")->protocol == RouteProtocol::static_route);
  REQUIRE(find("10.10.0.0/16"));
  CHECK_FALSE(find("10.10.0.0/16")->gateway);
  REQUIRE(find("10.0.0.0/24"));  // the kernel's prefix route
  CHECK(find("10.0.0.0/24")->protocol == RouteProtocol::kernel);
  CHECK(find("10.0.0.0/24")->source == IpAddress::parse("10.0.0.1"));
  REQUIRE(find("fd09::/64"));
  CHECK(find("fd09::/64")->metric == 1024);  // IPv6's default for metric 0
  CHECK(find("fd09::/64")->protocol == RouteProtocol::boot);
  REQUIRE(find("fd0a::/64"));
  CHECK(find("fd0a::/64")->gateway == IpAddress::parse("fd00::2"));
  CHECK(find("fd0a::/64")->metric == 77);

  // Cross-check with ip.
  auto r = ip_route("", "tun0", "10.9.0.0/16");
  REQUIRE(r);
  CHECK(r->text("gateway") == "10.0.0.254");
  CHECK(r->number("metric") == 5);
  CHECK(r->text("protocol") == "static");
  r = ip_route("", "tun0", "10.10.0.0/16");
  REQUIRE(r);
  CHECK(r->text("scope") == "link");  // no gateway: on the link
  r = ip_route("-6", "tun0", "fd09::/64");
  REQUIRE(r);
  CHECK(r->number("metric") == 1024);
  CHECK(r->text("protocol").empty());  // boot: ip leaves out its default
  r = ip_route("-6", "tun0", "fd0a::/64");
  REQUIRE(r);
  CHECK(r->text("gateway") == "fd00::2");
  CHECK(r->number("metric") == 77);

  link.remove_route(route_to("10.9.0.0/16", "10.0.0.254", 5));
  link.remove_route(route_to("fd09::/64"));  // metric 0 matches any
  CHECK_FALSE(ip_route("", "tun0", "10.9.0.0/16"));
  CHECK_FALSE(ip_route("-6", "tun0", "fd09::/64"));
  CHECK(ip_route("", "tun0", "10.10.0.0/16"));

  const auto e = thrown_by([&] { link.remove_route(route_to("10.9.0.0/16")); });
  CHECK(e.code() == sys(ESRCH));
  CHECK(std::string(e.what()) ==
        "tunkit: remove route 10.9.0.0/16 from \"tun0\": no such route (no route through this "
        "interface matches destination, gateway and metric)");
}

TEST_CASE("Route errors from the real kernel", "[netns][link][route][errors]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  link.add_address(IpPrefix::parse("10.0.0.1/24"));

  auto e = thrown_by([&] { link.add_route(route_to("10.9.0.0/16")); });
  CHECK(e.code() == sys(ENETDOWN));
  CHECK(std::string(e.what()) ==
        "tunkit: add route 10.9.0.0/16 on \"tun0\": network is down (the interface is down: set "
        "it up first)");
  // With a gateway in the interface's subnet the kernel answers ENETUNREACH while it is down
  // (IPv6: EHOSTUNREACH); the cause is the state, and following the subnet hint gave EEXIST.
  e = thrown_by([&] { link.add_route(route_to("10.9.0.0/16", "10.0.0.254")); });
  CHECK(e.code() == sys(ENETDOWN));
  CHECK(std::string(e.what()) ==
        "tunkit: add route 10.9.0.0/16 via 10.0.0.254 on \"tun0\": network is down (the interface "
        "is down: set it up first)");
  link.add_address(IpPrefix::parse("fd00::1/64"));
  std::error_code ec;
  link.add_route(route_to("fd09::/64", "fd00::fe"), ec);
  CHECK(ec == sys(ENETDOWN));
  link.remove_address(IpPrefix::parse("fd00::1/64"));
  link.set_up();
  e = thrown_by([&] { link.add_route(route_to("10.9.0.0/16", "10.200.0.1")); });
  CHECK(e.code() == sys(ENETUNREACH));
  CHECK(std::string(e.what()) ==
        "tunkit: add route 10.9.0.0/16 via 10.200.0.1 on \"tun0\": network is unreachable (the "
        "gateway 10.200.0.1 is not on a network this interface reaches: add an address in its "
        "subnet first)");
  e = thrown_by([&] { link.add_route(route_to("fd09::/64", "fd00::99")); });
  CHECK(e.code() == sys(EHOSTUNREACH));
  link.add_route(route_to("10.9.0.0/16"));
  e = thrown_by([&] { link.add_route(route_to("10.9.0.0/16")); });
  CHECK(e.code() == sys(EEXIST));
  link.set_mtu(1200);
  CHECK_THROWS_WITH(link.add_route(route_to("fd09::/64")),
                    "tunkit: add route fd09::/64 on \"tun0\": no such device (IPv6 needs an MTU of "
                    "at least 1280; this interface has 1200)");

  // Down takes the routes along (both families).
  link.set_mtu(1500);
  link.add_route(route_to("fd09::/64"));
  link.set_down();
  CHECK(link.routes().empty());
  CHECK(ip("route show dev tun0").array().empty());
  CHECK(ip("-6 route show dev tun0").array().empty());
}

TEST_CASE("Point-to-point addresses: IFA_LOCAL and the peer", "[netns][link][peer]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  link.set_up();
  link.add_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.0.2/32"));
  link.add_address(IpAddress::parse("fd01::1"), IpPrefix::parse("fd01::2/128"));

  const auto details = link.address_details();
  auto find = [&](const char* local) -> std::optional<tunkit::AddressInfo> {
    for (const auto& a : details) {
      if (a.prefix.address == IpAddress::parse(local)) return a;
    }
    return std::nullopt;
  };
  REQUIRE(find("10.1.0.1"));
  CHECK(find("10.1.0.1")->peer == IpAddress::parse("10.1.0.2"));
  CHECK(find("10.1.0.1")->prefix.length == 32);
  REQUIRE(find("fd01::1"));
  CHECK(find("fd01::1")->peer == IpAddress::parse("fd01::2"));

  auto a = ip_address("tun0", IpAddress::parse("10.1.0.1"));
  REQUIRE(a);
  CHECK(a->text("address") == "10.1.0.2");
  CHECK(a->number("prefixlen") == 32);
  a = ip_address("tun0", IpAddress::parse("fd01::1"));
  REQUIRE(a);
  CHECK(a->text("address") == "fd01::2");

  // The kernel routes the peer through the device.
  const auto routes = link.routes();
  CHECK(std::any_of(routes.begin(), routes.end(), [](const Route& r) {
    return r.destination == IpPrefix::parse("10.1.0.2/32") && r.protocol == RouteProtocol::kernel;
  }));
  CHECK(ip_route("", "tun0", "10.1.0.2"));

  link.remove_address(IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.0.2/32"));
  link.remove_address(IpAddress::parse("fd01::1"), IpPrefix::parse("fd01::2/128"));
  CHECK_FALSE(ip_address("tun0", IpAddress::parse("10.1.0.1")));
  CHECK_FALSE(ip_address("tun0", IpAddress::parse("fd01::1")));
}

TEST_CASE("MTU bounds come from the kernel and are checked first", "[netns][link][mtu]") {
  NetNsSandbox sandbox;
  const auto mode = GENERATE(tunkit::Mode::tun, tunkit::Mode::tap);
  TunDevice dev(named("dev0", mode));
  Link link(dev.ifindex());
  const auto s = link.state();
  const json::Value d = ip_dev("-d link", "dev0");
  CHECK(s.min_mtu == static_cast<unsigned>(d.number("min_mtu")));
  CHECK(s.max_mtu == static_cast<unsigned>(d.number("max_mtu")));
  CHECK(s.max_mtu == (mode == tunkit::Mode::tun ? 65535U : 65521U));

  const unsigned too_big = s.max_mtu + 1;
  auto e = thrown_by([&] { link.set_mtu(too_big); });
  CHECK(e.code() == tunkit::errc::out_of_range);
  CHECK(std::string(e.what()) == "tunkit: set MTU " + std::to_string(too_big) +
                                     " on \"dev0\": out of range (68.." +
                                     std::to_string(s.max_mtu) + ")");
  e = thrown_by([&] { link.set_mtu(67); });
  CHECK(std::string(e.what()) ==
        "tunkit: set MTU 67 on \"dev0\": out of range (68.." + std::to_string(s.max_mtu) + ")");
  link.set_mtu(s.max_mtu);
  CHECK(ip_dev("link", "dev0").number("mtu") == s.max_mtu);
  link.set_mtu(68);
  CHECK(link.state().mtu == 68);
  CHECK(ip_dev("link", "dev0").number("mtu") == 68);
}

TEST_CASE("MAC address of a TAP device: set, random, read", "[netns][link][mac]") {
  NetNsSandbox sandbox;
  TunDevice tap(named("tap0", tunkit::Mode::tap));
  Link link(tap.ifindex());
  const auto initial = link.mac();
  REQUIRE(initial);
  CHECK(ip_dev("link", "tap0").text("address") == initial->to_string());

  const tunkit::MacAddress mac({0x02, 0x00, 0x5e, 0x00, 0x53, 0x01});
  link.set_mac(mac);
  CHECK(link.mac() == mac);
  CHECK(ip_dev("link", "tap0").text("address") == "02:00:5e:00:53:01");

  link.set_up();  // TAP accepts a new address while up
  const auto random = link.set_random_mac();
  CHECK(link.mac() == random);
  CHECK(ip_dev("link", "tap0").text("address") == random.to_string());
  CHECK((random.bytes[0] & 0x03U) == 0x02U);

  // The kernel itself refuses a multicast address (tunkit refuses it first, with the reason).
  CHECK_THROWS_WITH(link.set_mac(tunkit::MacAddress({0x03, 0, 0, 0, 0, 1})),
                    "tunkit: set MAC address 03:00:00:00:00:01 on \"tap0\": invalid MAC address "
                    "(a device address must be unicast and not all zeros)");

  TunDevice tun(named("tun0"));
  Link tun_link(tun.ifindex());
  CHECK_FALSE(tun_link.mac());
  const auto e = thrown_by([&] { tun_link.set_mac(mac); });
  CHECK(e.code() == sys(EOPNOTSUPP));
  CHECK(std::string(e.what()) ==
        "tunkit: set MAC address 02:00:5e:00:53:01 on \"tun0\": operation not supported (this "
        "device has no link-layer address to set (TUN devices have none; TAP devices do))");
}

TEST_CASE("txqueuelen and rename", "[netns][link]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  CHECK(link.txqueuelen() == 500);
  link.set_txqueuelen(1000);
  CHECK(link.txqueuelen() == 1000);
  CHECK(ip_dev("link", "tun0").number("txqlen") == 1000);

  link.rename("wan0");
  CHECK(link.name() == "wan0");
  CHECK(link.state().name == "wan0");
  CHECK(ip_dev("link", "wan0").number("ifindex") == dev.ifindex());
  CHECK(::if_nametoindex("tun0") == 0);

  link.rename("vpn%d");
  CHECK(link.name() == "vpn0");
  CHECK(ip_dev("link", "vpn0").number("ifindex") == dev.ifindex());

  auto e = thrown_by([&] { link.rename("lo"); });
  CHECK(e.code() == sys(EEXIST));
  CHECK(std::string(e.what()) ==
        "tunkit: rename \"vpn0\" to \"lo\": already exists (another interface has that name)");

  link.set_up();
  e = thrown_by([&] { link.rename("wan1"); });
  CHECK(e.code() == sys(EBUSY));
  CHECK(std::string(e.what()) ==
        "tunkit: rename \"vpn0\" to \"wan1\": device busy (the interface is up: set it down "
        "first)");
  CHECK(ip_dev("link", "vpn0").number("ifindex") == dev.ifindex());
}

TEST_CASE("64-bit statistics match ip -s link", "[netns][link][stats]") {
  NetNsSandbox sandbox;
  tunkit::Options o = named("tun0");
  o.non_blocking = true;
  TunDevice dev(o);
  Link link(dev.ifindex());
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();
  const tunkit::LinkStats before = link.statistics();

  // Received: what the program writes into the device.
  const auto packet = udp_packet("10.0.0.2", "10.0.0.1", 12);
  for (int i = 0; i < 3; ++i)
    CHECK(dev.write(packet) == packet.size());
  // Transmitted: what the stack sends through it.
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(sock >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  REQUIRE(::inet_pton(AF_INET, "10.0.0.2", &to.sin_addr) == 1);
  const char payload[5] = {'h', 'e', 'l', 'l', 'o'};
  REQUIRE(::sendto(sock, payload, sizeof payload, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
          5);
  ::close(sock);
  // The tun driver counts a transmitted packet when the program reads it (tun_put_user).
  std::size_t read_packets = 0;
  std::size_t read_bytes = 0;
  std::array<std::byte, 2048> buf{};
  while (dev.wait_readable(200ms) == tunkit::WaitResult::ready && read_packets < 50) {
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    if (ec) break;
    ++read_packets;
    read_bytes += n;
  }
  REQUIRE(read_packets >= 1);

  const tunkit::LinkStats s = link.statistics();
  const json::Value stats = *ip_dev("-s link", "tun0").find("stats64");
  const tunkit::LinkStats after = link.statistics();
  CHECK(s.rx_packets == before.rx_packets + 3);
  CHECK(s.rx_bytes == before.rx_bytes + 3 * packet.size());
  CHECK(s.tx_packets == before.tx_packets + read_packets);
  CHECK(s.tx_bytes == before.tx_bytes + read_bytes);
  CHECK(s.rx_errors == 0);
  CHECK(s.tx_dropped == after.tx_dropped);
  // ip read in between: counters only grow.
  const json::Value& rx = *stats.find("rx");
  const json::Value& tx = *stats.find("tx");
  CHECK(static_cast<std::uint64_t>(rx.number("packets")) == s.rx_packets);
  CHECK(static_cast<std::uint64_t>(rx.number("bytes")) == s.rx_bytes);
  CHECK(static_cast<std::uint64_t>(tx.number("packets")) >= s.tx_packets);
  CHECK(static_cast<std::uint64_t>(tx.number("packets")) <= after.tx_packets);
  CHECK(static_cast<std::uint64_t>(tx.number("bytes")) >= s.tx_bytes);
  CHECK(static_cast<std::uint64_t>(tx.number("dropped")) == s.tx_dropped);
}

TEST_CASE("configure applies everything, or nothing where the kernel allows undoing it",
          "[netns][link][configure]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());

  SECTION("success") {
    link.configure({.mtu = 1400,
                    .txqueuelen = 1000,
                    .addresses = {IpPrefix::parse("10.0.0.1/24"), IpPrefix::parse("fd00::1/64")},
                    .up = true,
                    .routes = {route_to("10.9.0.0/16", "10.0.0.2"), route_to("fd09::/64")}});
    const json::Value d = ip_dev("addr", "tun0");
    CHECK(d.number("mtu") == 1400);
    CHECK(d.number("txqlen") == 1000);
    const json::Value* flags = d.find("flags");
    REQUIRE(flags != nullptr);
    CHECK(std::any_of(flags->array().begin(), flags->array().end(),
                      [](const json::Value& f) { return f.str() == "UP"; }));
    CHECK(ip_address("tun0", IpAddress::parse("10.0.0.1")));
    CHECK(ip_address("tun0", IpAddress::parse("fd00::1")));
    CHECK(ip_route("", "tun0", "10.9.0.0/16"));
    CHECK(ip_route("-6", "tun0", "fd09::/64"));
  }
  SECTION("a failed route undoes the MTU, addresses and up") {
    const auto e = thrown_by([&] {
      link.configure({.mtu = 1400,
                      .txqueuelen = 900,
                      .addresses = {IpPrefix::parse("10.0.0.1/24"), IpPrefix::parse("fd00::1/64")},
                      .up = true,
                      .routes = {route_to("10.9.0.0/16"), route_to("10.10.0.0/16", "10.200.0.1")}});
    });
    CHECK(e.code() == sys(ENETUNREACH));
    CHECK(std::string(e.what()) ==
          "tunkit: add route 10.10.0.0/16 via 10.200.0.1 on \"tun0\": network is unreachable "
          "(the gateway 10.200.0.1 is not on a network this interface reaches: add an address "
          "in its subnet first); the steps before it were undone");
    const json::Value d = ip_dev("addr", "tun0");
    CHECK(d.number("mtu") == 1500);
    CHECK(d.number("txqlen") == 500);
    const json::Value* info = d.find("addr_info");
    CHECK((info == nullptr || info->array().empty()));
    const json::Value* flags = d.find("flags");
    REQUIRE(flags != nullptr);
    CHECK(std::none_of(flags->array().begin(), flags->array().end(),
                       [](const json::Value& f) { return f.str() == "UP"; }));
    CHECK(ip("route show dev tun0").array().empty());
    CHECK(link.addresses().empty());
  }
}

TEST_CASE("open_in_netns creates a device inside another namespace; the caller stays",
          "[netns][namespaces]") {
  NetNsSandbox sandbox;
  const std::string here = netns_id();
  const NetNs other = another_namespace();

  TunDevice dev = tunkit::open_in_netns(other, named("tun0"));
  CHECK(netns_id() == here);                   // the calling thread never moved
  CHECK(::if_nametoindex("tun0") == 0);        // not in this namespace
  CHECK(ip("link show").array().size() == 1);  // just lo

  // Configure it from inside: the Link's socket is made there and works from here afterwards.
  Link link = tunkit::in_netns(other, [] { return Link::from_name("tun0"); });
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();
  link.add_route(route_to("10.9.0.0/16", "10.0.0.2"));
  const json::Value inside =
      json::parse(tunkit::in_netns(other, [] { return output_of("ip -j addr show dev tun0"); }));
  REQUIRE(inside.array().size() == 1);
  CHECK(inside.array()[0].number("ifindex") == dev.ifindex());
  const std::string routes = tunkit::in_netns(other, [] { return output_of("ip -j route"); });
  CHECK(routes.find("\"dst\":\"10.9.0.0/16\"") != std::string::npos);

  // The descriptor works from this thread.
  const auto packet = udp_packet("10.0.0.2", "10.0.0.1", 4);
  CHECK(dev.write(packet) == packet.size());
  CHECK(link.statistics().rx_packets == 1);
  CHECK(netns_id() == here);
}

TEST_CASE("NetNs::open_named opens /run/netns/NAME", "[netns][namespaces]") {
  NetNsSandbox sandbox;
  const NetNs other = another_namespace();
  const std::string name = "tunkit-test-" + std::to_string(::getpid());
  const std::string path = "/run/netns/" + name;
  // What `ip netns add` does: a bind mount of the namespace file. Removed again below.
  bool made_dir = ::mkdir("/run/netns", 0755) == 0;
  int mkdir_errno = made_dir ? 0 : errno;
  int file = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (file < 0 && errno == ENOENT && mkdir_errno == EEXIST) {
    // Another test run (CI runs two trees' tests at once) removed the directory it had made
    // between our mkdir and open: make it again.
    made_dir = ::mkdir("/run/netns", 0755) == 0;
    mkdir_errno = made_dir ? 0 : errno;
    file = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  }
  if (file < 0) {
    // /run belongs to the host's root: a user namespace's root cannot write there.
    const std::string why =
        errno == ENOENT && mkdir_errno != 0 && mkdir_errno != EEXIST
            ? "cannot create /run/netns: " + std::string(std::strerror(mkdir_errno))
            : "cannot create " + path + ": " + std::strerror(errno);
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::host_run_netns, why);
    if (made_dir) ::rmdir("/run/netns");
    return;
  }
  ::close(file);
  const std::string source = "/proc/self/fd/" + std::to_string(other.native_handle());
  if (::mount(source.c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    tunkit_test::skip_without_privilege(
        tunkit_test::Privilege::host_run_netns,
        "cannot bind-mount a namespace on " + path + ": " + std::strerror(errno));
    ::unlink(path.c_str());
    if (made_dir) ::rmdir("/run/netns");
    return;
  }
  {
    const NetNs ns = NetNs::open_named(name);
    CHECK(ns.description() == path);
    const TunDevice dev = tunkit::open_in_netns(ns, named("tun0"));
    CHECK(::if_nametoindex("tun0") == 0);
    CHECK(tunkit::in_netns(other, [] { return ::if_nametoindex("tun0"); }) == dev.ifindex());
  }
  ::umount2(path.c_str(), MNT_DETACH);
  ::unlink(path.c_str());
  if (made_dir) ::rmdir("/run/netns");
}

TEST_CASE("move_to_netns moves a device; its descriptor keeps working", "[netns][namespaces]") {
  NetNsSandbox sandbox;
  const NetNs other = another_namespace();
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.move_to_netns(other);
  CHECK(::if_nametoindex("tun0") == 0);
  std::error_code ec;
  link.set_up(ec);
  CHECK(ec == tunkit::errc::not_open);

  Link inside = tunkit::in_netns(other, [] { return Link::from_name("tun0"); });
  CHECK(inside.addresses().empty());  // the kernel dropped them
  inside.add_address(IpPrefix::parse("10.0.0.1/24"));
  inside.set_up();
  const auto packet = udp_packet("10.0.0.2", "10.0.0.1", 4);
  CHECK(dev.write(packet) == packet.size());
  CHECK(inside.statistics().rx_packets == 1);
  const std::string there =
      tunkit::in_netns(other, [] { return output_of("ip -j link show tun0"); });
  CHECK(json::parse(there).array().size() == 1);

  // Back into the namespace of this process (its main thread: the sandbox).
  inside.move_to_netns_of(::getpid());
  CHECK(::if_nametoindex("tun0") != 0);
  CHECK(ip_dev("link", "tun0").text("ifname") == "tun0");

  // The name is taken in the target: EEXIST, and nothing moves.
  TunDevice twin = tunkit::open_in_netns(other, named("tun0"));
  Link again = Link::from_name("tun0");
  const auto e = thrown_by([&] { again.move_to_netns(other); });
  CHECK(e.code() == sys(EEXIST));
  CHECK(std::string(e.what()) == "tunkit: move \"tun0\" to network namespace \"" +
                                     other.description() +
                                     "\": already exists (the target namespace has an interface "
                                     "of the same name: rename it first)");
  CHECK(::if_nametoindex("tun0") != 0);
}

TEST_CASE("in_netns from many threads at once never moves a caller", "[netns][namespaces]") {
  NetNsSandbox sandbox;
  const NetNs other = another_namespace();
  const std::string here = netns_id();
  const std::string there = tunkit::in_netns(other, [] { return netns_id(); });
  REQUIRE(there != here);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  // Threads started here inherit the sandbox; each enters `other` through in_netns many times.
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (tunkit::in_netns(other, [] { return netns_id(); }) != there) ++wrong;
        if (netns_id() != here) ++wrong;
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(wrong == 0);
  CHECK(netns_id() == here);
}

TEST_CASE("LinkEvents reports the kernel's notifications", "[netns][events]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tun0"));
  Link link(dev.ifindex());
  tunkit::LinkEvents events(dev.ifindex());

  // Waits (at most 2 s) for an event of `type`, skipping others (IPv6 adds addresses of its own).
  auto expect = [&](LinkEventType type) -> tunkit::LinkEvent {
    const auto deadline = std::chrono::steady_clock::now() + 2s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto e = events.next_event(100ms);
      if (e && e->type == type) return *e;
    }
    FAIL("no " << tunkit::to_string(type) << " event within 2 s");
    return {};
  };

  link.set_mtu(1400);
  CHECK(expect(LinkEventType::mtu_changed).mtu == 1400);
  link.set_up();
  CHECK((expect(LinkEventType::up).flags & IFF_UP) != 0);
  expect(LinkEventType::running);  // a TUN device with a reader has carrier
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  auto e = expect(LinkEventType::address_added);
  while (e.address->prefix != IpPrefix::parse("10.0.0.1/24"))
    e = expect(LinkEventType::address_added);
  link.remove_address(IpPrefix::parse("10.0.0.1/24"));
  e = expect(LinkEventType::address_removed);
  while (e.address->prefix != IpPrefix::parse("10.0.0.1/24"))
    e = expect(LinkEventType::address_removed);
  link.set_down();
  expect(LinkEventType::down);
  link.rename("wan0");
  CHECK(expect(LinkEventType::renamed).name == "wan0");
  dev.close();
  CHECK(expect(LinkEventType::removed).ifindex == link.ifindex());
}

TEST_CASE("wait_address_usable waits for duplicate address detection to end",
          "[netns][link][dad]") {
  // TUN devices skip DAD (IFF_NOARP); a TAP device runs it, about a second per address.
  NetNsSandbox sandbox;
  TunDevice dev(named("tapdad0", tunkit::Mode::tap));
  Link link(dev.ifindex());
  link.set_up();
  const auto addr = IpAddress::parse("fd00:dad::1");
  link.add_address(IpPrefix::parse("fd00:dad::1/64"));
  auto tentative = [&](const IpAddress& a) {
    for (const auto& d : link.address_details())
      if (d.prefix.address == a) return d.tentative;
    FAIL("address not listed");
    return false;
  };
  REQUIRE(tentative(addr));  // just added: DAD has only begun
  link.wait_address_usable(addr, std::chrono::seconds(10));
  CHECK_FALSE(tentative(addr));
  CHECK_NOTHROW(link.wait_address_usable(addr, std::chrono::milliseconds(0)));  // already usable

  // Still tentative when the time is up.
  const auto second = IpAddress::parse("fd00:dad::2");
  link.add_address(IpPrefix::parse("fd00:dad::2/64"));
  std::error_code ec;
  link.wait_address_usable(second, std::chrono::milliseconds(0), ec);
  CHECK(ec == sys(ETIMEDOUT));

  // IPv4 addresses are usable at once; an address the interface lacks is an error.
  link.add_address(IpPrefix::parse("10.88.0.1/24"));
  CHECK_NOTHROW(link.wait_address_usable(IpAddress::parse("10.88.0.1"), std::chrono::seconds(0)));
  const auto e = thrown_by([&] { link.wait_address_usable(IpAddress::parse("fd00:dad::99"), 1s); });
  CHECK(e.code() == sys(EADDRNOTAVAIL));
  CHECK(std::string(e.what()) ==
        "tunkit: wait for address fd00:dad::99 on \"tapdad0\": address not assigned (the "
        "interface has no such address)");
}
