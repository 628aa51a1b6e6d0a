// The event-loop examples, run for real inside a sandbox and pinged (IPv4 and IPv6):
// examples/asio_echo (Asio coroutines, a strand per queue; asio_echo_boost the same on Boost.Asio)
// and examples/epoll_loop (one thread, epoll over the queues). TUNKIT_ASIO_ECHO,
// TUNKIT_ASIO_ECHO_BOOST and TUNKIT_EPOLL_LOOP (the built examples' paths) come from
// tests/CMakeLists.txt; asio_echo exists only where tunkit::asio does, asio_echo_boost where
// tunkit::boost_asio does.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <regex>
#include <string>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

namespace {

// Runs `program` with four queues inside the calling thread's sandbox (the shell inherits the
// namespace), pings eight IPv4 and two IPv6 addresses of `v4`.0/24 and `v6`::/64 twice each in
// parallel, and checks that every ping was answered by the example: 20 replies, flows spread
// over more than one queue, each flow on one queue. Under TUNKIT_TEST_LAUNCHER (./dev valgrind)
// the example runs under it.
void ping_example(const char* program, const std::string& v4, const std::string& v6) {
  tunkit::testing::NetNsSandbox sandbox;
  const std::string script = std::string(R"(
    out=$(mktemp); )") + tunkit::test::launcher_prefix() +
                             "\"" + program +
                             R"(" --queues 4 --count 20 --timeout 20 >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 400); do grep -q '^ready:' "$out" && break; sleep 0.05; done
    rc=0
    for i in 2 3 4 5 6 7 8 9; do ping -c 2 -i 0.2 -W 2 )" +
                             v4 + R"(.$i >/dev/null || rc=1 & done
    for i in 2 3; do ping -6 -c 2 -i 0.2 -W 2 )" +
                             v6 + R"(::$i >/dev/null || rc=1 & done
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
  CHECK(out.find("exit=0") != std::string::npos);  // every ping answered, the example exited 0
  CHECK(out.find("flows (20 replies):") != std::string::npos);
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("queues used: ([0-9]+) of 4")));
  CHECK(std::stoi(m[1].str()) > 1);
  // Each flow (address + ICMP id) was served by exactly one queue: ten flow lines.
  const std::regex flow_line("  [0-9a-f.:]+ > [0-9a-f.:]+ id [0-9]+: queue [0-3] \\(2 replies\\)");
  const auto n = std::distance(std::sregex_iterator(out.begin(), out.end(), flow_line),
                               std::sregex_iterator());
  CHECK(n == 10);
}

}  // namespace

TEST_CASE("asio_echo answers pings with a coroutine and a strand per queue",
          "[netns][example][asio]") {
#ifdef TUNKIT_ASIO_ECHO
  ping_example(TUNKIT_ASIO_ECHO, "10.80.0", "fd00:80");
#else
  WARN("asio_echo was not built (no examples, or no standalone Asio): nothing to test");
#endif
}

TEST_CASE("asio_echo_boost answers pings with a coroutine and a strand per queue",
          "[netns][example][asio][boost_asio]") {
#ifdef TUNKIT_ASIO_ECHO_BOOST
  ping_example(TUNKIT_ASIO_ECHO_BOOST, "10.80.0", "fd00:80");
#else
  WARN("asio_echo_boost was not built (no examples, or no Boost >= 1.77): nothing to test");
#endif
}

TEST_CASE("epoll_loop answers pings with epoll over the queues", "[netns][example]") {
#ifdef TUNKIT_EPOLL_LOOP
  ping_example(TUNKIT_EPOLL_LOOP, "10.81.0", "fd00:81");
#else
  WARN("epoll_loop was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
#endif
}
