// The tap_responder example, run for real inside a sandbox: the kernel resolves the addresses
// over ARP and NDP and pings them. TUNKIT_TAP_RESPONDER comes from tests/CMakeLists.txt.
#include <csignal>
#include <string>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_TAP_RESPONDER

TEST_CASE("tap_responder answers ARP, NDP and pings", "[netns][example]") {
  WARN("tap_responder was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::count_lines_with;
using tunkit::test::run;

TEST_CASE("tap_responder answers ARP, NDP and pings", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::test::Child responder(
      {TUNKIT_TAP_RESPONDER, "--mac", "02:00:00:79:00:02", "--timeout", "30"});
  const auto ready = responder.wait_for_line("ready: ", 10s);
  INFO("responder:\n" << responder.output());
  REQUIRE(ready);
  CHECK(*ready == "ready: tkresp0 10.79.0.1/24 fd00:79::1/64 02:00:00:79:00:02");

  const auto v4 = run("ping -c 2 -i 0.2 -W 2 10.79.0.2");
  INFO(v4.output);
  CHECK(v4.status == 0);
  const auto v6 = run("ping -6 -c 2 -i 0.2 -W 2 fd00:79::2");
  INFO(v6.output);
  CHECK(v6.status == 0);
  // The kernel learnt the responder's MAC address for both.
  const auto neigh = run("ip neigh show dev tkresp0").output;
  INFO(neigh);
  CHECK(neigh.find("10.79.0.2 lladdr 02:00:00:79:00:02") != std::string::npos);
  CHECK(neigh.find("fd00:79::2 lladdr 02:00:00:79:00:02") != std::string::npos);
  // Not ours: the device's own address (the kernel's), and outside the prefix.
  CHECK(run("ping -c 1 -W 1 10.79.0.1").status == 0);
  CHECK(run("ping -c 1 -W 1 10.80.0.2").status != 0);

  responder.signal(SIGTERM);
  CHECK(responder.wait_exit(5s) == 0);
  const std::string& out = responder.output();
  CHECK(count_lines_with(out, "ARP, Reply 10.79.0.2 is-at 02:00:00:79:00:02") >= 1);
  CHECK(count_lines_with(out, "ICMP6, neighbor advertisement, tgt is fd00:79::2") >= 1);
  CHECK(count_lines_with(out, "tx 02:00:00:79:00:02 > ") ==
        count_lines_with(out, "ARP, Reply") + count_lines_with(out, "neighbor advertisement") + 4);
  CHECK(out.ends_with("done: 4 echo replies\n"));
}

TEST_CASE("tap_responder: usage errors exit 2", "[netns][example]") {
  for (const char* args : {"--mac ff:ff:ff:ff:ff:ff", "--ipv4 fd00::1/64", "--count", "--what"}) {
    INFO(args);
    CHECK(run(std::string(TUNKIT_TAP_RESPONDER) + " " + args).status == 2);
  }
  CHECK(run(std::string(TUNKIT_TAP_RESPONDER) + " --help").status == 0);
}

#endif
