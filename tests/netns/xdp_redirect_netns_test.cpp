// The xdp_redirect example between two namespaces joined by a veth pair: S sends UDP datagrams
// for the TUN's prefix, R runs the example. Through XDP (R does not forward: only the program
// can bring them to the TUN) and through the stack (R forwards). TUNKIT_XDP_REDIRECT comes from
// examples/.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <regex>
#include <string>
#include <thread>

#include "bpf_programs.hpp"
#include "catch.hpp"
#include "privilege_skip.hpp"
#include "subprocess.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_XDP_REDIRECT

TEST_CASE("xdp_redirect moves a counted burst into the TUN reader", "[netns][example]") {
  WARN("xdp_redirect was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::Child;
using tunkit::test::Netns;
using tunkit::test::run;

namespace {

constexpr int kRedirectBurst = 300;

// S (192.168.62.1) -- veth -- R (192.168.62.2); S routes 10.89.0.0/24 via R.
void join_redirect_namespaces(const Netns& s, const Netns& r, bool forward) {
  auto out = run("ip link add vS type veth peer name vR netns " + r.path() +
                     " && ip addr add 192.168.62.1/24 dev vS && ip link set vS up"
                     " && ip route add 10.89.0.0/24 via 192.168.62.2",
                 &s);
  INFO(out.output);
  REQUIRE(out.status == 0);
  // The namespace's own /proc/sys (ip netns exec and setns(2) both show the entered one).
  out = run(std::string("ip addr add 192.168.62.2/24 dev vR && ip link set vR up && echo ") +
                (forward ? "1" : "0") + " > /proc/sys/net/ipv4/ip_forward",
            &r);
  INFO(out.output);
  REQUIRE(out.status == 0);
}

// Sends `count` 32-byte UDP datagrams from namespace `from` to 10.89.0.7:9, in bursts of 50.
void send_redirect_burst(const Netns& from, int count) {
  std::thread sender([&] {
    tunkit::test::enter(from);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(9);
    ::inet_pton(AF_INET, "10.89.0.7", &sa.sin_addr);
    const int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const std::array<char, 32> p{};
    for (int i = 0; i < count && tx >= 0; ++i) {
      (void)::sendto(tx, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      if (i % 50 == 49) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (tx >= 0) ::close(tx);
  });
  sender.join();
}

// The namespace's IP ForwDatagrams counter (/proc/net/snmp, read inside it), as text.
std::string forwarded(const Netns& ns) {
  return run("awk '/^Ip:/ {n++; if (n == 1) {for (i = 1; i <= NF; i++) if ($i == "
             "\"ForwDatagrams\") c = i} else print $c}' /proc/net/snmp",
             &ns)
      .output;
}

long long redirect_captured(const std::string& text, const std::string& re) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(re))) return -1;
  return std::stoll(m[1].str());
}

}  // namespace

TEST_CASE("xdp_redirect moves a counted burst into the TUN reader through XDP",
          "[netns][example][xdp]") {
  tunkit::testing::NetNsSandbox sandbox;
  if (!tunkit::test::may_load_bpf()) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  const Netns s;
  const Netns r;
  join_redirect_namespaces(s, r, /*forward=*/false);
  Child reader({TUNKIT_XDP_REDIRECT, "--from", "vR", "--count", std::to_string(kRedirectBurst),
                "--timeout", "30"},
               &r);
  const auto ready = reader.wait_for_line("ready: ", 10s);
  INFO(reader.output());
  REQUIRE(ready);
  CHECK(*ready == "ready: xdptun0 via xdp on vR");
  // The program is attached in generic mode while the reader runs ...
  auto link = run("ip -d link show vR", &r);
  CHECK(link.output.find("xdpgeneric") != std::string::npos);
  // ... and passes what is not for the prefix: R's own address still answers (ARP included).
  auto ping = run("ping -c 1 -W 2 192.168.62.2", &s);
  INFO(ping.output);
  CHECK(ping.status == 0);

  send_redirect_burst(s, kRedirectBurst);
  CHECK(reader.wait_exit(10s) == 0);
  const std::string out = reader.output();
  INFO(out);
  CHECK(redirect_captured(out, R"(\ndone: (\d+) packets, )") == kRedirectBurst);
  // 20 (IPv4) + 8 (UDP) + 32 bytes each: the Ethernet header was stripped by the program.
  CHECK(redirect_captured(out, R"(packets, (\d+) bytes)") == kRedirectBurst * 60);
  // R does not forward: the stack never saw them.
  CHECK(forwarded(r) == "0\n");
  // Detached at exit.
  link = run("ip -d link show vR", &r);
  CHECK(link.output.find("xdp") == std::string::npos);
}

TEST_CASE("xdp_redirect --stack: the same burst through the forwarding stack",
          "[netns][example][xdp]") {
  tunkit::testing::NetNsSandbox sandbox;
  const Netns s;
  const Netns r;
  join_redirect_namespaces(s, r, /*forward=*/true);
  Child reader({TUNKIT_XDP_REDIRECT, "--stack", "--count", std::to_string(kRedirectBurst),
                "--timeout", "30"},
               &r);
  const auto ready = reader.wait_for_line("ready: ", 10s);
  INFO(reader.output());
  REQUIRE(ready);
  CHECK(*ready == "ready: xdptun0 via the stack");
  send_redirect_burst(s, kRedirectBurst);
  CHECK(reader.wait_exit(10s) == 0);
  const std::string out = reader.output();
  INFO(out);
  CHECK(redirect_captured(out, R"(\ndone: (\d+) packets, )") == kRedirectBurst);
  CHECK(forwarded(r) != "0\n");
  CHECK(!forwarded(r).empty());
  CHECK(run("ip -d link show vR", &r).output.find("xdp") == std::string::npos);
}

TEST_CASE("xdp_redirect: usage errors exit 2", "[netns][example]") {
  const std::string tool = TUNKIT_XDP_REDIRECT;
  for (const char* args : {"", "--from vR --stack", "--from", "--prefix 10.1.1.1", "--stack -c x",
                           "--stack --prefix fd00::1/64", "--stack extra"}) {
    const auto r = run(tool + " " + args);
    INFO(args << ": " << r.output);
    CHECK(r.status == 2);
  }
  CHECK(run(tool + " --help").status == 0);
}

#endif
