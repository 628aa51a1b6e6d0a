// The forwarder example run as the benchmark harness runs it (../shared/bench/netns-bench.sh):
// two persistent TUN devices made by `ip tuntap add`, the forwarder attached to both, then the
// devices moved into two namespaces, addressed and routed; a ping and a 64 MiB TCP transfer go
// through it. TUNKIT_FORWARDER comes from examples/CMakeLists.txt.
#include <csignal>
#include <regex>
#include <string>
#include <vector>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tcp_transfer.hpp"
#include "tunkit/testing/netns.hpp"

#ifndef TUNKIT_FORWARDER

TEST_CASE("forwarder joins two TUN devices in two namespaces", "[netns][example]") {
  WARN("forwarder was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::Child;
using tunkit::test::Netns;
using tunkit::test::run;

namespace {

struct Mode {
  const char* name;
  const char* tuntap_flags;  // for `ip tuntap add`
  std::vector<std::string> args;
  const char* ready;  // the end of the forwarder's ready line
};

}  // namespace

TEST_CASE("forwarder joins two TUN devices in two namespaces", "[netns][example]") {
  const Mode mode = GENERATE(
      Mode{"plain", "", {}, "queues 1 vnet off offload off"},
      Mode{"offload", "vnet_hdr", {"--offload"}, "queues 1 vnet on offload CSUM|TSO4|TSO6"},
      Mode{"multi-queue", "multi_queue", {"--queues", "2"}, "queues 2 vnet off offload off"});
  INFO("mode " << mode.name);
  tunkit::testing::NetnsSandbox sandbox;  // the forwarder's own namespace, as the harness's
  const Netns a;
  const Netns b;

  REQUIRE(run(std::string("ip tuntap add dev fwa mode tun ") + mode.tuntap_flags +
              " && ip tuntap add dev fwb mode tun " + mode.tuntap_flags)
              .status == 0);
  std::vector<std::string> argv{TUNKIT_FORWARDER};
  argv.insert(argv.end(), mode.args.begin(), mode.args.end());
  argv.insert(argv.end(), {"--timeout", "60", "fwa", "fwb"});
  Child forwarder(argv);
  const auto ready = forwarder.wait_for_line("ready: ", 10s);
  INFO("forwarder:\n" << forwarder.output());
  REQUIRE(ready);
  CHECK(ready->starts_with("ready: fwa fwb "));
  CHECK(ready->find(mode.ready) != std::string::npos);  // USO only on Linux 6.2+

  // As the harness: move, address, route (an open descriptor follows its device).
  auto r = run("ip link set fwa netns " + a.path() + " && ip link set fwb netns " + b.path());
  INFO(r.output);
  REQUIRE(r.status == 0);
  r =
      run("ip addr add 10.201.0.1/24 dev fwa && ip link set fwa up && "
          "ip route add 10.201.1.0/24 dev fwa",
          &a);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r =
      run("ip addr add 10.201.1.1/24 dev fwb && ip link set fwb up && "
          "ip route add 10.201.0.0/24 dev fwb",
          &b);
  INFO(r.output);
  REQUIRE(r.status == 0);

  r = run("ping -c 2 -i 0.2 -W 2 10.201.1.1", &a);
  INFO(r.output);
  CHECK(r.status == 0);

  constexpr std::size_t kBytes = 64U << 20U;  // 64 MiB: many super-packets with offloads
  const auto t = tunkit::test::tcp_transfer(b, a, "10.201.1.1", 7002, kBytes);
  INFO("transfer: " << t.error << " in " << t.seconds << " s");
  CHECK(t.error.empty());
  CHECK(t.received_bytes == kBytes);
  CHECK(t.received_hash == t.sent_hash);

  forwarder.signal(SIGTERM);
  CHECK(forwarder.wait_exit(5s) == 0);
  const std::string& out = forwarder.output();
  std::smatch m;
  REQUIRE(std::regex_search(out, m,
                            std::regex(R"(fwa -> fwb: (\d+) packets, (\d+) bytes, )"
                                       R"(largest (\d+), dropped \d+\n)")));
  CHECK(std::stoull(m[2].str()) > kBytes);  // the transfer went a -> b
  if (mode.args == std::vector<std::string>{"--offload"}) {
    // Super-packets passed through: far larger than the 1500-byte MTU.
    CHECK(std::stoull(m[3].str()) > 1500 + 10);
  } else {
    CHECK(std::stoull(m[3].str()) <= 1500);
  }
  CHECK(std::regex_search(out, std::regex(R"(fwb -> fwa: \d+ packets, )")));
  (void)run("ip link del fwa", &a);
  (void)run("ip link del fwb", &b);
}

TEST_CASE("forwarder: usage and attach errors", "[netns][example]") {
  tunkit::testing::NetnsSandbox sandbox;
  const std::string tool = TUNKIT_FORWARDER;
  for (const char* args : {"", "fwa", "fwa fwa", "--queues 0 fwa fwb", "--bogus fwa fwb"}) {
    const auto r = run(tool + " " + args);
    INFO(args << ": " << r.output);
    CHECK(r.status == 2);
  }
  CHECK(run(tool + " --help").status == 0);

  auto r = run(tool + " nothere other");
  CHECK(r.status == 1);
  CHECK(r.output.find("no TUN device \"nothere\"") != std::string::npos);
  REQUIRE(run("ip tuntap add dev fwa mode tun && ip tuntap add dev fwb mode tun").status == 0);
  r = run(tool + " --queues 2 fwa fwb");
  CHECK(r.status == 1);
  CHECK(r.output.find("needs a multi-queue device") != std::string::npos);
}

#endif
