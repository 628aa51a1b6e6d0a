// Handing a device's queues to a process without privileges, with real descriptors and real
// packets: from this test over a Unix socket (tunkit::send_device) to the privsep_worker example,
// from the privsep_broker example to the worker, and from `tunkit run` (LISTEN_FDS) to the
// worker. The worker runs as uid/gid 65534 with no capabilities (setpriv), answers pings through
// the queues it received and counts a UDP burst; its attempts to create a device and to change
// the link are refused. TUNKIT_PRIVSEP_BROKER, TUNKIT_PRIVSEP_WORKER and TUNKIT_CLI come from
// tests/CMakeLists.txt.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "catch.hpp"
#include "privilege_skip.hpp"
#include "subprocess.hpp"
#include "tunkit/handover.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

#if !defined(TUNKIT_PRIVSEP_BROKER) || !defined(TUNKIT_PRIVSEP_WORKER) || !defined(TUNKIT_CLI)

TEST_CASE("hand-over to an unprivileged worker", "[netns][handover]") {
  WARN("the privsep examples or the tunkit tool were not built: nothing to test");
}

#else

namespace handover_netns {

using namespace std::chrono_literals;
using tunkit::test::Child;
using tunkit::test::run;

constexpr int kPings = 3;
constexpr int kDatagrams = 40;

// The worker's command line: as uid/gid 65534 with no capabilities where 65534 is mapped; in an
// unprivileged user namespace (which maps only its creator) it keeps the uid and still drops
// every capability, and the uid part is reported skipped.
std::vector<std::string> as_unprivileged(std::vector<std::string> argv) {
  std::vector<std::string> cmd{"setpriv"};
  if (tunkit_test::id_mapped("/proc/self/uid_map", 65534) &&
      tunkit_test::id_mapped("/proc/self/gid_map", 65534)) {
    cmd.insert(cmd.end(), {"--reuid=65534", "--regid=65534", "--clear-groups"});
  } else {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::unmapped_ids,
                                        "uid or gid 65534 is not mapped here");
  }
  cmd.insert(cmd.end(), {"--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"});
  std::string line;
  for (const auto& a : cmd)
    line += a + " ";
  for (const auto& a : argv)
    line += a + " ";
  return {"/bin/sh", "-c", "exec " + line};
}

// A temporary directory the worker (65534) may reach.
std::filesystem::path socket_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "tunkit-handover-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  REQUIRE(::chmod(tmpl.c_str(), 0755) == 0);
  return tmpl;
}

// Sends `count` UDP datagrams to `address`:9 (routed into the device).
void send_udp_burst(const char* address, int count) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  REQUIRE(::inet_pton(AF_INET, address, &to.sin_addr) == 1);
  for (int i = 0; i < count; ++i) {
    const char payload[] = "burst";
    CHECK(::sendto(s, payload, sizeof payload, 0, reinterpret_cast<const sockaddr*>(&to),
                   sizeof to) == static_cast<ssize_t>(sizeof payload));
  }
  ::close(s);
}

// What every worker run must show: no capabilities, both refusals, the pings answered and the
// burst counted.
void check_worker(Child& worker, const char* peer) {
  REQUIRE(worker.wait_for_line("ready: ", 10s));
  send_udp_burst(peer, kDatagrams);
  const auto ping = run(std::string("ping -c ") + std::to_string(kPings) + " -W 2 " + peer);
  INFO("ping:\n" << ping.output);
  CHECK(ping.status == 0);
  const auto status = worker.wait_exit(15s);
  const std::string out = worker.output();
  INFO("worker:\n" << out);
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(out.find("capabilities none") != std::string::npos);
  // Creating a device: refused at open(/dev/net/tun) or at TUNSETIFF, as the system's
  // /dev/net/tun permissions decide; never created.
  CHECK((out.find("cannot create devices: tunkit: open /dev/net/tun for \"worker%d\": "
                  "permission denied") != std::string::npos ||
         out.find("cannot create devices: tunkit: TUNSETIFF \"worker%d\": operation not "
                  "permitted") != std::string::npos));
  CHECK(out.find("cannot change the link: tunkit: set MTU 1280 on") != std::string::npos);
  // docs/unprivileged.md: a queue's holder may still make device-wide changes.
  CHECK(out.find("TUNSETPERSIST on a received queue: allowed") != std::string::npos);
  CHECK(out.find("operation not permitted (needs CAP_NET_ADMIN") != std::string::npos);
  CHECK(out.find(fmt::format("done: {} replies, {} udp", kPings, kDatagrams)) != std::string::npos);
}

}  // namespace handover_netns

