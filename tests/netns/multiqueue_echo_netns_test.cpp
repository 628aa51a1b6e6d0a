// The multiqueue_echo example, run for real inside a sandbox and pinged at eight addresses.
// TUNKIT_MULTIQUEUE_ECHO (the built example's path) comes from tests/CMakeLists.txt.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <regex>
#include <string>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_MULTIQUEUE_ECHO

TEST_CASE("multiqueue_echo spreads flows over its queues", "[netns][example]") {
  WARN("multiqueue_echo was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

TEST_CASE("multiqueue_echo spreads flows over its queues", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  // The shell inherits this thread's namespace. It waits (bounded) for "ready:", pings eight
  // addresses of the example's subnet twice each in parallel, then waits for the example, which
  // exits after 16 replies (or its 20 s timeout).
  const std::string script = std::string(R"(
    out=$(mktemp); )") + tunkit::test::launcher_prefix() +
                             "\"" + TUNKIT_MULTIQUEUE_ECHO +
                             R"(" --queues 4 --count 16 --timeout 20 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q '^ready:' "$out" && break; sleep 0.05; done
    rc=0
    for i in 2 3 4 5 6 7 8 9; do ping -c 2 -i 0.2 -W 2 10.78.0.$i >/dev/null || rc=1 & done
    wait $pid || rc=1
    wait
    cat "$out"; rm -f "$out"
    echo "exit=$rc")";
  FILE* f = ::popen(
      ("bash -c '" + std::regex_replace(script, std::regex("'"), "'\\''") + "'").c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), f) != nullptr)
    out += buf.data();
  REQUIRE(WEXITSTATUS(::pclose(f)) == 0);
  INFO(out);
  CHECK(out.find("exit=0") != std::string::npos);
  CHECK(out.find("flows (16 replies):") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("queues used: ([0-9]+) of 4")));
  CHECK(std::stoi(m[1].str()) > 1);
  // Each flow (address + ICMP id) was served by exactly one queue: eight flow lines.
  const std::regex flow_line(
      "  10\\.78\\.0\\.1 > 10\\.78\\.0\\.[2-9] id [0-9]+: queue [0-3] \\(2 replies\\)");
  const auto n = std::distance(std::sregex_iterator(out.begin(), out.end(), flow_line),
                               std::sregex_iterator());
  CHECK(n == 8);
}

#endif
