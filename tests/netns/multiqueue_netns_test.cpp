// Multi-queue devices and the TUN ioctl surface against the real kernel, each test in a fresh
// network namespace. All traffic goes to addresses of devices made inside that namespace.
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "privilege_skip.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using namespace std::chrono_literals;
using tunkit::testing::NetNsSandbox;

// /sys/class/net shows the namespace sysfs was mounted in, not the thread's: ask the kernel.
bool link_exists(const std::string& name) {
  return ::if_nametoindex(name.c_str()) != 0;
}

// Runs a shell command inside the calling thread's namespace (children inherit it).
int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

std::string sh_out(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::array<char, 512> buf{};
    while (std::fgets(buf.data(), static_cast<int>(buf.size()), p) != nullptr)
      out += buf.data();
    pclose(p);
  }
  return out;
}

void configure(const tunkit::TunDevice& dev, const char* prefix) {
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse(prefix));
  link.set_up();
}

// A UDP socket bound to `src_port` on any address; sends to dst:port.
struct UdpSender {
  int fd = -1;
  explicit UdpSender(std::uint16_t src_port) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(src_port);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~UdpSender() { ::close(fd); }
  UdpSender(const UdpSender&) = delete;
  UdpSender& operator=(const UdpSender&) = delete;
  void send(const char* dst, std::uint16_t port, const void* data, std::size_t len) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    REQUIRE(inet_pton(AF_INET, dst, &a.sin_addr) == 1);
    REQUIRE(::sendto(fd, data, len, 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
            static_cast<ssize_t>(len));
  }
};

// The UDP payload of an IPv4 packet to `port`, or empty.
std::string udp_payload_v4(std::span<const std::byte> p, std::uint16_t port) {
  if (p.size() < 28 || (std::to_integer<unsigned>(p[0]) >> 4U) != 4) return {};
  const std::size_t ihl = (std::to_integer<unsigned>(p[0]) & 0xFU) * 4U;
  if (std::to_integer<unsigned>(p[9]) != 17 || p.size() < ihl + 8) return {};
  const unsigned dport =
      (std::to_integer<unsigned>(p[ihl + 2]) << 8U) | std::to_integer<unsigned>(p[ihl + 3]);
  if (dport != port) return {};
  return {reinterpret_cast<const char*>(p.data() + ihl + 8), p.size() - ihl - 8};
}

struct Frame {
  std::array<std::uint8_t, 6> dst{};
  unsigned ethertype = 0;
  unsigned ip_proto = 0;
};

Frame parse_frame(std::span<const std::byte> f) {
  Frame out;
  if (f.size() < 14) return out;
  for (std::size_t i = 0; i < 6; ++i)
    out.dst[i] = std::to_integer<std::uint8_t>(f[i]);
  out.ethertype = (std::to_integer<unsigned>(f[12]) << 8U) | std::to_integer<unsigned>(f[13]);
  if (out.ethertype == 0x0800 && f.size() >= 34) out.ip_proto = std::to_integer<unsigned>(f[23]);
  return out;
}

// Reads every frame the device delivers until `deadline`, non-blocking through wait_readable.
std::vector<std::vector<std::byte>> drain(tunkit::Queue& q,
                                          std::chrono::milliseconds for_how_long) {
  std::vector<std::vector<std::byte>> out;
  const auto deadline = std::chrono::steady_clock::now() + for_how_long;
  std::array<std::byte, 2048> buf{};
  while (std::chrono::steady_clock::now() < deadline && out.size() < 1000) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (q.wait_readable(std::max(left, 0ms)) != tunkit::WaitResult::ready) break;
    std::error_code ec;
    const std::size_t n = q.read(buf, ec);
    if (ec == std::errc::resource_unavailable_try_again) continue;
    REQUIRE_FALSE(ec);
    out.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return out;
}

