// The `tunkit` command-line tool, driven as a user would, cross-checked with iproute2.
// TUNKIT_CLI (the built tool's path) comes from tests/CMakeLists.txt.
#include <csignal>
#include <regex>
#include <string>
#include <vector>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tunkit/device.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_CLI

TEST_CASE("tunkit CLI", "[netns][cli]") {
  WARN("the tunkit tool was not built (TUNKIT_BUILD_TOOLS=OFF): nothing to test");
}

#else

namespace {

using namespace std::chrono_literals;
using tunkit::test::run;

tunkit::test::Result cli(const std::string& args) {
  return run(std::string(TUNKIT_CLI) + " " + args);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A minimal JSON check: jq parses it and the filter holds (jq -e exits 0 only then).
void check_json(const std::string& json, const std::string& filter) {
  if (run("command -v jq").status != 0) {
    WARN("jq is not installed: JSON only checked for its brackets");
    CHECK((json.starts_with('[') || json.starts_with('{')));
    return;
  }
  const auto r = run("printf '%s' '" + json + "' | jq -e '" + filter + "'");
  INFO("json: " << json << "\njq " << filter << ": " << r.output);
  CHECK(r.status == 0);
}

}  // namespace

TEST_CASE("tunkit create makes a persistent, configured device that ip shows", "[netns][cli]") {
  tunkit::testing::NetNsSandbox sandbox;

  auto r = cli("create --name tkc0 --mtu 1400 --addr 10.55.0.1/24 --addr fd00:55::1/64 --up");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output == "created tkc0\n");

  const auto link = run("ip -d -j link show dev tkc0").output;
  INFO(link);
  CHECK(contains(link, R"("mtu":1400)"));
  CHECK(contains(link, R"("UP")"));
  CHECK(contains(link, R"("info_kind":"tun")"));
  CHECK(contains(link, R"("type":"tun","pi":false,"vnet_hdr":false,"multi_queue":false,)"
                       R"("persist":true)"));
  const auto addr = run("ip -j addr show dev tkc0").output;
  INFO(addr);
  CHECK(contains(addr, R"("local":"10.55.0.1","prefixlen":24)"));
  CHECK(contains(addr, R"("local":"fd00:55::1","prefixlen":64)"));

  r = cli("create --tap --name tkc1 --user 1234 --group 5678 --multi-queue --vnet-hdr");
  REQUIRE(r.status == 0);
  const auto tap = run("ip -d -j link show dev tkc1").output;
  INFO(tap);
  CHECK(contains(tap, R"("type":"tap","pi":false,"vnet_hdr":true,"multi_queue":true)"));
  CHECK(contains(tap, R"("user":1234,"group":5678)"));
  CHECK_FALSE(contains(tap, R"("UP")"));

  SECTION("a name template gets the kernel's number") {
    r = cli("create --name tkt%d");
    CHECK(r.status == 0);
    CHECK(r.output == "created tkt0\n");
  }
  SECTION("runtime errors exit 1 and leave nothing behind") {
    r = cli("create --name tkc0");
    CHECK(r.status == 1);
    CHECK(contains(r.output, "tunkit: a device named \"tkc0\" already exists"));
    r = cli("create --name tkbad --mtu 50");  // the kernel refuses it (68..65535)
    INFO(r.output);
    CHECK(r.status == 1);
    CHECK(contains(r.output, "set MTU 50"));
    CHECK(run("ip link show dev tkbad").status != 0);  // rolled back
  }
  SECTION("usage errors exit 2") {
    for (const char* args : {"create --mtu 70000", "create --addr 10.1.2.3/40", "create --bogus",
                             "create --user no-such-user-here", "create --name"}) {
      r = cli(args);
      INFO(args << ": " << r.output);
      CHECK(r.status == 2);
      CHECK(contains(r.output, "Try 'tunkit create --help'."));
    }
    CHECK(run("ip -j link show type tun").output.find("tkc0") != std::string::npos);
  }
}

