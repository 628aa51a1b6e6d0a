// tunkit::pcap against the real kernel: a compiled `icmp` program attached to a TAP device lets
// pings through and drops a UDP burst (every datagram counted in tx_dropped), also with a
// virtio-net header and packet information; a TUN device refuses the program, and the same
// expression compiled for raw IP picks the pings out in user space; a capture written with
// pcap::Writer is read by tcpdump. All traffic goes to addresses routed into devices made in the
// sandbox's namespace.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "privilege_skip.hpp"
#include "subprocess.hpp"
#include "tunkit/pcap.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using namespace std::chrono_literals;
namespace pcap = tunkit::pcap;
using tunkit::testing::NetNsSandbox;

constexpr std::size_t pcap_udp_burst = 50;
constexpr std::size_t pcap_pings = 5;

void pcap_write_proc(const std::string& file, const std::string& value) {
  std::ofstream out(file);
  out << value;
  out.close();
  REQUIRE(out.good());
}

// Up, with `prefix`, without IPv6 (no router or multicast solicitations of the kernel's own: the
// filter would drop them too and the drop count would not be the burst's alone).
tunkit::Link pcap_configure(const tunkit::TunDevice& dev, const char* prefix) {
  pcap_write_proc("/proc/sys/net/ipv6/conf/" + dev.name() + "/disable_ipv6", "1");
  tunkit::Link link(dev.ifindex());
  link.configure({.addresses = {tunkit::IpPrefix::parse(prefix)}, .up = true});
  return link;
}

sockaddr_in pcap_endpoint(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  REQUIRE(::inet_pton(AF_INET, ip, &a.sin_addr) == 1);
  return a;
}

// `n` UDP datagrams of 32 bytes to ip:9999.
void pcap_send_udp(const char* ip, std::size_t n) {
  netns_test::UdpSocket s;
  const auto to = pcap_endpoint(ip, 9999);
  const std::array<char, 32> payload{};
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(::sendto(s.fd, payload.data(), payload.size(), 0,
                     reinterpret_cast<const sockaddr*>(&to),
                     sizeof to) == static_cast<ssize_t>(payload.size()));
  }
}

// `n` ICMP echo requests to `ip` through a ping socket (allowed for this process's group first:
// only groups mapped in the namespace's user namespace are accepted, so only our own).
void pcap_send_pings(const char* ip, std::size_t n) {
  const std::string gid = std::to_string(::getgid());
  pcap_write_proc("/proc/sys/net/ipv4/ping_group_range", gid + " " + gid);
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  REQUIRE(s >= 0);
  const auto to = pcap_endpoint(ip, 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 16> echo{8, 0, 0, 0, 0, 0, 0, static_cast<std::uint8_t>(i + 1)};
    CHECK(::sendto(s, echo.data(), echo.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                   sizeof to) == static_cast<ssize_t>(echo.size()));
  }
  ::close(s);
}

// Every packet readable from `fd` (raw read(2), headers included) until nothing arrives for
// `quiet`, at most 1000 packets and 5 s.
std::vector<std::vector<std::byte>> pcap_drain(int fd, std::chrono::milliseconds quiet) {
  std::vector<std::vector<std::byte>> out;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  std::array<std::byte, 4096> buf{};
  while (out.size() < 1000 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EAGAIN) continue;
    REQUIRE(n > 0);
    out.emplace_back(buf.begin(), buf.begin() + n);
  }
  return out;
}

// The IPv4 protocol of the packet whose IP header starts at `ip` (0 when not IPv4).
unsigned pcap_ip_proto(std::span<const std::byte> p, std::size_t ip) {
  if (p.size() < ip + 20 || (std::to_integer<unsigned>(p[ip]) >> 4U) != 4) return 0;
  return std::to_integer<unsigned>(p[ip + 9]);
}

// The IPv4 protocol of an Ethernet frame starting at `at` (0 when it carries no IPv4).
unsigned pcap_frame_proto(std::span<const std::byte> f, std::size_t at) {
  if (f.size() < at + 14) return 0;
  const unsigned type =
      (std::to_integer<unsigned>(f[at + 12]) << 8U) | std::to_integer<unsigned>(f[at + 13]);
  return type == 0x0800 ? pcap_ip_proto(f, at + 14) : 0;
}