void add_neighbour(const tunkit::TunDevice& dev, const char* ip, const char* mac) {
  REQUIRE(sh(std::string("ip neigh replace ") + ip + " lladdr " + mac + " nud permanent dev " +
             dev.name()) == 0);
}

// Loads a two-instruction eBPF socket filter "r0 = value; exit" (root only).
int load_ebpf_return(std::int32_t value) {
  std::array<bpf_insn, 2> insns{};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = value;
  insns[1].code = BPF_JMP | BPF_EXIT;
  static const char license[] = "MIT";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insn_cnt = static_cast<std::uint32_t>(insns.size());
  attr.insns = reinterpret_cast<std::uint64_t>(insns.data());
  attr.license = reinterpret_cast<std::uint64_t>(license);
  return static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
}

}  // namespace

TEST_CASE("four queues: flows spread over several queues, each packet read exactly once",
          "[netns][multiqueue]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "mq%d", .queues = 4, .non_blocking = true});
  REQUIRE(dev.queue_count() == 4);
  REQUIRE(dev.flags().has(tunkit::Flag::multi_queue));
  configure(dev, "10.98.0.1/24");

  constexpr int kFlows = 16;
  constexpr int kPerFlow = 8;
  std::vector<std::unique_ptr<UdpSender>> senders;
  for (int f = 0; f < kFlows; ++f) {
    senders.push_back(std::make_unique<UdpSender>(static_cast<std::uint16_t>(41000 + f)));
  }
  std::set<std::string> sent;
  for (int i = 0; i < kPerFlow; ++i) {
    for (int f = 0; f < kFlows; ++f) {
      const std::string msg = "flow " + std::to_string(f) + " seq " + std::to_string(i);
      senders[static_cast<std::size_t>(f)]->send("10.98.0.2", 9999, msg.data(), msg.size());
      sent.insert(msg);
    }
  }

  std::map<std::string, int> seen;  // payload -> times read
  std::set<std::size_t> queues_used;
  std::map<std::string, std::set<std::size_t>> queues_of_flow;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::array<std::byte, 2048> buf{};
  while (seen.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
    bool any = false;
    for (std::size_t qi = 0; qi < dev.queue_count(); ++qi) {
      std::error_code ec;
      const std::size_t n = dev.queue(qi).read(buf, ec);
      if (ec == std::errc::resource_unavailable_try_again) continue;
      REQUIRE_FALSE(ec);
      any = true;
      const std::string payload = udp_payload_v4(std::span(buf).first(n), 9999);
      if (payload.empty()) continue;  // IPv6 solicitations and the like
      ++seen[payload];
      queues_used.insert(qi);
      queues_of_flow[payload.substr(0, payload.find(" seq"))].insert(qi);
    }
    if (!any) (void)dev.queue(0).wait_readable(10ms);
  }
  CHECK(seen.size() == sent.size());
  for (const auto& [payload, count] : seen) {
    CHECK(sent.count(payload) == 1);
    CHECK(count == 1);
  }
  CHECK(queues_used.size() > 1);
  // The kernel keeps a flow on one queue (flow hash), so a packet is never reordered across queues.
  for (const auto& [flow, qs] : queues_of_flow)
    CHECK(qs.size() == 1);
}