TEST_CASE("tunkit list and show report devices made by ip tuntap", "[netns][cli]") {
  tunkit::testing::NetNsSandbox sandbox;
  REQUIRE(run("ip tuntap add dev tkip0 mode tap multi_queue vnet_hdr user 1234 group 5678 && "
              "ip tuntap add dev tkip1 mode tun pi && ip link set tkip1 mtu 1280 up")
              .status == 0);
  // Two queues attached to the multi-queue device, one of them disabled.
  tunkit::TunDevice dev({.name = "tkip0",
                         .mode = tunkit::Mode::tap,
                         .multi_queue = true,
                         .queues = 2,
                         .vnet_hdr = true});
  dev.queue(1).disable();

  auto r = cli("list");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(std::regex_search(r.output,
                          std::regex("^NAME +TYPE +FLAGS +OWNER +GROUP +QUEUES +MTU +STATE\n")));
  CHECK(std::regex_search(
      r.output,
      std::regex(
          R"(\ntkip0 +tap +TAP\|MULTI_QUEUE\|PERSIST\|NO_PI\|VNET_HDR +1234 +5678 +1/1 +1500 +down\n)")));
  CHECK(std::regex_search(
      r.output, std::regex(R"(\ntkip1 +tun +TUN\|PERSIST +- +- +- +1280 +up,no-carrier\n)")));
  CHECK(tunkit::test::count_lines_with(r.output, "tkip") == 2);  // not lo

  r = cli("list --json");
  REQUIRE(r.status == 0);
  check_json(r.output,
             R"(length == 2 and .[0].name == "tkip0" and .[0].owner == 1234 and .[0].queues == 1 )"
             R"(and .[0].disabled_queues == 1 and .[1].pi == true and .[1].queues == null)");

  r = cli("show tkip0");
  INFO(r.output);
  REQUIRE(r.status == 0);
  CHECK(contains(r.output, "tkip0: tap device, index "));
  CHECK(contains(r.output, "  owner    1234\n  group    5678\n"));
  CHECK(contains(r.output, "  queues   1 enabled, 1 disabled\n"));
  CHECK(std::regex_search(r.output, std::regex("  mac      ([0-9a-f]{2}:){5}[0-9a-f]{2}\n")));

  REQUIRE(run("ip addr add 10.58.0.1/24 dev tkip1").status == 0);
  r = cli("show tkip1 --json");
  REQUIRE(r.status == 0);
  check_json(r.output, R"(.name == "tkip1" and .type == "tun" and .pi == true and .mtu == 1280 )"
                       R"(and (.addresses | index("10.58.0.1/24")) != null)");

  CHECK(cli("show lo").status == 1);
  CHECK(contains(cli("show lo").output, "tunkit: \"lo\" is not a TUN/TAP device"));
  CHECK(cli("show nothere").status == 1);
  CHECK(cli("show").status == 2);
  CHECK(cli("list --bogus").status == 2);
}

TEST_CASE("tunkit create removes the persistent device when a configuration step fails",
          "[netns][cli][lifetime]") {
  tunkit::testing::NetNsSandbox sandbox;
  // Each step fails after the device was created persistent: an MTU below the minimum (68), an
  // IPv6 address on a link whose MTU cannot carry IPv6, an address added twice.
  for (const char* args : {"--mtu 10 --up", "--mtu 1200 --addr fd00:56::1/64",
                           "--addr 10.56.0.1/24 --addr 10.56.0.1/24"}) {
    const auto r = cli(std::string("create --name tkrb0 ") + args);
    INFO(args << ": " << r.output);
    CHECK(r.status == 1);
    CHECK(r.output.starts_with("tunkit: "));
    CHECK(run("ip link show dev tkrb0").status != 0);  // no half-configured device left
  }
  CHECK(tunkit::test::count_lines_with(run("cat /proc/self/net/dev").output, "tkrb") == 0);
}

