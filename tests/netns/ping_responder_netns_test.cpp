// The ping_responder example, run for real inside a sandbox and pinged with iputils' ping.
// TUNKIT_PING_RESPONDER (the built example's path) comes from tests/CMakeLists.txt. At the end:
// every example's --help and usage errors, checked alike.
#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_PING_RESPONDER

TEST_CASE("ping_responder answers ping and ping -6", "[netns][example]") {
  WARN("ping_responder was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::Child;
using tunkit::test::count_lines_with;
using tunkit::test::run;

TEST_CASE("ping_responder answers ping and ping -6", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  if (run("command -v ping").status != 0) {
    WARN("ping (iputils-ping) is not installed: nothing to test");
    return;
  }

  // --timeout bounds the responder even if the pings never reach it.
  Child responder({TUNKIT_PING_RESPONDER, "--count", "4", "--timeout", "30"});
  const auto ready = responder.wait_for_line("ready: ", 10s);
  INFO("responder output:\n" << responder.output());
  REQUIRE(ready);
  CHECK(*ready == "ready: tunkit0 10.77.0.1/24 fd00:77::1/64");  // a fresh namespace: tunkit0

  const auto v4 = run("ping -c 2 -W 2 10.77.0.2");
  INFO("ping:\n" << v4.output);
  CHECK(v4.status == 0);
  const auto v6 = run("ping -6 -c 2 -W 2 fd00:77::2");
  INFO("ping -6:\n" << v6.output);
  CHECK(v6.status == 0);

  const auto status = responder.wait_exit(10s);
  INFO("responder output:\n" << responder.output());
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(count_lines_with(responder.output(), "tx ") == 4);
  CHECK(count_lines_with(responder.output(), "done: 4 replies") == 1);
  // Packets are printed as tun_dump and tcpdump -n print them, with the same formatters.
  const std::string out = responder.output();
  CHECK(std::regex_search(out, std::regex(R"(\nrx 84 B  IP 10\.77\.0\.1 > 10\.77\.0\.2: ICMP echo )"
                                          R"(request, id \d+, seq 1, length 64\n)")));
  CHECK(std::regex_search(out, std::regex(R"(\ntx 84 B  IP 10\.77\.0\.2 > 10\.77\.0\.1: ICMP echo )"
                                          R"(reply, id \d+, seq 1, length 64\n)")));
  CHECK(std::regex_search(out, std::regex(R"(\nrx 104 B  IP6 fd00:77::1 > fd00:77::2: ICMP6, echo )"
                                          R"(request, id \d+, seq 1, length 64\n)")));
  CHECK(out.find(" type 1") == std::string::npos);  // "ICMPv6 type 133": the old wording
  CHECK(out.find("IPv4 ") == std::string::npos);
}

TEST_CASE("ping_responder: an address without a prefix length is a usage error",
          "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  // It used to become a /32 (a /128): a subnet of the device's own address only, so that
  // nothing was ever routed to the responder.
  auto r = run(std::string(TUNKIT_PING_RESPONDER) + " --ipv4 10.0.0.1 --timeout 1");
  INFO(r.output);
  CHECK(r.status == 2);
  CHECK(r.output ==
        "ping_responder: --ipv4: \"10.0.0.1\" has no prefix length: write ADDRESS/LENGTH (e.g. "
        "10.0.0.1/24), the subnet routed to the device\nTry 'ping_responder --help'.\n");
  r = run(std::string(TUNKIT_PING_RESPONDER) + " --ipv6 fd00::1 --timeout 1");
  CHECK(r.status == 2);
  CHECK(r.output.find("(e.g. fd00::1/64)") != std::string::npos);
  CHECK(run("ip -br link show").output.find("tunkit") == std::string::npos);  // none created
  // The example's own runtime errors carry one prefix, not "ping_responder: tunkit: ...".
  r = run(std::string(TUNKIT_PING_RESPONDER) + " --name 'a%d%d' --timeout 1");
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK(r.output.starts_with("ping_responder: open "));
  CHECK(r.output.find("tunkit: ") == std::string::npos);
}

#endif

// Every example: --help lists the options and the exit statuses; a usage error is worded alike.
namespace {

struct ExampleProgram {
  const char* name;
  const char* path;
};

std::vector<ExampleProgram> built_examples() {
  std::vector<ExampleProgram> out;
#ifdef TUNKIT_PING_RESPONDER
  out.push_back({"ping_responder", TUNKIT_PING_RESPONDER});
#endif
#ifdef TUNKIT_MULTIQUEUE_ECHO
  out.push_back({"multiqueue_echo", TUNKIT_MULTIQUEUE_ECHO});
#endif
#ifdef TUNKIT_EPOLL_LOOP
  out.push_back({"epoll_loop", TUNKIT_EPOLL_LOOP});
#endif
#ifdef TUNKIT_ASIO_ECHO
  out.push_back({"asio_echo", TUNKIT_ASIO_ECHO});
#endif
#ifdef TUNKIT_ASIO_ECHO_BOOST
  out.push_back({"asio_echo_boost", TUNKIT_ASIO_ECHO_BOOST});
#endif
#ifdef TUNKIT_TAP_RESPONDER
  out.push_back({"tap_responder", TUNKIT_TAP_RESPONDER});
#endif
#ifdef TUNKIT_TUN_DUMP
  out.push_back({"tun_dump", TUNKIT_TUN_DUMP});
#endif
#ifdef TUNKIT_UDP_TUNNEL
  out.push_back({"udp_tunnel", TUNKIT_UDP_TUNNEL});
#endif
#ifdef TUNKIT_FORWARDER
  out.push_back({"forwarder", TUNKIT_FORWARDER});
#endif
  return out;
}

}  // namespace

TEST_CASE("examples: one --help and one usage-error wording for all", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  const auto programs = built_examples();
  if (programs.empty()) {
    WARN("no example was built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
    return;
  }
  for (const auto& p : programs) {
    INFO(p.name);
    const std::string tool = p.path;
    auto r = tunkit::test::run(tool + " --help");
    INFO(r.output);
    CHECK(r.status == 0);
    CHECK(r.output.starts_with(std::string("usage: ") + p.name));
    CHECK(r.output.find("\noptions:\n") != std::string::npos);
    CHECK(r.output.find("  -h, --help ") != std::string::npos);
    CHECK(r.output.ends_with("\nExit status: 0 done, 1 runtime failure, 2 usage error.\n"));
    CHECK(tunkit::test::count_lines_with(r.output, "Exit status") == 1);

    r = tunkit::test::run(tool + " --bogus");
    CHECK(r.status == 2);
    CHECK(r.output ==
          std::string(p.name) + ": unknown option \"--bogus\"\nTry '" + p.name + " --help'.\n");
    r = tunkit::test::run(tool + " --timeout");
    CHECK(r.status == 2);
    CHECK(r.output ==
          std::string(p.name) + ": option --timeout needs a value\nTry '" + p.name + " --help'.\n");
  }
}