TEST_CASE("queue limit and flag mismatch give clear errors", "[netns][multiqueue]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "mq0", .multi_queue = true});
  SECTION("a single-queue open of a multi-queue device") {
    try {
      tunkit::TunDevice other({.name = "mq0"});
      FAIL("opened");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::error_code(EINVAL, std::system_category()));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETIFF \"mq0\": invalid argument (the name belongs to a device of another "
            "kind, or the existing device differs in TUN/TAP mode or multi-queue setting)");
    }
  }
  SECTION("a TAP open of a TUN device") {
    std::error_code ec;
    tunkit::TunDevice other;
    other.open({.name = "mq0", .mode = tunkit::Mode::tap, .multi_queue = true}, ec);
    CHECK(ec == std::error_code(EINVAL, std::system_category()));
    CHECK_FALSE(other.is_open());
  }
  SECTION("the 257th queue") {
    for (unsigned i = 1; i < tunkit::max_queues; ++i)
      (void)dev.add_queue();
    CHECK(dev.queue_count() == 256);
    std::error_code ec;
    CHECK(dev.add_queue(ec) == nullptr);
    CHECK(ec == std::error_code(E2BIG, std::system_category()));
    // The kernel says the same to a queue attached from elsewhere.
    tunkit::Queue extra;
    extra.open({.name = "mq0", .multi_queue = true}, ec);
    CHECK(ec == std::error_code(E2BIG, std::system_category()));
  }
  SECTION("more queues than the kernel allows, asked up front") {
    try {
      tunkit::TunDevice big({.name = "mq1", .queues = 257});
      FAIL("opened");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()) ==
            "tunkit: open \"mq1\": invalid argument (Options::queues must be 1..256, not 257)");
    }
    CHECK_FALSE(link_exists("mq1"));
  }
}

TEST_CASE("a queue attached later by name shares the device", "[netns][multiqueue]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "mq%d", .multi_queue = true, .non_blocking = true});
  tunkit::Queue late({.name = dev.name(), .multi_queue = true, .non_blocking = true});
  CHECK(late.name() == dev.name());
  CHECK(late.ifindex() == dev.ifindex());
  configure(dev, "10.95.0.1/24");
  // Several flows: at least one lands on the late queue.
  std::size_t on_late = 0;
  std::array<std::byte, 2048> buf{};
  for (std::uint16_t port = 42000; port < 42032 && on_late == 0; ++port) {
    UdpSender s(port);
    s.send("10.95.0.2", 9999, "x", 1);
    const auto deadline = std::chrono::steady_clock::now() + 1s;
    bool got = false;
    while (!got && std::chrono::steady_clock::now() < deadline) {
      for (tunkit::Queue* q : {&dev.queue(0), &late}) {
        std::error_code ec;
        const std::size_t n = q->read(buf, ec);
        if (!ec && udp_payload_v4(std::span(buf).first(n), 9999) == "x") {
          got = true;
          if (q == &late) ++on_late;
        }
      }
      if (!got) (void)late.wait_readable(5ms);
    }
    REQUIRE(got);
  }
  CHECK(on_late == 1);
  // Disabling the late queue steers everything to the first one.
  late.disable();
  CHECK_FALSE(late.enabled());
  for (std::uint16_t port = 43000; port < 43008; ++port) {
    UdpSender s(port);
    s.send("10.95.0.2", 9999, "y", 1);
  }
  std::size_t on_first = 0;
  for (const auto& p : drain(dev.queue(0), 500ms)) {
    if (udp_payload_v4(p, 9999) == "y") ++on_first;
  }
  CHECK(on_first == 8);
  std::error_code ec;
  CHECK(late.read(buf, ec) == 0);
  CHECK(ec == std::errc::resource_unavailable_try_again);
}