using namespace handover_netns;

TEST_CASE("send_device hands a multi-queue device to an unprivileged worker", "[netns][handover]") {
  tunkit::testing::NetNsSandbox sandbox;
  const auto dir = socket_dir();
  const std::string path = (dir / "s").string();
  // Listen where the worker can connect.
  const int listener = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  REQUIRE(::bind(listener, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::chmod(path.c_str(), 0666) == 0);
  REQUIRE(::listen(listener, 1) == 0);

  tunkit::TunDevice dev({.name = "tkho0", .queues = 3});
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.88.0.1/24"));
  link.set_up();

  Child worker(as_unprivileged({TUNKIT_PRIVSEP_WORKER, "--connect", path, "--count",
                                std::to_string(kPings), "--timeout", "20"}));
  pollfd p{listener, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  const int conn = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(conn >= 0);
  ucred cred{};
  socklen_t len = sizeof cred;
  REQUIRE(::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0);
  // Only to the worker: another uid is refused before anything is sent.
  std::error_code ec;
  tunkit::send_device(conn, dev, ec, {.peer_uid = cred.uid + 1});
  CHECK(ec == std::errc::operation_not_permitted);
  tunkit::send_device(conn, dev, {.purpose = "test data plane", .peer_uid = cred.uid});
  dev.close();  // the worker's queues keep the device
  ::close(conn);
  ::close(listener);
  CHECK(tunkit::find_tun_device("tkho0"));

  check_worker(worker, "10.88.0.2");
  CHECK(worker.output().find("received: tkho0 (test data plane)") != std::string::npos);
  CHECK_FALSE(tunkit::find_tun_device("tkho0"));  // gone with the worker's queues
  std::filesystem::remove_all(dir);
}

TEST_CASE("privsep_broker hands its device to privsep_worker", "[netns][handover][example]") {
  tunkit::testing::NetNsSandbox sandbox;
  const auto dir = socket_dir();
  const std::string path = (dir / "broker.sock").string();
  Child broker({TUNKIT_PRIVSEP_BROKER, "--socket", path, "--name", "tkpb%d", "--timeout", "20"});
  const auto ready = broker.wait_for_line("ready: ", 10s);
  INFO("broker:\n" << broker.output());
  REQUIRE(ready);
  CHECK(*ready == "ready: tkpb0 2 " + path);
  Child worker(as_unprivileged({TUNKIT_PRIVSEP_WORKER, "--connect", path, "--broker-uid",
                                std::to_string(::getuid()), "--count", std::to_string(kPings),
                                "--timeout", "20"}));
  const auto broker_status = broker.wait_exit(10s);
  REQUIRE(broker_status);
  CHECK(*broker_status == 0);
  CHECK(broker.output().find("handed over: tkpb0 2 to uid ") != std::string::npos);
  check_worker(worker, "10.86.0.2");
  CHECK_FALSE(tunkit::find_tun_device("tkpb0"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("tunkit run starts privsep_worker with the queues", "[netns][handover][cli]") {
  tunkit::testing::NetNsSandbox sandbox;
  const bool nobody = tunkit_test::id_mapped("/proc/self/uid_map", 65534) &&
                      tunkit_test::id_mapped("/proc/self/gid_map", 65534);
  std::vector<std::string> argv{TUNKIT_CLI, "run", "--name", "tkrw%d", "--queues", "2"};
  if (nobody) argv.insert(argv.end(), {"--user", "65534", "--group", "65534"});
  argv.insert(argv.end(), {"--addr", "10.89.0.1/24", "--up", "--", TUNKIT_PRIVSEP_WORKER, "--count",
                           std::to_string(kPings), "--timeout", "20"});
  Child worker(argv);
  check_worker(worker, "10.89.0.2");
  if (nobody) CHECK(worker.output().find("worker: uid 65534 gid 65534") != std::string::npos);
  CHECK_FALSE(tunkit::find_tun_device("tkrw0"));
}

#endif
