// The udp_tunnel example between two namespaces joined by a veth pair: one instance in each, a
// ping and a 4 MiB TCP transfer across the tunnel. TUNKIT_UDP_TUNNEL comes from examples/.
#include <csignal>
#include <string>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tcp_transfer.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_UDP_TUNNEL

TEST_CASE("udp_tunnel carries TCP between two namespaces", "[netns][example]") {
  WARN("udp_tunnel was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::Child;
using tunkit::test::Netns;
using tunkit::test::run;

TEST_CASE("udp_tunnel carries TCP between two namespaces", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;  // nothing of this test touches the host's namespace
  const Netns a;
  const Netns b;
  // The underlay: a veth pair, one end in each namespace.
  auto r = run("ip link add vA type veth peer name vB netns " + b.path() +
                   " && ip addr add 192.168.60.1/24 dev vA && ip link set vA up",
               &a);
  INFO(r.output);
  REQUIRE(r.status == 0);
  r = run("ip addr add 192.168.60.2/24 dev vB && ip link set vB up", &b);
  INFO(r.output);
  REQUIRE(r.status == 0);

  Child tunnel_a({TUNKIT_UDP_TUNNEL, "--local", "192.168.60.1:5000", "--remote",
                  "192.168.60.2:5000", "--tun-addr", "10.60.0.1/24", "--timeout", "60"},
                 &a);
  Child tunnel_b(
      {TUNKIT_UDP_TUNNEL, "--local", "192.168.60.2:5000", "--remote", "192.168.60.1:5000",
       "--tun-addr", "10.60.0.2/24", "--name", "vpn%d", "--timeout", "60"},
      &b);
  const auto ready_a = tunnel_a.wait_for_line("ready: ", 10s);
  const auto ready_b = tunnel_b.wait_for_line("ready: ", 10s);
  INFO("A:\n" << tunnel_a.output() << "B:\n" << tunnel_b.output());
  REQUIRE(ready_a);
  REQUIRE(ready_b);
  CHECK(*ready_a == "ready: udptun0 10.60.0.1/24 local 192.168.60.1:5000 remote 192.168.60.2:5000");
  CHECK(*ready_b == "ready: vpn0 10.60.0.2/24 local 192.168.60.2:5000 remote 192.168.60.1:5000");

  r = run("ping -c 2 -i 0.2 -W 2 10.60.0.2", &a);
  INFO(r.output);
  CHECK(r.status == 0);

  constexpr std::size_t kBytes = 4U << 20U;
  const auto t = tunkit::test::tcp_transfer(b, a, "10.60.0.2", 7000, kBytes);
  INFO("transfer: " << t.error << " in " << t.seconds << " s");
  CHECK(t.error.empty());
  CHECK(t.sent_bytes == kBytes);
  CHECK(t.received_bytes == kBytes);
  CHECK(t.received_hash == t.sent_hash);

  tunnel_a.signal(SIGTERM);
  tunnel_b.signal(SIGTERM);
  CHECK(tunnel_a.wait_exit(5s) == 0);
  CHECK(tunnel_b.wait_exit(5s) == 0);
  CHECK(tunnel_a.output().find("done: ") != std::string::npos);
}

TEST_CASE("udp_tunnel: usage errors exit 2", "[netns][example]") {
  const std::string tool = TUNKIT_UDP_TUNNEL;
  for (const char* args :
       {"", "--local 10.0.0.1:5000 --remote 10.0.0.2:5000",
        "--local 10.0.0.1 --remote 10.0.0.2:5000 --tun-addr 10.1.0.1/24",
        "--local 10.0.0.1:70000 --remote 10.0.0.2:5000 --tun-addr 10.1.0.1/24",
        "--local [fd00::1]:5 --remote 10.0.0.2:5000 --tun-addr 10.1.0.1/24",
        "--local 10.0.0.1:5 --remote 10.0.0.2:5 --tun-addr 10.1.0.1/24 --mtu 20"}) {
    const auto r = run(tool + " " + args);
    INFO(args << ": " << r.output);
    CHECK(r.status == 2);
  }
  CHECK(run(tool + " --help").status == 0);
}

#endif