// The orderings of the kernel's own selftest (tools/testing/selftests/net/tun.c): a device with
// two queues, the first detached/re-attached/closed and the link deleted in each order.
TEST_CASE("kernel selftest orderings of detach, delete and close", "[netns][multiqueue]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tsel0", .queues = 2});
  REQUIRE(link_exists("tsel0"));
  auto del = [&] { return sh("ip link del tsel0"); };
  tunkit::Queue& q = dev.queue(0);
  std::error_code ec;

  SECTION("delete, detach, close") {
    REQUIRE(del() == 0);
    q.disable(ec);  // the kernel answers EINVAL; tunkit reports what it observed
    CHECK(ec == std::error_code(EBADFD, std::system_category()));
    std::array<std::byte, 64> buf{};
    (void)dev.queue(1).read(buf, ec);
    CHECK(ec == std::error_code(EBADFD, std::system_category()));
    try {
      (void)dev.queue(1).read(buf);
      FAIL("read after delete");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()) ==
            "tunkit: read \"tsel0\": device removed or not attached (the interface was deleted)");
    }
  }
  SECTION("detach, delete, close") {
    q.disable(ec);
    CHECK_FALSE(ec);
    CHECK(del() == 0);
  }
  SECTION("detach, close, delete") {
    q.disable(ec);
    CHECK_FALSE(ec);
    q.close();
    CHECK(del() == 0);
  }
  SECTION("reattach, delete, close") {
    q.disable(ec);
    CHECK_FALSE(ec);
    q.enable(ec);
    CHECK_FALSE(ec);
    CHECK(del() == 0);
  }
  SECTION("reattach, close, delete") {
    q.disable(ec);
    CHECK_FALSE(ec);
    q.enable(ec);
    CHECK_FALSE(ec);
    q.close();
    CHECK(del() == 0);
  }
  dev.close();
  CHECK_FALSE(link_exists("tsel0"));
}

TEST_CASE("disabling a queue twice is EINVAL with a clear message", "[netns][multiqueue]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "mq0", .queues = 2});
  dev.queue(1).disable();
  try {
    dev.queue(1).disable();
    FAIL("second detach accepted");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETQUEUE detach \"mq0\": invalid argument (not a "
          "multi-queue device, or already disabled)");
  }
  dev.queue(1).enable();
  CHECK(dev.queue(1).enabled());
  // Device-wide calls work while the first queue is disabled: they go through an enabled one.
  dev.queue(0).disable();
  CHECK(dev.send_buffer() > 0);
}

TEST_CASE("a classic BPF filter that drops UDP really drops it", "[netns][filter]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice tap({.name = "tbpf0", .mode = tunkit::Mode::tap, .non_blocking = true});
  configure(tap, "10.97.0.1/24");
  add_neighbour(tap, "10.97.0.2", "02:00:00:00:97:02");
  // ldh [12]; jne #0x800, accept; ldb [23]; jeq #17, drop, accept; drop: ret #0; accept: ret #-1
  const std::array<tunkit::BpfInstruction, 6> drop_udp{{
      {0x28, 0, 0, 12},
      {0x15, 0, 3, 0x0800},
      {0x30, 0, 0, 23},
      {0x15, 0, 1, 17},
      {0x06, 0, 0, 0},
      {0x06, 0, 0, 0xFFFFFFFF},
  }};
  UdpSender udp(44000);
  auto count = [&](unsigned proto) {
    std::size_t n = 0;
    for (const auto& f : drain(tap.queue(0), 400ms)) {
      const Frame fr = parse_frame(f);
      if (fr.ethertype == 0x0800 && fr.ip_proto == proto) ++n;
    }
    return n;
  };
  // ICMP passes the filter: a ping via a raw ICMP datagram socket.
  auto send_icmp = [] {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (s < 0) return false;  // ping sockets disabled for this group: fall back below
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "10.97.0.2", &a.sin_addr);
    std::array<std::uint8_t, 8> echo{8, 0, 0, 0, 0, 1, 0, 1};
    const bool ok = ::sendto(s, echo.data(), echo.size(), 0, reinterpret_cast<sockaddr*>(&a),
                             sizeof a) == static_cast<ssize_t>(echo.size());
    ::close(s);
    return ok;
  };
  // Ping sockets for this process's group. Only a range of groups mapped in the namespace's user
  // namespace is accepted (an unprivileged one maps only the user's own group), so not 0..2^31-1.
  const std::string gid = std::to_string(::getgid());
  REQUIRE(sh("sysctl -w net.ipv4.ping_group_range='" + gid + " " + gid + "'") == 0);

  udp.send("10.97.0.2", 9999, "before", 6);
  CHECK(count(17) == 1);

  tap.attach_filter(drop_udp);
  CHECK(tap.filter_size() == drop_udp.size());
  for (int i = 0; i < 3; ++i)
    udp.send("10.97.0.2", 9999, "during", 6);
  REQUIRE(send_icmp());
  std::size_t udp_seen = 0;
  std::size_t icmp_seen = 0;
  for (const auto& f : drain(tap.queue(0), 500ms)) {
    const Frame fr = parse_frame(f);
    if (fr.ethertype == 0x0800 && fr.ip_proto == 17) ++udp_seen;
    if (fr.ethertype == 0x0800 && fr.ip_proto == 1) ++icmp_seen;
  }
  CHECK(udp_seen == 0);
  CHECK(icmp_seen == 1);

  tap.detach_filter();
  CHECK(tap.filter_size() == drop_udp.size());  // the kernel remembers the last program's length
  udp.send("10.97.0.2", 9999, "after", 5);
  CHECK(count(17) == 1);
}