// The IPv4 protocol of what `fd` returns at `at`: a frame (TAP) or an IP packet (TUN).
unsigned pcap_proto_of(std::span<const std::byte> p, std::size_t at, bool frames) {
  return frames ? pcap_frame_proto(p, at) : pcap_ip_proto(p, at);
}

// With an `icmp` filter in the kernel of `link`'s device: a UDP burst and pings to `to`; the
// reader of `fd` (`prefix` header bytes before each packet) gets the pings only, and every
// datagram is counted in tx_dropped.
void pcap_check_icmp_only(int fd, std::size_t prefix, bool frames, const tunkit::Link& link,
                          const char* to) {
  const auto before = link.statistics();
  pcap_send_udp(to, pcap_udp_burst);
  pcap_send_pings(to, pcap_pings);
  std::size_t seen_icmp = 0;
  std::size_t seen_other = 0;
  for (const auto& p : pcap_drain(fd, 500ms))
    (pcap_proto_of(p, prefix, frames) == 1 ? seen_icmp : seen_other) += 1;
  const auto after = link.statistics();
  CHECK(seen_icmp == pcap_pings);
  CHECK(seen_other == 0);
  // Every datagram of the burst was dropped by the filter, and counted: from the interface's
  // side the stack transmits what a reader reads, so the count is tx_dropped.
  CHECK(after.tx_dropped - before.tx_dropped == pcap_udp_burst);
  CHECK(after.rx_dropped == before.rx_dropped);
  CHECK(after.tx_packets - before.tx_packets == pcap_pings);
}

// Without the filter: a UDP burst to `to` reaches the reader of `fd` whole.
void pcap_check_burst_arrives(int fd, std::size_t prefix, bool frames, const char* to) {
  pcap_send_udp(to, pcap_udp_burst);
  std::size_t udp = 0;
  for (const auto& p : pcap_drain(fd, 500ms))
    udp += pcap_proto_of(p, prefix, frames) == 17 ? 1U : 0U;
  CHECK(udp == pcap_udp_burst);
}

// A scratch directory under /tmp (never the build tree: a rootless run may not write there).
struct PcapNetnsTempDir {
  std::filesystem::path path;
  PcapNetnsTempDir() {
    std::string tmpl = "/tmp/tunkit-pcap-netns-XXXXXX";
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~PcapNetnsTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  PcapNetnsTempDir(const PcapNetnsTempDir&) = delete;
  PcapNetnsTempDir& operator=(const PcapNetnsTempDir&) = delete;
};

// The command that runs tcpdump, or "" when it is not installed. Running as uid 0, tcpdump drops
// to the user "tcpdump" after opening the file, which fails in a user namespace that maps only
// one id (a rootless run: setgroups is denied there): there it runs in a nested user namespace
// as a user other than 0, so it keeps its ids and reads the file as its owner.
std::string pcap_tcpdump() {
  std::string tcpdump;
  for (const char* p : {"/usr/bin/tcpdump", "/usr/sbin/tcpdump"}) {
    if (tcpdump.empty() && ::access(p, X_OK) == 0) tcpdump = p;
  }
  if (tcpdump.empty()) return {};
  std::ifstream map("/proc/self/uid_map");
  unsigned long inside = 0;
  unsigned long outside = 0;
  unsigned long count = 0;
  map >> inside >> outside >> count;
  const bool initial = inside == 0 && outside == 0 && count == 4294967295UL;
  return initial ? tcpdump : "unshare --user --map-user=65534 --map-group=65534 " + tcpdump;
}

std::size_t pcap_count_lines(const std::string& text, const std::string& with) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    if (text.substr(start, end - start).find(with) != std::string::npos) ++n;
    start = end + 1;
  }
  return n;
}

}  // namespace

