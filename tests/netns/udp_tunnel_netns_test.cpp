// The udp_tunnel example between two namespaces joined by a veth pair: one instance in each, a
// ping and a 4 MiB TCP transfer across the tunnel. TUNKIT_UDP_TUNNEL comes from examples/.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <regex>
#include <string>
#include <thread>

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

namespace {

// Sends `count` small UDP datagrams from namespace `from` to `addr`:9, in bursts of 50.
void send_datagrams(const Netns& from, const char* addr, int count) {
  std::thread sender([&] {
    tunkit::test::enter(from);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(9);
    ::inet_pton(AF_INET, addr, &sa.sin_addr);
    const int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const std::array<char, 32> p{};
    for (int i = 0; i < count && tx >= 0; ++i) {
      (void)::sendto(tx, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (tx >= 0) ::close(tx);
  });
  sender.join();
}

// The number captured by `re` in `text`, or -1.
long long captured(const std::string& text, const std::string& re) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(re))) return -1;
  return std::stoll(m[1].str());
}

}  // namespace

TEST_CASE("udp_tunnel reports what the kernel drops, with what each counter means",
          "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  const Netns a;
  const Netns b;
  auto r = run("ip link add vA type veth peer name vB netns " + b.path() +
                   " && ip addr add 192.168.61.1/24 dev vA && ip link set vA up",
               &a);
  INFO(r.output);
  REQUIRE(r.status == 0);
  REQUIRE(run("ip addr add 192.168.61.2/24 dev vB && ip link set vB up", &b).status == 0);
  Child tunnel_a({TUNKIT_UDP_TUNNEL, "--local", "192.168.61.1:5000", "--remote",
                  "192.168.61.2:5000", "--tun-addr", "10.61.0.1/24", "--timeout", "60"},
                 &a);
  Child tunnel_b({TUNKIT_UDP_TUNNEL, "--local", "192.168.61.2:5000", "--remote",
                  "192.168.61.1:5000", "--tun-addr", "10.61.0.2/24", "--timeout", "60"},
                 &b);
  REQUIRE(tunnel_a.wait_for_line("ready: ", 10s));
  REQUIRE(tunnel_b.wait_for_line("ready: ", 10s));
  r = run("ping -c 1 -W 2 10.61.0.2", &a);  // the underlay's neighbours are resolved
  INFO(r.output);
  REQUIRE(r.status == 0);

  // B stopped: the datagrams tunnel A sends pile up in B's UDP socket until its receive buffer
  // is full, and the kernel drops the rest there.
  tunnel_b.signal(SIGSTOP);
  send_datagrams(a, "10.61.0.2", 3000);
  std::this_thread::sleep_for(200ms);
  tunnel_b.signal(SIGCONT);
  // A stopped: the packets routed into A's TUN pile up in its queue (500 packets) until the
  // kernel drops them there (the device's tx_dropped).
  tunnel_a.signal(SIGSTOP);
  send_datagrams(a, "10.61.0.2", 3000);
  tunnel_a.signal(SIGCONT);

  tunnel_a.signal(SIGTERM);
  tunnel_b.signal(SIGTERM);
  CHECK(tunnel_a.wait_exit(5s) == 0);
  CHECK(tunnel_b.wait_exit(5s) == 0);
  const std::string out_a = tunnel_a.output();
  const std::string out_b = tunnel_b.output();
  INFO("A:\n" << out_a << "B:\n" << out_b);
  CHECK(captured(out_b,
                 R"(\ndropped by the kernel: (\d+) from peer \(the UDP socket's receive buffer )"
                 R"(was full: SO_MEMINFO drops\)\n)") > 0);
  CHECK(captured(out_a,
                 R"(\ndropped by the kernel: udptun0: (\d+) dropped on the way to )"
                 R"(udp_tunnel \(tx_dropped: its queue was full\), \d+ written by )"
                 R"(udp_tunnel and refused or dropped \(rx_dropped: refused writes included\)\n)") >
        0);
  CHECK(captured(out_a, R"(\ndropped by udp_tunnel: (\d+) to peer \(send failed)") >= 0);
  CHECK(captured(out_b, R"(\ndropped by udp_tunnel: \d+ to peer \(send failed: the socket's )"
                        R"(send buffer was full, or the peer refused them\), (\d+) from peer )"
                        R"(\(not an IP packet, or the TUN refused them\)\n)") == 0);
}

TEST_CASE("./dev try udp_tunnel: the recipe runs, pings through the tunnel, leaves nothing",
          "[netns][example][try]") {
  tunkit::testing::NetNsSandbox sandbox;
  const std::string before = run("ip -br link show").output;
  const auto r = run(std::string(TUNKIT_SOURCE_DIR) + "/examples/try.sh udp_tunnel " +
                     TUNKIT_UDP_TUNNEL + " 2>&1");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("\n$ ip link add vA netns tka type veth peer name vB netns tkb\n") !=
        std::string::npos);
  CHECK(r.output.find("3 packets transmitted, 3 received") != std::string::npos);
  CHECK(r.output.find("== what tunnel_b printed ==\nready: udptun0 10.60.0.2/24 ") !=
        std::string::npos);
  CHECK(std::regex_search(r.output, std::regex(R"(\ndone: [1-9]\d* packets to peer, )")));
  CHECK(run("ip -br link show").output == before);
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