TEST_CASE("the TAP TX filter drops frames for other MACs", "[netns][filter]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice tap({.name = "ttxf0", .mode = tunkit::Mode::tap, .non_blocking = true});
  configure(tap, "10.96.0.1/24");
  const auto a = tunkit::MacAddress::parse("02:00:00:00:96:02");
  const auto b = tunkit::MacAddress::parse("02:00:00:00:96:03");
  add_neighbour(tap, "10.96.0.2", a.to_string().c_str());
  add_neighbour(tap, "10.96.0.3", b.to_string().c_str());
  UdpSender udp(45000);
  auto frames_to = [&](const tunkit::MacAddress& mac) {
    std::size_t n = 0;
    for (const auto& f : drain(tap.queue(0), 400ms)) {
      if (parse_frame(f).dst == mac.bytes) ++n;
    }
    return n;
  };
  const std::array<tunkit::MacAddress, 1> only_a{a};
  tap.set_tx_filter(only_a);
  udp.send("10.96.0.2", 9999, "a", 1);
  CHECK(frames_to(a) == 1);
  udp.send("10.96.0.3", 9999, "b", 1);
  CHECK(frames_to(b) == 0);

  tap.clear_tx_filter();
  udp.send("10.96.0.3", 9999, "b", 1);
  CHECK(frames_to(b) == 1);

  // A TUN has no TX filter.
  tunkit::TunDevice tun({.name = "ttxf1"});
  try {
    tun.set_tx_filter(only_a);
    FAIL("TX filter accepted on a TUN");
  } catch (const std::system_error& e) {
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETTXFILTER \"ttxf1\": invalid argument (TAP devices only)");
  }
}

TEST_CASE("carrier off shows NO-CARRIER, and a device can start without carrier",
          "[netns][carrier]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tcar0"});
  configure(dev, "10.94.0.1/24");
  tunkit::Link link(dev.ifindex());
  CHECK(link.state().lower_up);
  dev.set_carrier(false);
  CHECK_FALSE(link.state().lower_up);
  CHECK(sh_out("ip link show tcar0").find("NO-CARRIER") != std::string::npos);
  dev.set_carrier(true);
  CHECK(link.state().lower_up);
  CHECK(sh_out("ip link show tcar0").find("NO-CARRIER") == std::string::npos);

  tunkit::TunDevice off({.name = "tcar1", .no_carrier = true});
  // IFF_NO_CARRIER only acts at creation: TUNGETIFF does not report it (measured on 6.18).
  CHECK_FALSE(off.flags().has(tunkit::Flag::no_carrier));
  tunkit::Link(off.ifindex()).set_up();
  CHECK(sh_out("ip link show tcar1").find("NO-CARRIER") != std::string::npos);
}

