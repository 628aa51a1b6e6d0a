// The tun_dump example, run for real: on a device it creates, and on a TAP device that
// `ip tuntap add` made. TUNKIT_TUN_DUMP (the built example's path) comes from examples/.
#include <csignal>
#include <regex>
#include <string>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_TUN_DUMP

TEST_CASE("tun_dump prints the packets sent into a device", "[netns][example]") {
  WARN("tun_dump was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::Child;
using tunkit::test::count_lines_with;
using tunkit::test::run;

TEST_CASE("tun_dump prints the packets sent into a device", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;

  SECTION("a TUN device it creates, ended by SIGTERM") {
    Child dump({TUNKIT_TUN_DUMP, "--addr", "10.61.0.1/24", "--timeout", "20"});
    REQUIRE(dump.wait_for_line("listening on dump0, tun (TUN|NO_PI)", 5s));
    (void)run("ping -c 3 -i 0.2 -W 1 10.61.0.2");  // unanswered: the requests are what we see
    const auto third = dump.wait_for_line("seq 3, length 64", 5s);
    INFO(dump.output());
    REQUIRE(third);
    CHECK(std::regex_search(*third, std::regex(R"(^\d\d:\d\d:\d\d\.\d{6} IP 10\.61\.0\.1 > )"
                                               R"(10\.61\.0\.2: ICMP echo request, id \d+, )")));
    dump.signal(SIGTERM);
    CHECK(dump.wait_exit(5s) == 0);
    CHECK(count_lines_with(dump.output(), "ICMP echo request") == 3);
    CHECK(run("ip link show dev dump0").status != 0);  // created by it, gone with it
  }
  SECTION("an existing TAP device, attached with its own flags, --hex --count") {
    REQUIRE(run("ip tuntap add dev tdtap0 mode tap && ip addr add 10.61.1.1/24 dev tdtap0 && "
                "echo 1 >/proc/sys/net/ipv6/conf/tdtap0/disable_ipv6 && ip link set tdtap0 up")
                .status == 0);
    Child dump({TUNKIT_TUN_DUMP, "tdtap0", "--hex", "--count", "1", "--timeout", "20"});
    REQUIRE(dump.wait_for_line("listening on tdtap0, tap (TAP|PERSIST|NO_PI)", 5s));
    (void)run("ping -c 1 -W 1 10.61.1.2");  // the kernel asks for the MAC address first
    CHECK(dump.wait_exit(5s) == 0);
    INFO(dump.output());
    CHECK(std::regex_search(
        dump.output(),
        std::regex(R"(([0-9a-f]{2}:){5}[0-9a-f]{2} > ff:ff:ff:ff:ff:ff, ethertype ARP \(0x0806\), )"
                   R"(length 42: ARP, Request who-has 10\.61\.1\.2 tell 10\.61\.1\.1, length 28\n)"
                   R"(\t0x0000:  ffff ffff ffff )")));
    CHECK(dump.output().ends_with("\n1 packet\n"));
    CHECK(run("ip link show dev tdtap0").status == 0);  // persistent: still there
  }
  SECTION("usage and runtime errors") {
    CHECK(run(std::string(TUNKIT_TUN_DUMP) + " --help").status == 0);
    CHECK(run(std::string(TUNKIT_TUN_DUMP) + " --count").status == 2);
    CHECK(run(std::string(TUNKIT_TUN_DUMP) + " a --bogus").status == 2);
    const auto lo = run(std::string(TUNKIT_TUN_DUMP) + " lo --timeout 1");
    CHECK(lo.status == 1);
    CHECK(lo.output == "tun_dump: \"lo\" is not a TUN/TAP device\n");
  }
}

#endif