TEST_CASE("tunkit delete removes persistent devices only", "[netns][cli]") {
  tunkit::testing::NetNsSandbox sandbox;
  REQUIRE(run("ip tuntap add dev tkd0 mode tun && ip tuntap add dev tkd1 mode tap multi_queue")
              .status == 0);
  auto r = cli("delete tkd0");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output == "deleted tkd0\n");
  CHECK(run("ip link show dev tkd0").status != 0);
  CHECK(cli("delete tkd1").status == 0);
  CHECK(run("ip link show dev tkd1").status != 0);

  tunkit::TunDevice held({.name = "tkd2"});  // not persistent: this process's device
  r = cli("delete tkd2");
  CHECK(r.status == 1);
  CHECK(contains(r.output, "\"tkd2\" is not persistent"));
  CHECK(run("ip link show dev tkd2").status == 0);

  CHECK(cli("delete lo").status == 1);
  CHECK(cli("delete tkd0").status == 1);  // gone already
  CHECK(cli("delete").status == 2);
  CHECK(cli("delete a b").status == 2);
}

TEST_CASE("tunkit dump prints the packets of a ping", "[netns][cli]") {
  tunkit::testing::NetNsSandbox sandbox;
  REQUIRE(cli("create --name tkdump0 --addr 10.57.0.1/24 --up").status == 0);

  SECTION("one line per packet; SIGTERM ends it cleanly") {
    tunkit::test::Child dump({TUNKIT_CLI, "dump", "tkdump0", "--timeout", "20"});
    REQUIRE(dump.wait_for_line("listening on tkdump0, tun (TUN|PERSIST|NO_PI)", 5s));
    (void)run("ping -c 2 -i 0.2 -W 1 10.57.0.2");  // nobody answers: only the requests matter
    const auto second = dump.wait_for_line("seq 2, length 64", 5s);
    INFO(dump.output());
    REQUIRE(second);
    CHECK(std::regex_search(*second, std::regex(R"(^\d\d:\d\d:\d\d\.\d{6} IP 10\.57\.0\.1 > )"
                                                R"(10\.57\.0\.2: ICMP echo request, id \d+, )")));
    dump.signal(SIGTERM);
    CHECK(dump.wait_exit(5s) == 0);
    CHECK(tunkit::test::count_lines_with(dump.output(), "ICMP echo request") == 2);
    CHECK(std::regex_search(dump.output(), std::regex(R"(\n\d+ packets\n$)")));
  }
  SECTION("--hex, --count") {
    // Without IPv6 on the device, the ping's request is the only packet.
    REQUIRE(run("echo 1 >/proc/sys/net/ipv6/conf/tkdump0/disable_ipv6").status == 0);
    tunkit::test::Child dump(
        {TUNKIT_CLI, "dump", "tkdump0", "--hex", "--count", "1", "--timeout", "20"});
    REQUIRE(dump.wait_for_line("listening on", 5s));
    (void)run("ping -c 1 -W 1 10.57.0.2");
    CHECK(dump.wait_exit(5s) == 0);
    INFO(dump.output());
    CHECK(contains(dump.output(), "ICMP echo request"));
    CHECK(contains(dump.output(), "\t0x0000:  4500 0054 "));
    CHECK(contains(dump.output(), "\n1 packet\n"));
  }
  SECTION("errors") {
    CHECK(cli("dump").status == 2);
    CHECK(cli("dump tkdump0 --count x").status == 2);
    CHECK(cli("dump nothere").status == 1);
    // A single-queue device can have one reader: a second attach is EBUSY.
    tunkit::test::Child first({TUNKIT_CLI, "dump", "tkdump0", "--timeout", "20"});
    REQUIRE(first.wait_for_line("listening on", 5s));
    const auto r = cli("dump tkdump0 --timeout 1");
    CHECK(r.status == 1);
    CHECK(contains(r.output, "device busy"));
  }
}

TEST_CASE("tunkit: help and usage errors", "[netns][cli]") {
  tunkit::testing::NetNsSandbox sandbox;
  auto r = cli("--help");
  CHECK(r.status == 0);
  CHECK(r.output.starts_with("usage: tunkit COMMAND"));
  for (const char* c : {"create", "delete", "list", "show", "dump"}) {
    r = cli(std::string(c) + " --help");
    INFO(c);
    CHECK(r.status == 0);
    CHECK(r.output.starts_with(std::string("usage: tunkit ") + c));
  }
  r = cli("");
  CHECK(r.status == 2);
  CHECK(contains(r.output, "tunkit: missing command\nTry 'tunkit --help'."));
  CHECK(cli("frobnicate").status == 2);
}

#endif
