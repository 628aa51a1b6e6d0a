// The forwarder example run as the data-plane benchmark harness (`./dev bench`) runs it:
// two persistent TUN devices made by `ip tuntap add`, the forwarder attached to both, then the
// devices moved into two namespaces, addressed and routed; a ping and a 64 MiB TCP transfer go
// through it, then a burst of small UDP datagrams. Every mode of the forwarder: plain, with
// offloads passed through, with --split (GSO split + GRO coalesce), with either batch backend,
// multi-queue. TUNKIT_FORWARDER comes from tests/CMakeLists.txt.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "subprocess.hpp"
#include "tcp_transfer.hpp"
#include "tunkit/batch.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

#ifndef TUNKIT_FORWARDER

TEST_CASE("forwarder joins two TUN devices in two namespaces", "[netns][example]") {
  WARN("forwarder was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

using namespace std::chrono_literals;
using tunkit::test::Child;
#ifndef UDP_SEGMENT  // older C library headers than the kernel
#define UDP_SEGMENT 103
#endif

using tunkit::test::Netns;
using tunkit::test::run;

namespace {

struct Setup {
  const char* name;
  const char* tuntap_flags;  // for `ip tuntap add`
  std::vector<std::string> args;
  const char* ready;  // part of the forwarder's ready line
  bool uring = false;
  bool offload = false;  // reads super-packets
};

struct UdpResult {
  int sent = 0;
  std::set<int> received;  // sequence numbers of intact datagrams
  std::string error;
};

// Sends `count` UDP datagrams of `size` bytes from namespace `from` to `addr`:`port` in namespace
// `to`, in bursts of 16 (so that queues of 500 packets do not overflow), and collects what
// arrives within 5 s of the last send. Payload: the sequence number, then a fixed pattern. With
// `gso` > 0, `gso` datagrams per send with UDP_SEGMENT (USO: they leave as one super-packet).
UdpResult udp_burst(const Netns& to, const Netns& from, const char* addr, int port, int count,
                    std::size_t size = 64, int gso = 0) {
  UdpResult res;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, addr, &sa.sin_addr);
  int rx = -1;
  std::thread setup([&] {
    tunkit::test::enter(to);
    rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    // Room for a whole burst of 1400-byte datagrams even when the receiving loop is slow (the
    // sanitizer builds): the test is about what the forwarder delivers.
    const int room = 8 << 20;
    if (rx >= 0) (void)::setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room);
    if (rx >= 0 && ::bind(rx, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      ::close(rx);
      rx = -1;
    }
  });
  setup.join();
  if (rx < 0) {
    res.error = "bind failed";
    return res;
  }
  std::thread sender([&] {
    tunkit::test::enter(from);
    const int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int per_send = std::max(gso, 1);
    if (gso > 0) {
      const int segment = static_cast<int>(size);
      if (::setsockopt(tx, IPPROTO_UDP, UDP_SEGMENT, &segment, sizeof segment) != 0) {
        res.error = "UDP_SEGMENT refused";
        ::close(tx);
        return;
      }
    }
    std::vector<unsigned char> p(size * static_cast<std::size_t>(per_send));
    for (int i = 0; i < count && tx >= 0; i += per_send) {
      for (int d = 0; d < per_send; ++d) {
        unsigned char* q = p.data() + static_cast<std::size_t>(d) * size;
        for (std::size_t k = 0; k < size; ++k)
          q[k] = static_cast<unsigned char>(k * 7);
        const int seq = i + d;
        std::memcpy(q, &seq, sizeof seq);
      }
      if (::sendto(tx, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) ==
          static_cast<ssize_t>(p.size())) {
        res.sent += per_send;
      }
      if ((i + per_send) % 16 < per_send) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (tx >= 0) ::close(tx);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (static_cast<int>(res.received.size()) < count &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{rx, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    std::array<unsigned char, 2048> p{};
    const ssize_t r = ::recv(rx, p.data(), p.size(), 0);
    if (r != static_cast<ssize_t>(size)) continue;
    bool intact = true;
    for (std::size_t k = sizeof(int); k < size; ++k)
      intact = intact && p[k] == static_cast<unsigned char>(k * 7);
    int seq = 0;
    std::memcpy(&seq, p.data(), sizeof seq);
    if (intact) res.received.insert(seq);
  }
  sender.join();
  ::close(rx);
  return res;
}

}  // namespace

TEST_CASE("forwarder joins two TUN devices in two namespaces", "[netns][example]") {
  const Setup mode = GENERATE(
      Setup{"plain", "", {"--backend", "loop"}, "queues 1 vnet off offload off backend loop"},
      Setup{"offload",
            "vnet_hdr",
            {"--offload", "--backend", "loop"},
            "queues 1 vnet on offload CSUM|TSO4|TSO6",
            false,
            true},
      Setup{
          "split", "vnet_hdr", {"--split"}, "queues 1 vnet on offload CSUM|TSO4|TSO6", false, true},
      Setup{"split-copy", "vnet_hdr", {"--split-copy"}, "split copy", false, true},
      Setup{"split-verify",
            "vnet_hdr",
            {"--split", "--verify", "--backend", "loop"},
            "backend loop split on verify",
            false,
            true},
      Setup{"uring",
            "",
            {"--backend", "uring"},
            "vnet off offload off backend uring split off",
            true},
      Setup{"uring-split",
            "vnet_hdr",
            {"--split", "--backend", "uring"},
            "backend uring split on",
            true,
            true},
      Setup{"multi-queue", "multi_queue", {"--queues", "2"}, "queues 2 vnet off offload off"});
  INFO("mode " << mode.name);
  // Under TUNKIT_TEST_LAUNCHER (./dev valgrind) the forwarder runs about ten times slower, and
  // valgrind cannot follow io_uring (the kernel fills the ring behind its back): the io_uring
  // modes are left to the plain run, the transfer is smaller, and UDP may drop under load.
  const bool launched = !tunkit::test::launcher().empty();
  if (mode.uring && launched) {
    WARN("io_uring mode not run under TUNKIT_TEST_LAUNCHER (valgrind cannot follow io_uring)");
    return;
  }
  if (mode.uring && !tunkit::BatchIo::uring_available()) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL("io_uring unavailable and CI=true");
    WARN("skipped: io_uring is unavailable (not built with liburing, or refused by the kernel)");
    return;
  }
  tunkit::testing::NetNsSandbox sandbox;  // the forwarder's own namespace, as the harness's
  const Netns a;
  const Netns b;

  REQUIRE(run(std::string("ip tuntap add dev fwa mode tun ") + mode.tuntap_flags +
              " && ip tuntap add dev fwb mode tun " + mode.tuntap_flags)
              .status == 0);
  std::vector<std::string> argv{TUNKIT_FORWARDER};
  argv.insert(argv.end(), mode.args.begin(), mode.args.end());
  // The default backend is io_uring where available: valgrind gets the loop.
  if (launched) argv.insert(argv.end(), {"--backend", "loop"});
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

  const std::size_t kBytes = launched ? 4U << 20U : 64U << 20U;  // many super-packets
  const auto t = tunkit::test::tcp_transfer(b, a, "10.201.1.1", 7002, kBytes);
  INFO("transfer: " << t.error << " in " << t.seconds << " s");
  CHECK(t.error.empty());
  CHECK(t.received_bytes == kBytes);
  CHECK(t.received_hash == t.sent_hash);

  // Small UDP datagrams (with --split, runs of them leave coalesced into USO super-packets).
  const UdpResult u = udp_burst(b, a, "10.201.1.1", 7003, 2000);
  INFO("udp: sent " << u.sent << ", received " << u.received.size() << " " << u.error);
  CHECK(u.error.empty());
  CHECK(u.sent == 2000);
  // UDP may drop a few under load (many under valgrind), never corrupt one.
  CHECK(u.received.size() >= (launched ? 1U : 1900U));
  // Bulk: 1400-byte datagrams from an ordinary socket and from one sending with UDP_SEGMENT (with
  // offloads they reach the forwarder as USO super-packets; with --split they are cut and merged
  // again); every datagram arrives whole, as sent.
  for (const int gso : {0, 8}) {
    const UdpResult bulk = udp_burst(b, a, "10.201.1.1", 7004 + gso, 800, 1400, gso);
    INFO("udp 1400 B, gso " << gso << ": sent " << bulk.sent << ", received "
                            << bulk.received.size() << " " << bulk.error);
    CHECK(bulk.error.empty());
    CHECK(bulk.sent == 800);
    CHECK(bulk.received.size() >= (launched ? 1U : 760U));
  }

  forwarder.signal(SIGTERM);
  CHECK(forwarder.wait_exit(5s) == 0);
  const std::string& out = forwarder.output();
  std::smatch m;
  REQUIRE(std::regex_search(out, m,
                            std::regex(R"(fwa -> fwb: (\d+) packets, (\d+) bytes, )"
                                       R"(largest (\d+), dropped \d+\n)")));
  CHECK(std::stoull(m[2].str()) > kBytes);  // the transfer went a -> b
  if (mode.offload) {
    // Super-packets passed through: far larger than the 1500-byte MTU.
    CHECK(std::stoull(m[3].str()) > 1500 + 10);
  } else {
    CHECK(std::stoull(m[3].str()) <= 1500);
  }
  CHECK(std::regex_search(out, std::regex(R"(fwb -> fwa: \d+ packets, )")));
  // Every drop is explained: by cause, and the kernel's own counters of both devices.
  const long long dropped = std::stoll(
      std::regex_search(out, m, std::regex(R"(fwa -> fwb: \d+ packets, .*, dropped (\d+)\n)"))
          ? m[1].str()
          : "-1");
  CHECK(dropped >= 0);
  if (dropped > 0) {
    CHECK(std::regex_search(out, std::regex(R"(\nfwa -> fwb: dropped \d+ while fwb was down )"
                                            R"(\(the kernel refuses writes then: EIO\))")));
    // Nothing else: no write refused (a gathered write of more pieces than a queue takes once
    // was), none too long, none unsplittable.
    CHECK(std::regex_search(out,
                            std::regex(R"(, 0 refused by fwb, 0 too long, 0 not splittable\n)")));
  }
  CHECK(std::regex_search(out, std::regex(R"(\nkernel: fwa: \d+ dropped on the way to the )"
                                          R"(forwarder \(tx_dropped: its queue was full\), )")));
  CHECK(std::regex_search(out, std::regex(R"(\nkernel: fwb: \d+ dropped on the way to the )"
                                          R"(forwarder )")));
  (void)run("ip link del fwa", &a);
  (void)run("ip link del fwb", &b);
}

TEST_CASE("forwarder: a packet for a device that is down is dropped, and the report says why",
          "[netns][example]") {
  // The "dropped 1" of every run: the first packet fwa sends when it comes up (an IPv6 router
  // solicitation), before fwb is up; the kernel refuses writes to a device that is down (EIO).
  // Here IPv6 is off and two pings go to fwb while it is down: exactly they are dropped.
  tunkit::testing::NetNsSandbox sandbox;
  REQUIRE(run("ip tuntap add dev fwa mode tun && ip tuntap add dev fwb mode tun && "
              "sysctl -qw net.ipv6.conf.fwa.disable_ipv6=1 && "
              "ip addr add 10.202.0.1/24 dev fwa && ip link set fwa up && "
              "ip route add 10.202.1.0/24 dev fwa")
              .status == 0);
  // The loop backend: the default (io_uring) is one valgrind cannot follow (./dev valgrind).
  Child forwarder({TUNKIT_FORWARDER, "--backend", "loop", "--timeout", "30", "fwa", "fwb"});
  REQUIRE(forwarder.wait_for_line("ready: ", 10s));
  (void)run("ping -c 2 -i 0.2 -W 1 10.202.1.1");  // nobody answers: fwb is down
  forwarder.signal(SIGTERM);
  CHECK(forwarder.wait_exit(5s) == 0);
  const std::string out = forwarder.output();
  INFO(out);
  std::smatch m;
  REQUIRE(std::regex_search(out, m,
                            std::regex(R"(fwa -> fwb: (\d+) packets, \d+ bytes, )"
                                       R"(largest 84, dropped (\d+)\n)")));
  CHECK(m[1].str() == "2");  // the pings, nothing else (no IPv6 on fwa)
  CHECK(m[2].str() == "2");
  CHECK(
      std::regex_search(out, std::regex(R"(\nfwa -> fwb: dropped 2 while fwb was down \(the )"
                                        R"(kernel refuses writes then: EIO\), the first: IP )"
                                        R"(10\.202\.0\.1 > 10\.202\.1\.1: ICMP echo request, id )"
                                        R"(\d+, seq 1, length 64, 0 refused by fwb, 0 too long, 0 )"
                                        R"(not splittable\n)")));
  CHECK(out.find("fwb -> fwa: 0 packets, 0 bytes, largest 0, dropped 0\n") != std::string::npos);
  CHECK(out.find("fwb -> fwa: dropped") == std::string::npos);  // nothing to explain
  CHECK(out.find("kernel: fwa: 0 dropped on the way to the forwarder (tx_dropped: its queue was "
                 "full), 0 written by the forwarder and refused or dropped (rx_dropped: refused "
                 "writes included)\n") != std::string::npos);
}

TEST_CASE("./dev try forwarder: the recipe runs, pings through the forwarder, leaves nothing",
          "[netns][example][try]") {
  tunkit::testing::NetNsSandbox sandbox;
  const std::string before = run("ip -br link show").output;
  const auto r = run(std::string(TUNKIT_SOURCE_DIR) + "/examples/try.sh forwarder " +
                     TUNKIT_FORWARDER + " 2>&1");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("\n$ ip link set fwa netns tka\n") != std::string::npos);
  CHECK(r.output.find("3 packets transmitted, 3 received") != std::string::npos);
  CHECK(r.output.find("== what forwarder printed ==\nready: fwa fwb ") != std::string::npos);
  CHECK(std::regex_search(r.output, std::regex(R"(\nfwa -> fwb: [1-9]\d* packets, )")));
  CHECK(run("ip -br link show").output == before);  // its namespaces were its own
}

TEST_CASE("forwarder: usage and attach errors", "[netns][example]") {
  tunkit::testing::NetNsSandbox sandbox;
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