TEST_CASE("pcap: an `icmp` filter on a TAP device passes pings and drops a UDP burst",
          "[netns][pcap]") {
  NetNsSandbox sandbox;
  // Plain, and with both headers a reader may ask for: the filter sees the same frame.
  const bool headers = GENERATE(false, true);
  INFO("virtio-net header and packet information: " << headers);
  tunkit::TunDevice tap({.name = "tpcap0",
                         .mode = tunkit::Mode::tap,
                         .packet_info = headers,
                         .vnet_hdr = headers,
                         .non_blocking = true});
  auto link = pcap_configure(tap, "10.98.0.1/24");
  REQUIRE(std::system("ip neigh replace 10.98.0.2 lladdr 02:00:00:00:98:02 nud permanent dev "
                      "tpcap0") == 0);
  const int fd = tap.queue(0).native_handle();
  // Headers before each frame as read(2) returns it: packet information (4 bytes), then the
  // virtio-net header (10 bytes unless TUNSETVNETHDRSZ changed it).
  const std::size_t prefix =
      headers ? 4 + static_cast<std::size_t>(tap.vnet_header_size()) : std::size_t{0};

  const auto icmp = pcap::compile_filter("icmp", pcap::LinkType::ethernet);
  tap.attach_filter(icmp);
  CHECK(tap.filter_size() == icmp.size());
  pcap_check_icmp_only(fd, prefix, true, link, "10.98.0.2");

  // Without the filter the burst arrives.
  tap.detach_filter();
  pcap_check_burst_arrives(fd, prefix, true, "10.98.0.2");
}

TEST_CASE("pcap: a TUN device takes no filter; the raw-IP program filters in user space",
          "[netns][pcap]") {
  NetNsSandbox sandbox;
  tunkit::TunDevice tun({.name = "tpcap1", .non_blocking = true});
  pcap_configure(tun, "10.98.1.1/24");
  const auto icmp = pcap::compile_filter("icmp", pcap::LinkType::raw);
  // drivers/net/tun.c: TUNATTACHFILTER is for TAP devices only.
  const auto e = netns_test::thrown_by([&] { tun.attach_filter(icmp); });
  CHECK(e.code() == std::errc::invalid_argument);
  CHECK(std::string(e.what()) ==
        "tunkit: TUNATTACHFILTER \"tpcap1\": invalid argument (TAP devices only, with a valid "
        "program of 1 to 4096 instructions)");

  pcap_send_udp("10.98.1.2", pcap_udp_burst);
  pcap_send_pings("10.98.1.2", pcap_pings);
  std::size_t matched = 0;
  std::size_t total = 0;
  for (const auto& p : pcap_drain(tun.queue(0).native_handle(), 500ms)) {
    ++total;
    if (pcap::matches(icmp, p)) {
      ++matched;
      CHECK(pcap_ip_proto(p, 0) == 1);
    }
  }
  CHECK(total == pcap_udp_burst + pcap_pings);
  CHECK(matched == pcap_pings);
}