TEST_CASE("link type, ifindex, netns, send buffer, vnet knobs", "[netns][ioctl]") {
  NetNsSandbox sandbox;
  SECTION("TUNSETLINK needs the link down") {
    tunkit::TunDevice dev({.name = "tlnk0"});
    dev.set_link_type(772);  // ARPHRD_LOOPBACK, any type the kernel stores
    CHECK(sh_out("ip -o link show tlnk0").find("link/loopback") != std::string::npos);
    tunkit::Link(dev.ifindex()).set_up();
    try {
      dev.set_link_type(65534);
      FAIL("changed link type while up");
    } catch (const std::system_error& e) {
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETLINK \"tlnk0\": device busy (bring the link down first)");
    }
  }
  SECTION("TUNSETIFINDEX picks the interface index") {
    tunkit::TunDevice dev({.name = "tidx0", .ifindex = 4242});
    CHECK(dev.ifindex() == 4242);
    CHECK(::if_nametoindex("tidx0") == 4242);
  }
  SECTION("TUNGETDEVNETNS is the sandbox's namespace") {
    tunkit::TunDevice dev({.name = "tns0"});
    const int fd = dev.open_netns();
    REQUIRE(fd >= 0);
    struct stat a {};
    struct stat b {};
    REQUIRE(::fstat(fd, &a) == 0);
    REQUIRE(::fstat(sandbox.netns_fd(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    ::close(fd);
  }
  SECTION("send buffer") {
    tunkit::TunDevice dev({.name = "tsnd0"});
    dev.set_send_buffer(65536);
    CHECK(dev.send_buffer() == 65536);
    std::error_code ec;
    dev.set_send_buffer(0, ec);
    CHECK(ec == std::error_code(EINVAL, std::system_category()));
    CHECK(dev.send_buffer() == 65536);
  }
  SECTION("vnet header size and endianness") {
    tunkit::TunDevice dev({.name = "tvn0", .vnet_hdr = true});
    CHECK(dev.flags().has(tunkit::Flag::vnet_hdr));
    CHECK(dev.vnet_header_size() == 10);
    dev.set_vnet_header_size(12);
    CHECK(dev.vnet_header_size() == 12);
    std::error_code ec;
    dev.set_vnet_header_size(4, ec);
    CHECK(ec == std::error_code(EINVAL, std::system_category()));
    CHECK_FALSE(dev.vnet_little_endian());
    dev.set_vnet_little_endian(true);
    CHECK(dev.vnet_little_endian());
    dev.set_vnet_little_endian(false);
    CHECK_FALSE(dev.vnet_little_endian());
    // Big-endian headers exist only with CONFIG_TUN_VNET_CROSS_LE: either works or says EINVAL.
    dev.set_vnet_big_endian(true, ec);
    if (!ec) {
      CHECK(dev.vnet_big_endian());
    } else {
      CHECK(ec == std::error_code(EINVAL, std::system_category()));
    }
  }
  SECTION("NAPI flags are offered and set") {
    const auto features = tunkit::TunDevice::features();
    REQUIRE(features.has(tunkit::Flag::napi | tunkit::Flag::napi_frags));
    {
      tunkit::TunDevice dev({.name = "tnapi0", .mode = tunkit::Mode::tap, .napi = true});
      CHECK(dev.flags().has(tunkit::Flag::napi));
      CHECK_FALSE(dev.flags().has(tunkit::Flag::napi_frags));
    }
    std::error_code ec;
    tunkit::TunDevice dev;
    dev.open({.name = "tnapi1", .mode = tunkit::Mode::tap, .napi = true, .napi_frags = true}, ec);
    if (ec == std::error_code(EPERM, std::system_category())) {
      // The driver asks capable(CAP_NET_ADMIN), in the initial user namespace, for NAPI_FRAGS.
      tunkit_test::skip_without_privilege(tunkit_test::Privilege::napi_frags, ec.message());
      return;
    }
    REQUIRE_FALSE(ec);
    CHECK(dev.flags().has(tunkit::Flag::napi | tunkit::Flag::napi_frags));
  }
}

TEST_CASE("steering and filter eBPF programs", "[netns][ebpf]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice dev({.name = "tebpf0", .queues = 4, .non_blocking = true});
  configure(dev, "10.93.0.1/24");
  const int steer_to_2 = load_ebpf_return(2);
  if (steer_to_2 < 0 && errno == EPERM) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, std::strerror(EPERM));
    return;
  }
  const int drop_all = load_ebpf_return(0);
  REQUIRE(steer_to_2 >= 0);
  REQUIRE(drop_all >= 0);

  auto send_flows = [](const char* tag) {
    for (std::uint16_t port = 46000; port < 46016; ++port) {
      UdpSender s(port);
      s.send("10.93.0.2", 9999, tag, std::strlen(tag));
    }
  };
  auto per_queue = [&](const char* tag) {
    std::array<std::size_t, 4> n{};
    for (std::size_t qi = 0; qi < 4; ++qi) {
      for (const auto& p : drain(dev.queue(qi), 200ms)) {
        if (udp_payload_v4(p, 9999) == tag) ++n[qi];
      }
    }
    return n;
  };

  dev.set_steering_ebpf(steer_to_2);
  send_flows("s");
  CHECK(per_queue("s") == std::array<std::size_t, 4>{0, 0, 16, 0});
  dev.set_steering_ebpf(-1);

  dev.set_filter_ebpf(drop_all);
  send_flows("f");
  const auto filtered = per_queue("f");
  CHECK(filtered[0] + filtered[1] + filtered[2] + filtered[3] == 0);
  dev.set_filter_ebpf(-1);
  send_flows("g");
  const auto passed = per_queue("g");
  CHECK(passed[0] + passed[1] + passed[2] + passed[3] == 16);
  ::close(steer_to_2);
  ::close(drop_all);
}

