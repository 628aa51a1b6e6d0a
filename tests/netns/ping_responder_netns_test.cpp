// The ping_responder example, run for real inside a sandbox and pinged with iputils' ping.
// TUNKIT_PING_RESPONDER (the built example's path) comes from tests/CMakeLists.txt.
#include <chrono>
#include <string>

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
}

#endif