TEST_CASE("pcap: on a TUN device the program runs in the kernel as eBPF; tx_dropped counts",
          "[netns][pcap][ebpf]") {
  NetNsSandbox sandbox;
  // Plain, and with the headers a reader may ask for: the filter sees the same packet.
  const bool headers = GENERATE(false, true);
  INFO("virtio-net header and packet information: " << headers);
  tunkit::TunDevice tun(
      {.name = "tpcap5", .packet_info = headers, .vnet_hdr = headers, .non_blocking = true});
  auto link = pcap_configure(tun, "10.98.5.1/24");
  for (int i = 0; i < 200 && !link.state().running; ++i)  // the qdisc is on once running
    std::this_thread::sleep_for(10ms);
  const std::size_t prefix =
      headers ? 4 + static_cast<std::size_t>(tun.vnet_header_size()) : std::size_t{0};
  const int fd = tun.queue(0).native_handle();

  const auto icmp = pcap::compile_filter("icmp", pcap::LinkType::raw);
  tunkit::EbpfFilter filter;
  std::error_code ec;
  filter = tunkit::EbpfFilter::load(icmp, ec);
  if (ec == std::errc::operation_not_permitted) {
    // Rootless: the refusal names what tunkit saw (the sysctl, readable in any namespace).
    const auto e = netns_test::thrown_by([&] { (void)tunkit::EbpfFilter::load(icmp); });
    std::ifstream sysctl("/proc/sys/kernel/unprivileged_bpf_disabled");
    std::string disabled;
    sysctl >> disabled;
    CHECK(std::string(e.what()) ==
          "tunkit: BPF_PROG_LOAD: operation not permitted (kernel.unprivileged_bpf_disabled is " +
              disabled + ": loading needs CAP_BPF or CAP_SYS_ADMIN)");
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  REQUIRE_FALSE(ec);
  tun.set_filter_ebpf(filter.fd());
  filter.close();  // the device holds the program
  pcap_check_icmp_only(fd, prefix, false, link, "10.98.5.2");

  // Removed, the burst arrives.
  tun.set_filter_ebpf(-1);
  pcap_check_burst_arrives(fd, prefix, false, "10.98.5.2");
}

TEST_CASE("pcap: a TUN device's eBPF filter outlives the queue that attached it",
          "[netns][pcap][ebpf]") {
  NetNsSandbox sandbox;
  std::error_code ec;
  auto filter = tunkit::EbpfFilter::load(pcap::compile_filter("icmp", pcap::LinkType::raw), ec);
  if (ec == std::errc::operation_not_permitted) {
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  REQUIRE_FALSE(ec);
  {
    tunkit::TunDevice first({.name = "tpcap6", .persist = true});
    first.set_filter_ebpf(filter.fd());
  }  // no queue left; the device persists
  filter.close();
  tunkit::TunDevice tun({.name = "tpcap6", .non_blocking = true});
  auto link = pcap_configure(tun, "10.98.6.1/24");
  for (int i = 0; i < 200 && !link.state().running; ++i)
    std::this_thread::sleep_for(10ms);
  const auto before = link.statistics();
  pcap_send_udp("10.98.6.2", pcap_udp_burst);
  const auto kept = pcap_drain(tun.queue(0).native_handle(), 300ms);
  const auto after = link.statistics();
  // The program the first queue attached still drops what the new reader would get.
  CHECK(kept.empty());
  CHECK(after.tx_dropped - before.tx_dropped == pcap_udp_burst);
  tun.set_filter_ebpf(-1);
  pcap_send_udp("10.98.6.2", pcap_udp_burst);
  CHECK(pcap_drain(tun.queue(0).native_handle(), 300ms).size() == pcap_udp_burst);
  tun.set_persist(false);
}

TEST_CASE("pcap: a capture written by pcap::Writer is read by tcpdump -r", "[netns][pcap]") {
  NetNsSandbox sandbox;
  PcapNetnsTempDir dir;
  const auto precision = GENERATE(pcap::Precision::microseconds, pcap::Precision::nanoseconds);
  tunkit::TunDevice tun({.name = "tpcap2", .non_blocking = true});
  pcap_configure(tun, "10.98.2.1/24");
  constexpr std::size_t udp_n = 7;
  constexpr std::size_t ping_n = 3;
  pcap_send_udp("10.98.2.2", udp_n);
  pcap_send_pings("10.98.2.2", ping_n);
  const auto packets = pcap_drain(tun.queue(0).native_handle(), 500ms);
  REQUIRE(packets.size() == udp_n + ping_n);

  const auto file = dir.path / "tun.pcap";
  std::size_t bytes = 0;
  {
    pcap::Writer w(file, {.link = pcap::LinkType::raw, .precision = precision});
    for (const auto& p : packets) {
      w.write(p);
      bytes += p.size();
    }
    w.close();
  }
  // tunkit's reader gives the same packets back.
  pcap::Reader r(file);
  for (const auto& p : packets) {
    const auto got = r.next();
    REQUIRE(got);
    CHECK(got->data == p);
  }
  CHECK_FALSE(r.next());

  const std::string tcpdump = pcap_tcpdump();
  if (tcpdump.empty()) {
    WARN("tcpdump is not installed (apt-get install tcpdump): the capture is not checked by it");
    return;
  }
  // -nn: no name lookups; -q: one short line per packet ("IP a > b: ICMP echo request ...").
  const std::string out = netns_test::output_of(tcpdump + " -r " + file.string() + " -nn");
  INFO(out);
  CHECK(out.find("link-type RAW") != std::string::npos);
  CHECK(pcap_count_lines(out, " IP 10.98.2.1") == udp_n + ping_n);
  CHECK(pcap_count_lines(out, "ICMP echo request") == ping_n);
  CHECK(pcap_count_lines(out, "UDP, length 32") == udp_n);
  // Byte for byte: the hex dump of every packet adds up to what was written.
  const std::string hex = netns_test::output_of(tcpdump + " -r " + file.string() + " -nn -x");
  std::size_t dumped = 0;
  std::size_t start = 0;
  while (start < hex.size()) {
    const std::size_t end = std::min(hex.find('\n', start), hex.size());
    const std::string line = hex.substr(start, end - start);
    if (line.starts_with("\t0x")) {
      const std::size_t colon = line.find(':');
      for (char c : line.substr(colon + 1))
        dumped += std::isxdigit(static_cast<unsigned char>(c)) != 0 ? 1U : 0U;
    }
    start = end + 1;
  }
  CHECK(dumped == 2 * bytes);
}

TEST_CASE("pcap: an Ethernet capture of a TAP device is read by tcpdump -r", "[netns][pcap]") {
  NetNsSandbox sandbox;
  PcapNetnsTempDir dir;
  tunkit::TunDevice tap({.name = "tpcap3", .mode = tunkit::Mode::tap, .non_blocking = true});
  pcap_configure(tap, "10.98.3.1/24");
  REQUIRE(std::system("ip neigh replace 10.98.3.2 lladdr 02:00:00:00:98:03 nud permanent dev "
                      "tpcap3") == 0);
  pcap_send_pings("10.98.3.2", 4);
  const auto frames = pcap_drain(tap.queue(0).native_handle(), 500ms);
  REQUIRE(frames.size() == 4);
  const auto file = dir.path / "tap.pcap";
  {
    pcap::Writer w(file, {.link = pcap::LinkType::ethernet});
    for (const auto& f : frames)
      w.write(f);
  }
  const std::string tcpdump = pcap_tcpdump();
  if (tcpdump.empty()) {
    WARN("tcpdump is not installed (apt-get install tcpdump): the capture is not checked by it");
    return;
  }
  const std::string out = netns_test::output_of(tcpdump + " -r " + file.string() + " -nn -e");
  INFO(out);
  CHECK(out.find("link-type EN10MB") != std::string::npos);
  CHECK(pcap_count_lines(out, "02:00:00:00:98:03, ethertype IPv4") == 4);
  CHECK(pcap_count_lines(out, "ICMP echo request") == 4);
}

#ifdef TUNKIT_CLI
// `tunkit dump NAME EXPRESSION -w FILE` and `tunkit inject NAME -r FILE`: the tool as a user runs
// it, its capture read back by tcpdump, its replay received by a socket.
namespace {

std::string pcap_cli(const std::string& args) {
  return std::string(TUNKIT_CLI) + " " + args;
}

// Waits until the link is operationally up once a reader attached: linkwatch turns on its
// queueing discipline then, and until it has the stack drops what it sends (at most 2 s).
void pcap_wait_running(const char* name) {
  const tunkit::Link link = tunkit::Link::from_name(name);
  for (int i = 0; i < 200 && !link.state().running; ++i)
    std::this_thread::sleep_for(10ms);
}

// The sum of the IP total lengths tcpdump -v prints for the packets of a RAW capture.
std::size_t pcap_tcpdump_bytes(const std::string& verbose) {
  std::size_t total = 0;
  for (std::size_t at = 0; (at = verbose.find(", length ", at)) != std::string::npos;) {
    at += 9;
    const std::size_t close = verbose.find(')', at);
    if (close == std::string::npos) break;
    const std::string digits = verbose.substr(at, close - at);
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos) {
      total += std::stoul(digits);
    }
  }
  return total;
}

// With `dump` (an `icmp` filter in the kernel, -c pcap_pings) listening on `name`: pings to `to`
// are printed, a UDP burst is dropped before the reader and counted in tx_dropped; once the dump
// has ended, the next reader of the device gets datagrams again (the filter was removed).
void pcap_check_kernel_dump(tunkit::test::Child& dump, const char* name, const char* to) {
  CHECK(dump.output().find("filter in the kernel") != std::string::npos);
  pcap_wait_running(name);
  const tunkit::Link link = tunkit::Link::from_name(name);
  const auto before = link.statistics();
  pcap_send_udp(to, pcap_udp_burst);
  pcap_send_pings(to, pcap_pings);
  CHECK(dump.wait_exit(10s) == 0);
  INFO(dump.output());
  CHECK(pcap_count_lines(dump.output(), "ICMP echo request") == pcap_pings);
  CHECK(pcap_count_lines(dump.output(), "UDP") == 0);
  // The kernel dropped every datagram before the reader saw it, and counted each one.
  const auto after = link.statistics();
  CHECK(after.tx_dropped - before.tx_dropped == pcap_udp_burst);
  // The device is left without a filter for whoever attaches next: a reader gets the datagrams.
  const auto info = tunkit::find_tun_device(name);
  REQUIRE(info);
  tunkit::TunDevice next(info->attach_options());
  // Carrier came back with the queue; linkwatch turns the link operationally up (IFF_RUNNING)
  // and its queueing discipline on a little later: until then the stack drops what it sends.
  for (int i = 0; i < 200 && !link.state().running; ++i)
    std::this_thread::sleep_for(10ms);
  pcap_send_udp(to, 3);
  std::size_t udp = 0;
  const bool tap = info->mode == tunkit::Mode::tap;
  for (const auto& p : pcap_drain(next.native_handle(), 300ms))
    udp += (tap ? pcap_frame_proto(p, 0) : pcap_ip_proto(p, 0)) == 17 ? 1U : 0U;
  CHECK(udp == 3);
}

}  // namespace

TEST_CASE("tunkit dump EXPRESSION -w: only what the filter accepts, read back by tcpdump",
          "[netns][pcap][cli]") {
  NetNsSandbox sandbox;
  PcapNetnsTempDir dir;
  const std::string file = (dir.path / "pings.pcap").string();
  REQUIRE(netns_test::output_of(pcap_cli("create --name tkd0 --addr 10.97.0.1/24 --up"))
              .find("created") != std::string::npos);
  pcap_write_proc("/proc/sys/net/ipv6/conf/tkd0/disable_ipv6", "1");
  tunkit::test::Child dump({TUNKIT_CLI, "dump", "tkd0", "icmp", "-w", file, "-c",
                            std::to_string(pcap_pings), "-t", "10"});
  REQUIRE(dump.wait_for_line("listening on", 10s));
  // A TUN device's eBPF filter cannot be read back: the tool says it filters itself.
  CHECK(dump.output().find("tunkit dump: filtering in this process: a TUN device's eBPF filter "
                           "cannot be read back, so attaching one could replace another "
                           "program's (--kernel-filter to run it in the kernel anyway)") !=
        std::string::npos);
  pcap_wait_running("tkd0");
  pcap_send_udp("10.97.0.2", pcap_udp_burst);
  pcap_send_pings("10.97.0.2", pcap_pings);
  CHECK(dump.wait_exit(10s) == 0);
  INFO(dump.output());
  CHECK(dump.output().find(std::to_string(pcap_pings) + " packets written to " + file) !=
        std::string::npos);

  // What the file holds, as the library reads it: the pings, whole, nothing else.
  pcap::Reader reader(file);
  CHECK(reader.link_type() == pcap::LinkType::raw);
  std::size_t packets = 0;
  std::size_t bytes = 0;
  while (const auto p = reader.next()) {
    CHECK(pcap_ip_proto(p->data, 0) == 1);
    ++packets;
    bytes += p->data.size();
  }
  CHECK(packets == pcap_pings);
  // And as tcpdump reads it: the same packets and bytes.
  const std::string tcpdump = pcap_tcpdump();
  if (tcpdump.empty()) {
    WARN("tcpdump is not installed (apt-get install tcpdump): the capture is not checked by it");
  } else {
    const std::string out = netns_test::output_of(tcpdump + " -r " + file + " -nn -v 2>&1");
    INFO(out);
    CHECK(pcap_count_lines(out, "ICMP echo request") == pcap_pings);
    CHECK(pcap_tcpdump_bytes(out) == bytes);
  }
  (void)netns_test::output_of(pcap_cli("delete tkd0"));
}

TEST_CASE("tunkit dump EXPRESSION on a TAP device nobody else holds filters in the kernel",
          "[netns][pcap][cli]") {
  NetNsSandbox sandbox;
  REQUIRE(netns_test::output_of(pcap_cli("create --tap --name tkd1 --addr 10.98.0.1/24 --up"))
              .find("created") != std::string::npos);
  pcap_write_proc("/proc/sys/net/ipv6/conf/tkd1/disable_ipv6", "1");
  // A neighbour that never answers ARP: the stack sends to it straight away.
  REQUIRE(netns_test::output_of("ip neigh replace 10.98.0.2 lladdr 02:00:00:00:00:02 dev tkd1 "
                                "nud permanent && echo ok")
              .find("ok") != std::string::npos);
  tunkit::test::Child dump(
      {TUNKIT_CLI, "dump", "tkd1", "icmp", "-c", std::to_string(pcap_pings), "-t", "10"});
  REQUIRE(dump.wait_for_line("listening on", 10s));
  pcap_check_kernel_dump(dump, "tkd1", "10.98.0.2");
  // TUNGETFILTER still reports the program (a kernel quirk): the next dump filters itself.
  const auto again = tunkit::test::run(pcap_cli("dump tkd1 icmp -t 1"));
  INFO(again.output);
  CHECK(again.output.find("filtering in this process: the device has had a filter") !=
        std::string::npos);
  (void)netns_test::output_of(pcap_cli("delete tkd1"));
}

TEST_CASE("tunkit dump EXPRESSION --kernel-filter on a TUN device: eBPF in the kernel, removed",
          "[netns][pcap][cli][ebpf]") {
  NetNsSandbox sandbox;
  REQUIRE(netns_test::output_of(pcap_cli("create --name tkd3 --addr 10.98.3.1/24 --up"))
              .find("created") != std::string::npos);
  pcap_write_proc("/proc/sys/net/ipv6/conf/tkd3/disable_ipv6", "1");
  tunkit::test::Child dump({TUNKIT_CLI, "dump", "tkd3", "icmp", "--kernel-filter", "-c",
                            std::to_string(pcap_pings), "-t", "10"});
  if (!dump.wait_for_line("listening on", 10s)) {
    // Without CAP_BPF (a rootless run) the dump fails, as asked, with what it saw.
    CHECK(dump.wait_exit(10s) == 1);
    INFO(dump.output());
    CHECK(dump.output().find("tunkit: BPF_PROG_LOAD: operation not permitted (") !=
          std::string::npos);
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  CHECK(dump.output().find("tunkit dump: the filter runs in the kernel as asked, though a TUN "
                           "device's eBPF filter cannot be read back") != std::string::npos);
  pcap_check_kernel_dump(dump, "tkd3", "10.98.3.2");
  // Without an expression the option is a usage error.
  const auto usage = tunkit::test::run(pcap_cli("dump tkd3 --kernel-filter"));
  CHECK(usage.status == 2);
  (void)netns_test::output_of(pcap_cli("delete tkd3"));
}

TEST_CASE("tunkit inject -r: every datagram of a capture reaches a socket", "[netns][pcap][cli]") {
  NetNsSandbox sandbox;
  PcapNetnsTempDir dir;
  const std::string file = (dir.path / "udp.pcap").string();
  constexpr std::size_t n = 40;
  {
    pcap::Writer w(file);
    std::array<std::byte, 128> buf{};
    for (std::size_t i = 0; i < n; ++i) {
      const std::array<std::byte, 4> data{std::byte{0x74}, std::byte{0x6b},
                                          static_cast<std::byte>(i), std::byte{0}};
      const auto len =
          tunkit::build_udp_datagram({.src = tunkit::IpAddress::parse("10.99.0.2"),
                                      .dst = tunkit::IpAddress::parse("10.99.0.1"),
                                      .src_port = 40000,
                                      .dst_port = 9999,
                                      .data = data,
                                      .identification = static_cast<std::uint16_t>(i + 1)},
                                     buf);
      REQUIRE(len);
      w.write(std::span<const std::byte>(buf).first(*len));
    }
  }
  // A TUN device with a virtio-net header: the tool adds one to each packet.
  REQUIRE(netns_test::output_of(pcap_cli("create --name tki0 --vnet-hdr --addr 10.99.0.1/24 --up"))
              .find("created") != std::string::npos);
  netns_test::UdpSocket s;
  const auto at = pcap_endpoint("10.99.0.1", 9999);
  REQUIRE(::bind(s.fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) == 0);
  const auto r = tunkit::test::run(pcap_cli("inject tki0 -r " + file + " --rate 2000"));
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find(std::to_string(n) + " packets written to tki0") != std::string::npos);
  std::size_t received = 0;
  std::array<std::uint8_t, 64> got{};
  std::vector<bool> seen(n, false);
  for (;;) {
    pollfd p{s.fd, POLLIN, 0};
    if (::poll(&p, 1, 500) <= 0) break;
    const ssize_t len = ::recv(s.fd, got.data(), got.size(), 0);
    REQUIRE(len == 4);
    if (got[2] < n) seen[got[2]] = true;
    ++received;
  }
  CHECK(received == n);
  CHECK(std::all_of(seen.begin(), seen.end(), [](bool b) { return b; }));

  // A capture of Ethernet frames does not fit a TUN device; a file that is no capture is named.
  const auto tap_file = (dir.path / "frames.pcap").string();
  { pcap::Writer w(tap_file, {.link = pcap::LinkType::ethernet}); }
  const auto wrong = tunkit::test::run(pcap_cli("inject tki0 -r " + tap_file));
  CHECK(wrong.status == 1);
  CHECK(wrong.output.find("a tun device takes IP packets (LINKTYPE_RAW, 101)") !=
        std::string::npos);
  CHECK(tunkit::test::run(pcap_cli("inject tki0")).status == 2);
  CHECK(tunkit::test::run(pcap_cli("inject tki0 -r " + file + " --rate 0")).status == 2);
  CHECK(tunkit::test::run(pcap_cli("dump tki0 'udp port'")).status == 1);
  (void)netns_test::output_of(pcap_cli("delete tki0"));
}
#endif

#ifdef TUNKIT_TUN_DUMP
TEST_CASE("tun_dump EXPRESSION -w on a TAP device it creates: the filter runs in the kernel",
          "[netns][pcap][example]") {
  NetNsSandbox sandbox;
  PcapNetnsTempDir dir;
  const std::string file = (dir.path / "tap.pcap").string();
  tunkit::test::Child dump({TUNKIT_TUN_DUMP, "--tap", "--addr", "10.61.2.1/24", "tdf0", "icmp",
                            "-w", file, "--timeout", "20"});
  REQUIRE(dump.wait_for_line("listening on tdf0, tap", 10s));
  REQUIRE(tunkit::test::run("ip neigh replace 10.61.2.2 lladdr 02:00:00:00:00:02 dev tdf0 nud "
                            "permanent")
              .status == 0);
  const tunkit::Link link = tunkit::Link::from_name("tdf0");
  for (int i = 0; i < 200 && !link.state().running; ++i)  // the qdisc is on once running
    std::this_thread::sleep_for(10ms);
  const auto before = link.statistics();
  pcap_send_udp("10.61.2.2", pcap_udp_burst);
  pcap_send_pings("10.61.2.2", pcap_pings);
  // The kernel dropped the datagrams (the example never saw them), and perhaps an IPv6
  // solicitation of the kernel's own; read while the device it made is still there (it goes when
  // tun_dump ends).
  std::this_thread::sleep_for(200ms);
  CHECK(link.statistics().tx_dropped - before.tx_dropped >= pcap_udp_burst);
  dump.signal(SIGTERM);
  CHECK(dump.wait_exit(10s) == 0);
  INFO(dump.output());
  CHECK(dump.output().find(std::to_string(pcap_pings) + " packets") != std::string::npos);
  pcap::Reader reader(file);
  CHECK(reader.link_type() == pcap::LinkType::ethernet);
  std::size_t pings = 0;
  while (const auto f = reader.next())
    pings += pcap_frame_proto(f->data, 0) == 1 ? 1U : 0U;
  CHECK(pings == pcap_pings);
}

TEST_CASE("tun_dump EXPRESSION on a TUN device it creates: the filter runs in the kernel as eBPF",
          "[netns][pcap][example][ebpf]") {
  NetNsSandbox sandbox;
  tunkit::test::Child dump(
      {TUNKIT_TUN_DUMP, "--addr", "10.61.3.1/24", "tdf1", "icmp", "--timeout", "20"});
  REQUIRE(dump.wait_for_line("listening on tdf1, tun", 10s));
  const bool loaded = dump.output().find("cannot load an eBPF filter") == std::string::npos;
  const tunkit::Link link = tunkit::Link::from_name("tdf1");
  for (int i = 0; i < 200 && !link.state().running; ++i)  // the qdisc is on once running
    std::this_thread::sleep_for(10ms);
  const auto before = link.statistics();
  pcap_send_udp("10.61.3.2", pcap_udp_burst);
  pcap_send_pings("10.61.3.2", pcap_pings);
  std::this_thread::sleep_for(200ms);
  const auto dropped = link.statistics().tx_dropped - before.tx_dropped;
  dump.signal(SIGTERM);
  CHECK(dump.wait_exit(10s) == 0);
  INFO(dump.output());
  // Either way only the pings are printed.
  CHECK(pcap_count_lines(dump.output(), "ICMP echo request") == pcap_pings);
  CHECK(pcap_count_lines(dump.output(), "UDP") == 0);
  if (!loaded) {
    // Without CAP_BPF (a rootless run) it filtered every packet it read.
    CHECK(dropped == 0);
    tunkit_test::skip_without_privilege(tunkit_test::Privilege::bpf, "operation not permitted");
    return;
  }
  // In the kernel: the datagrams never reached it, each counted.
  CHECK(dropped >= pcap_udp_burst);
}
#endif