TEST_CASE("the kernel's answers that the fake kernel reproduces for queues",
          "[netns][multiqueue]") {
  NetNsSandbox sandbox;
  SECTION("a classic filter keeps queues with packet information out: tunkit says so") {
    tunkit::TunDevice tap(
        {.name = "tq0", .mode = tunkit::Mode::tap, .packet_info = true, .queues = 2});
    tap.queue(1).disable();
    const std::array<tunkit::BpfInstruction, 1> accept{{{0x06, 0, 0, 0xFFFFFFFF}}};
    tap.attach_filter(accept);
    std::error_code ec;
    tap.queue(1).enable(ec);
    CHECK(ec == std::error_code(EBUSY, std::system_category()));
    CHECK_FALSE(tap.queue(1).enabled());
    CHECK(tap.add_queue(ec) == nullptr);
    CHECK(ec == std::error_code(EBADFD, std::system_category()));
    tap.detach_filter();
    tap.queue(1).enable();
    CHECK(tap.queue(1).enabled());
    CHECK(tap.add_queue().is_open());
  }
  SECTION("carrier cannot go on without an enabled queue; send buffers are per queue") {
    tunkit::TunDevice dev({.name = "tq1", .queues = 2});
    dev.queue(0).disable();
    dev.set_send_buffer(65536);
    dev.queue(1).disable();
    CHECK(dev.send_buffer() == INT_MAX);  // queue 0's, disabled when it was set
    std::error_code ec;
    dev.set_carrier(true, ec);
    CHECK(ec == std::error_code(EPERM, std::system_category()));
    dev.set_carrier(false);
    dev.queue(1).enable();
    CHECK(dev.send_buffer() == 65536);
    CHECK(dev.add_queue().is_open());
  }
  SECTION("an interface index that is taken") {
    tunkit::TunDevice a({.name = "tq2", .ifindex = 4343});
    std::error_code ec;
    tunkit::TunDevice b;
    b.open({.name = "tq3", .ifindex = 4343}, ec);
    CHECK(ec == std::error_code(EBUSY, std::system_category()));
    CHECK_FALSE(link_exists("tq3"));
  }
}
