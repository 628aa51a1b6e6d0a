// TunDevice against the real tun driver, with real packets, each test in its own network
// namespace. Traffic only ever goes to addresses inside that namespace; every read loop is
// bounded by a packet count and a deadline.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "forwarding_syscalls.hpp"
#include "netns_helpers.hpp"
#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

namespace {

using namespace std::chrono_literals;
using tunkit::Flag;
using tunkit::Flags;
using tunkit::Mode;
using tunkit::TunDevice;
using tunkit::testing::NetNsSandbox;
using Bytes = std::vector<std::uint8_t>;

// ---------------------------------------------------------------------------------------------
// Small system helpers

// Owns a socket or pipe end for the length of a test.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

using netns_test::open_fd_count;

using netns_test::named;

// True when the calling thread's namespace has an interface of that name (SIOCGIFINDEX).
bool exists(const std::string& name) {
  return ::if_nametoindex(name.c_str()) != 0;
}

// Reads a file under /sys as the calling thread's network namespace sees it. sysfs shows the
// namespace it was mounted from (the host's), so a child process mounts a fresh sysfs in a
// private mount namespace of its own, as `ip netns exec` does, and sends the file back through
// a pipe. The host's mounts are never touched: the child makes "/" private before mounting.
// Returns nullopt when the file does not exist.
std::optional<std::string> read_sysfs(const std::string& path) {
  std::array<int, 2> p{};
  REQUIRE(::pipe2(p.data(), O_CLOEXEC) == 0);
  Fd rd(p[0]);
  const char* file = path.c_str();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // child: async-signal-safe calls only
    if (::unshare(CLONE_NEWNS) != 0) ::_exit(10);
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(11);
    if (::mount("sysfs", "/sys", "sysfs", 0, nullptr) != 0) ::_exit(12);
    const int fd = ::open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) ::_exit(errno == ENOENT ? 3 : 13);
    std::array<char, 512> buf{};
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 || ::write(p[1], buf.data(), static_cast<std::size_t>(n)) != n) ::_exit(14);
    ::_exit(0);
  }
  ::close(p[1]);
  std::string out;
  std::array<char, 512> buf{};
  for (int i = 0; i < 8; ++i) {  // the child writes at most one buffer
    const ssize_t n = ::read(rd.fd, buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  INFO("sysfs reader for " << path << " exited with " << WEXITSTATUS(status));
  if (WEXITSTATUS(status) == 3) return std::nullopt;
  REQUIRE(WEXITSTATUS(status) == 0);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

bool exists_in_sysfs(const std::string& name) {
  return read_sysfs("/sys/class/net/" + name + "/ifindex").has_value();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  REQUIRE(out);
  out << text;
  out.flush();
  REQUIRE(out);
}

// Gives the interface an address and brings it up, with tunkit::Link.
void configure(const TunDevice& dev, std::initializer_list<const char*> prefixes) {
  tunkit::Link link(dev.ifindex());
  for (const char* p : prefixes)
    link.add_address(tunkit::IpPrefix::parse(p));
  link.set_up();
}

// Waits until the IPv6 address `addr` is assigned and no longer tentative (IFA_F_TENTATIVE,
// 0x40), as /proc/thread-self/net/if_inet6 reports it. Even with DAD disabled (or skipped, as on
// a NOARP TUN) the address leaves the tentative state from a workqueue a little after the link
// comes up, and until then the kernel drops packets sent to it. Bounded by `budget`.
bool wait_ipv6_usable(const Bytes& addr, std::chrono::milliseconds budget = 5s) {
  std::string hex;
  for (const std::uint8_t b : addr) {
    constexpr std::string_view kDigits = "0123456789abcdef";
    hex += kDigits[b >> 4U];
    hex += kDigits[b & 0x0FU];
  }
  const auto deadline = std::chrono::steady_clock::now() + budget;
  do {
    std::ifstream in("/proc/thread-self/net/if_inet6");
    std::string address, index, length, scope, flags, name;
    while (in >> address >> index >> length >> scope >> flags >> name) {
      if (address == hex && (std::stoul(flags, nullptr, 16) & 0x40U) == 0) return true;
    }
    std::this_thread::sleep_for(2ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Packet helpers (network byte order throughout)

std::uint16_t get16(const Bytes& p, std::size_t at) {
  return static_cast<std::uint16_t>((p.at(at) << 8U) | p.at(at + 1));
}
void put16(Bytes& p, std::size_t at, std::uint16_t v) {
  p.at(at) = static_cast<std::uint8_t>(v >> 8U);
  p.at(at + 1) = static_cast<std::uint8_t>(v & 0xFFU);
}
Bytes slice(const Bytes& p, std::size_t at, std::size_t n) {
  REQUIRE(at + n <= p.size());
  return {p.begin() + static_cast<std::ptrdiff_t>(at),
          p.begin() + static_cast<std::ptrdiff_t>(at + n)};
}

// RFC 1071 sum: accumulate 16-bit words, then fold and complement. A message whose checksum field
// is right sums (with its pseudo-header) to 0xFFFF, i.e. `fold` gives 0.
std::uint32_t sum_words(const Bytes& data, std::uint32_t acc = 0) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2)
    acc += get16(data, i);
  if (i < data.size()) acc += static_cast<std::uint32_t>(data[i]) << 8U;
  return acc;
}
std::uint16_t fold(std::uint32_t acc) {
  while ((acc >> 16U) != 0)
    acc = (acc & 0xFFFFU) + (acc >> 16U);
  return static_cast<std::uint16_t>(~acc & 0xFFFFU);
}
// Pseudo-header sum for UDP over IPv4 (RFC 768) and ICMPv6/UDP over IPv6 (RFC 8200 8.1).
std::uint32_t pseudo_sum(const Bytes& src, const Bytes& dst, std::uint8_t proto,
                         std::size_t length) {
  const auto len = static_cast<std::uint32_t>(length);
  return sum_words(dst, sum_words(src)) + proto + (len >> 16U) + (len & 0xFFFFU);
}

const Bytes kDev4{10, 99, 0, 1};
const Bytes kPeer4{10, 99, 0, 2};
const Bytes kDev6{0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
const Bytes kPeer6{0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

// The parts of an IP packet a test looks at.
struct Ip {
  unsigned version = 0;
  std::size_t header = 0;  // length of the IP header(s) before `payload`
  std::uint8_t protocol = 0;
  Bytes src, dst, payload;
};

std::optional<Ip> parse_ip(const Bytes& p) {
  if (p.empty()) return std::nullopt;
  Ip ip;
  ip.version = p[0] >> 4U;
  if (ip.version == 4 && p.size() >= 20) {
    ip.header = static_cast<std::size_t>(p[0] & 0x0FU) * 4;
    const std::size_t total = get16(p, 2);
    if (ip.header < 20 || total < ip.header || total > p.size()) return std::nullopt;
    ip.protocol = p[9];
    ip.src = slice(p, 12, 4);
    ip.dst = slice(p, 16, 4);
    ip.payload = slice(p, ip.header, total - ip.header);
    return ip;
  }
  if (ip.version == 6 && p.size() >= 40) {
    ip.header = 40;
    const std::size_t len = get16(p, 4);
    if (40 + len > p.size()) return std::nullopt;
    ip.protocol = p[6];  // next header; the tests' packets carry no extension headers
    ip.src = slice(p, 8, 16);
    ip.dst = slice(p, 24, 16);
    ip.payload = slice(p, 40, len);
    return ip;
  }
  return std::nullopt;
}

// An ICMP (IPv4) or ICMPv6 echo request, complete with correct checksums.
Bytes echo_request(const Bytes& src, const Bytes& dst, std::uint16_t id, std::uint16_t seq,
                   const Bytes& data) {
  const bool v6 = src.size() == 16;
  Bytes icmp{static_cast<std::uint8_t>(v6 ? 128 : 8), 0, 0, 0, 0, 0, 0, 0};
  put16(icmp, 4, id);
  put16(icmp, 6, seq);
  icmp.insert(icmp.end(), data.begin(), data.end());
  Bytes p;
  if (v6) {
    p = Bytes(40, 0);
    p[0] = 0x60;
    put16(p, 4, static_cast<std::uint16_t>(icmp.size()));
    p[6] = 58;  // ICMPv6
    p[7] = 64;  // hop limit
    std::copy(src.begin(), src.end(), p.begin() + 8);
    std::copy(dst.begin(), dst.end(), p.begin() + 24);
    put16(icmp, 2, fold(sum_words(icmp, pseudo_sum(src, dst, 58, icmp.size()))));
  } else {
    p = Bytes(20, 0);
    p[0] = 0x45;
    put16(p, 2, static_cast<std::uint16_t>(20 + icmp.size()));
    put16(p, 4, 0x7475);  // identification
    p[8] = 64;            // TTL
    p[9] = 1;             // ICMP
    std::copy(src.begin(), src.end(), p.begin() + 12);
    std::copy(dst.begin(), dst.end(), p.begin() + 16);
    put16(p, 10, fold(sum_words(p)));
    put16(icmp, 2, fold(sum_words(icmp)));
  }
  p.insert(p.end(), icmp.begin(), icmp.end());
  return p;
}

void write_packet(TunDevice& dev, const Bytes& p) {
  const auto bytes = std::as_bytes(std::span(p));
  CHECK(dev.write(bytes) == p.size());
}

// Reads packets until `match` accepts one, at most `max_packets` of them and until `budget` has
// passed. Everything else read meanwhile (IPv6 router solicitations, MLD reports, ...) is ignored.
std::optional<Bytes> read_until(TunDevice& dev, const std::function<bool(const Bytes&)>& match,
                                int max_packets = 64, std::chrono::milliseconds budget = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  std::array<std::byte, 65536> buf{};
  for (int i = 0; i < max_packets; ++i) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    if (dev.wait_readable(left) != tunkit::WaitResult::ready) break;
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    if (ec == std::errc::operation_would_block) continue;
    REQUIRE_FALSE(ec);
    Bytes p(n);
    std::memcpy(p.data(), buf.data(), n);
    if (match(p)) return p;
  }
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("a UDP datagram routed into a TUN is read back byte-exact", "[netns][tun][packets]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tkudp0"));
  configure(dev, {"10.99.0.1/24"});

  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(sock.fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  std::memcpy(&to.sin_addr, kPeer4.data(), 4);
  const Bytes payload{'t', 'u', 'n', 'k', 'i', 't', ' ', 'u', 'd', 'p', 0x00, 0x01, 0xFE, 0xFF};
  REQUIRE(::sendto(sock.fd, payload.data(), payload.size(), 0,
                   reinterpret_cast<const sockaddr*>(&to),
                   sizeof to) == static_cast<ssize_t>(payload.size()));

  const auto packet = read_until(dev, [](const Bytes& p) {
    const auto ip = parse_ip(p);
    return ip && ip->version == 4 && ip->protocol == 17 && ip->dst == kPeer4 &&
           ip->payload.size() >= 8 && get16(ip->payload, 2) == 9999;
  });
  REQUIRE(packet);
  const Ip ip = *parse_ip(*packet);
  CHECK(ip.src == kDev4);
  CHECK(fold(sum_words(slice(*packet, 0, ip.header))) == 0);  // IPv4 header checksum
  const Bytes& udp = ip.payload;
  CHECK(get16(udp, 4) == udp.size());  // UDP length
  CHECK(slice(udp, 8, udp.size() - 8) == payload);
  if (get16(udp, 6) != 0) {  // 0 means "no checksum" in IPv4
    CHECK(fold(sum_words(udp, pseudo_sum(ip.src, ip.dst, 17, udp.size()))) == 0);
  }
}

TEST_CASE("an ICMP echo request written into a TUN is answered by the kernel",
          "[netns][tun][packets]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tkicmp0"));
  configure(dev, {"10.99.0.1/24"});

  const Bytes data{'p', 'i', 'n', 'g', ' ', 'v', '4', 0, 1, 2, 3, 4, 5, 6, 7, 0xFF};
  write_packet(dev, echo_request(kPeer4, kDev4, 0x7475, 1, data));

  const auto reply = read_until(dev, [](const Bytes& p) {
    const auto ip = parse_ip(p);
    return ip && ip->version == 4 && ip->protocol == 1 && ip->payload.size() >= 8 &&
           ip->payload[0] == 0;
  });
  REQUIRE(reply);
  const Ip ip = *parse_ip(*reply);
  CHECK(ip.src == kDev4);
  CHECK(ip.dst == kPeer4);
  CHECK(fold(sum_words(slice(*reply, 0, ip.header))) == 0);
  const Bytes& icmp = ip.payload;
  CHECK(icmp[1] == 0);                // code
  CHECK(fold(sum_words(icmp)) == 0);  // ICMP checksum
  CHECK(get16(icmp, 4) == 0x7475);    // identifier
  CHECK(get16(icmp, 6) == 1);         // sequence number
  CHECK(slice(icmp, 8, icmp.size() - 8) == data);
}

// Queue's inline read and write call the kernel directly only for descriptors opened through
// sys::real(); any other seam (here one that forwards to the real kernel and counts) sees every
// call. Both answer the same packets. The buffer holds the largest packet, as the direct read
// wants.
TEST_CASE("read and write reach an injected seam, and the kernel directly without one",
          "[netns][tun][packets][seam]") {
  NetNsSandbox sandbox;
  test::ForwardingSyscalls seam(tunkit::sys::real());
  for (const bool injected : {true, false}) {
    CAPTURE(injected);
    TunDevice dev(named(injected ? "tkseam0" : "tkseam1"),
                  injected ? static_cast<tunkit::sys::Syscalls&>(seam) : tunkit::sys::real());
    configure(dev, {"10.99.0.1/24"});
    const int reads = seam.reads;
    const int writes = seam.writes;
    const Bytes request = echo_request(kPeer4, kDev4, 0x7365, 1, {'s', 'e', 'a', 'm'});
    std::error_code ec;
    CHECK(dev.write(std::as_bytes(std::span(request)), ec) == request.size());
    REQUIRE_FALSE(ec);
    std::vector<std::byte> buf(tunkit::detail::kLargestPacket);
    std::optional<Bytes> reply;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (int i = 0; i < 64 && !reply && std::chrono::steady_clock::now() < deadline; ++i) {
      if (dev.wait_readable(1s) != tunkit::WaitResult::ready) continue;
      const std::size_t n = dev.read(buf, ec);
      if (ec == std::errc::operation_would_block) continue;
      REQUIRE_FALSE(ec);
      Bytes p(n);
      std::memcpy(p.data(), buf.data(), n);
      const auto ip = parse_ip(p);
      if (ip && ip->protocol == 1 && ip->payload.size() >= 8 && ip->payload[0] == 0 &&
          get16(ip->payload, 4) == 0x7365) {
        reply = p;
      }
    }
    REQUIRE(reply);
    if (injected) {
      CHECK(seam.writes - writes == 1);
      CHECK(seam.reads - reads >= 1);
    }
  }
}

TEST_CASE("an ICMPv6 echo request written into a TUN is answered by the kernel",
          "[netns][tun][packets]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tkicmp6"));
  // Duplicate Address Detection would keep the address tentative (and silent) for a while. A TUN
  // is IFF_NOARP, for which the kernel skips DAD anyway; disable it explicitly (per namespace,
  // before the address exists) so the test does not depend on that.
  write_file("/proc/sys/net/ipv6/conf/tkicmp6/accept_dad", "0");
  configure(dev, {"fd00:99::1/64"});
  REQUIRE(wait_ipv6_usable(kDev6));

  const Bytes data{'p', 'i', 'n', 'g', ' ', 'v', '6', 0, 1, 2, 3, 4, 5, 6, 7, 0xFF, 0x42};
  write_packet(dev, echo_request(kPeer6, kDev6, 0x7476, 7, data));

  const auto reply = read_until(dev, [](const Bytes& p) {
    const auto ip = parse_ip(p);
    return ip && ip->version == 6 && ip->protocol == 58 && ip->payload.size() >= 8 &&
           ip->payload[0] == 129;
  });
  REQUIRE(reply);
  const Ip ip = *parse_ip(*reply);
  CHECK(ip.src == kDev6);
  CHECK(ip.dst == kPeer6);
  const Bytes& icmp = ip.payload;
  CHECK(icmp[1] == 0);
  CHECK(fold(sum_words(icmp, pseudo_sum(ip.src, ip.dst, 58, icmp.size()))) == 0);
  CHECK(get16(icmp, 4) == 0x7476);
  CHECK(get16(icmp, 6) == 7);
  CHECK(slice(icmp, 8, icmp.size() - 8) == data);
}

TEST_CASE("a datagram to an unresolved neighbour makes the kernel ARP on a TAP",
          "[netns][tap][packets]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tkarp0", Mode::tap));
  configure(dev, {"10.98.0.1/24"});

  Fd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  REQUIRE(sock.fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9999);
  const Bytes neighbour{10, 98, 0, 2};
  std::memcpy(&to.sin_addr, neighbour.data(), 4);
  const char byte = 'x';
  REQUIRE(::sendto(sock.fd, &byte, 1, 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 1);

  const auto frame = read_until(dev, [](const Bytes& f) {
    return f.size() >= 42 && get16(f, 12) == 0x0806 && get16(f, 20) == 1;  // ARP request
  });
  REQUIRE(frame);
  const Bytes& f = *frame;
  CHECK(slice(f, 0, 6) == Bytes(6, 0xFF));        // to the broadcast address
  CHECK(get16(f, 14) == 1);                       // hardware type: Ethernet
  CHECK(get16(f, 16) == 0x0800);                  // protocol type: IPv4
  CHECK(f[18] == 6);                              // hardware address length
  CHECK(f[19] == 4);                              // protocol address length
  CHECK(slice(f, 22, 6) == slice(f, 6, 6));       // sender MAC is the frame's source
  CHECK(slice(f, 28, 4) == Bytes{10, 98, 0, 1});  // sender IP: the device's
  CHECK(slice(f, 38, 4) == neighbour);            // target IP: the neighbour
}

TEST_CASE("a persistent device outlives its descriptor until persist is cleared",
          "[netns][tun][lifecycle]") {
  NetNsSandbox sandbox;
  const std::string name = "tkpersist0";
  tunkit::Options o = named(name);
  o.persist = true;
  {
    TunDevice dev(o);
    CHECK(dev.flags().has(Flag::persist));
  }
  CHECK(exists(name));
  CHECK(exists_in_sysfs(name));

  TunDevice again(named(name));  // attach to it by name; it keeps IFF_PERSIST
  CHECK(again.name() == name);
  CHECK(again.ifindex() == ::if_nametoindex(name.c_str()));
  CHECK(again.flags().has(Flag::persist));
  again.set_persist(false);
  CHECK_FALSE(again.flags().has(Flag::persist));
  CHECK(exists(name));  // still attached
  again.close();
  CHECK_FALSE(exists(name));
  CHECK_FALSE(exists_in_sysfs(name));
}

TEST_CASE("a second open of a busy single-queue device fails with EBUSY and says why",
          "[netns][tun][errors]") {
  NetNsSandbox sandbox;
  TunDevice first(named("tkbusy0"));
  const std::size_t fds = open_fd_count();

  SECTION("error_code form") {
    TunDevice second;
    std::error_code ec;
    second.open(named("tkbusy0"), ec);
    CHECK(ec == std::error_code(EBUSY, std::system_category()));
    CHECK_FALSE(second.is_open());
  }
  SECTION("throwing form") {
    try {
      TunDevice second(named("tkbusy0"));
      FAIL("the second open succeeded");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == std::error_code(EBUSY, std::system_category()));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETIFF \"tkbusy0\": device busy (another process has it open without "
            "IFF_MULTI_QUEUE)");
    }
  }
  SECTION("a TAP open of the TUN's name is EINVAL") {
    std::error_code ec;
    TunDevice second;
    second.open(named("tkbusy0", Mode::tap), ec);
    CHECK(ec == std::error_code(EINVAL, std::system_category()));
  }
  CHECK(open_fd_count() == fds);
  CHECK(first.is_open());
  CHECK(first.flags() == (Flag::tun | Flag::no_pi));
}

TEST_CASE("exclusive open of an existing device fails with EBUSY", "[netns][tun][errors]") {
  NetNsSandbox sandbox;
  tunkit::Options excl = named("tkexcl0");
  excl.exclusive = true;

  SECTION("while a descriptor holds it") {
    TunDevice first(named("tkexcl0"));
    const std::size_t fds = open_fd_count();
    try {
      TunDevice second(excl);
      FAIL("the exclusive open succeeded");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == std::error_code(EBUSY, std::system_category()));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETIFF \"tkexcl0\": device busy (the device exists and "
            "Options::exclusive (IFF_TUN_EXCL) is set)");
    }
    CHECK(open_fd_count() == fds);
  }
  SECTION("when it persists with no descriptor attached") {
    tunkit::Options keep = named("tkexcl0");
    keep.persist = true;
    TunDevice(keep).close();
    REQUIRE(exists("tkexcl0"));
    const std::size_t fds = open_fd_count();
    std::error_code ec;
    TunDevice second;
    second.open(excl, ec);
    CHECK(ec == std::error_code(EBUSY, std::system_category()));
    CHECK(open_fd_count() == fds);
    TunDevice plain(named("tkexcl0"));  // without exclusive it attaches
    plain.set_persist(false);
  }
  SECTION("a new name is created") {
    TunDevice dev(excl);
    CHECK(dev.name() == "tkexcl0");
  }
}

TEST_CASE("interrupt() wakes a reader blocked on an idle device", "[netns][tun][interrupt]") {
  NetNsSandbox sandbox;
  TunDevice dev(named("tkintr0"));  // down: no packet will ever arrive

  std::atomic<pid_t> reader_tid{0};
  std::promise<std::error_code> done;
  auto result = done.get_future();
  std::thread reader([&] {
    reader_tid = ::gettid();
    std::array<std::byte, 2048> buf{};
    std::error_code ec;
    (void)dev.read(buf, ec);
    done.set_value(ec);
  });

  // Give the reader a chance to block (it sleeps in poll: state 'S'); not asserted, since
  // interrupt() also holds for a read that starts afterwards.
  const auto settle = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < settle) {
    if (const pid_t tid = reader_tid.load(); tid != 0) {
      std::ifstream stat("/proc/self/task/" + std::to_string(tid) + "/stat");
      std::string s;
      std::getline(stat, s);  // "TID (COMM) STATE ...": one line
      const auto paren = s.rfind(')');
      if (paren != std::string::npos && paren + 2 < s.size() && s[paren + 2] == 'S') break;
    }
    std::this_thread::sleep_for(5ms);
  }
  CHECK(result.wait_for(0s) == std::future_status::timeout);  // still blocked

  dev.interrupt();
  if (result.wait_for(10s) != std::future_status::ready) {
    // A reader that never returns cannot be joined; end the run rather than hang it.
    std::fprintf(stderr, "interrupt() did not wake the blocked reader\n");
    std::abort();
  }
  reader.join();
  CHECK(result.get() == tunkit::errc::interrupted);

  // Sticky until cleared; afterwards an idle device just times out.
  CHECK(dev.wait_readable(0ms) == tunkit::WaitResult::interrupted);
  dev.clear_interrupt();
  CHECK(dev.wait_readable(0ms) == tunkit::WaitResult::timeout);
}

TEST_CASE("flags() reads back what the kernel reports", "[netns][tun][flags]") {
  NetNsSandbox sandbox;
  struct Case {
    const char* what;
    Mode mode;
    bool multi_queue, persist, packet_info, vnet_hdr;
    Flags expected;
  };
  const Case c = GENERATE(values<Case>({
      {"tun", Mode::tun, false, false, false, false, Flag::tun | Flag::no_pi},
      {"tap", Mode::tap, false, false, false, false, Flag::tap | Flag::no_pi},
      {"tap multi-queue", Mode::tap, true, false, false, false,
       Flag::tap | Flag::no_pi | Flag::multi_queue},
      {"tun persist", Mode::tun, false, true, false, false,
       Flag::tun | Flag::no_pi | Flag::persist},
      {"tun packet info", Mode::tun, false, false, true, false, Flags(Flag::tun)},
      {"tun vnet header", Mode::tun, false, false, false, true,
       Flag::tun | Flag::no_pi | Flag::vnet_hdr},
  }));
  INFO(c.what);
  tunkit::Options o = named("tkflags0", c.mode);
  o.multi_queue = c.multi_queue;
  o.persist = c.persist;
  o.packet_info = c.packet_info;
  o.vnet_hdr = c.vnet_hdr;
  TunDevice dev(o);
  // TUNGETIFF's answer; note that the kernel also sets IFF_NOFILTER there (0x1000, the value of
  // IFF_NO_PI) when no socket filter is attached, which flags() must not mistake for NO_PI.
  const Flags got = dev.flags();
  INFO("flags(): " << tunkit::to_string(got));
  CHECK(got == c.expected);
  // The kernel's own account, from sysfs (e.g. "0x1001").
  const auto sysfs = read_sysfs("/sys/class/net/tkflags0/tun_flags");
  REQUIRE(sysfs);
  CHECK(std::stoul(*sysfs, nullptr, 16) == got.bits());
  if (c.persist) dev.set_persist(false);
}

TEST_CASE("features() offers what the tun driver supports", "[netns][tun][flags]") {
  NetNsSandbox sandbox;
  const Flags f = TunDevice::features();
  INFO("features(): " << tunkit::to_string(f));
  CHECK(f.has(Flag::tun));
  CHECK(f.has(Flag::tap));
  CHECK(f.has(Flag::no_pi));
  CHECK(f.has(Flag::multi_queue));
  CHECK(f.has(Flag::vnet_hdr));
  // Not IFF_TUN_EXCL: the driver accepts it but TUNGETFEATURES does not report it (6.18 answers
  // 0x7173: TUN, TAP, NAPI, NAPI_FRAGS, NO_CARRIER, MULTI_QUEUE, NO_PI, ONE_QUEUE, VNET_HDR).
}

TEST_CASE("a name template gets a real name and the right ifindex", "[netns][tun]") {
  NetNsSandbox sandbox;
  TunDevice first(named("tk%d"));
  TunDevice second(named("tk%d"));
  CHECK(first.name() == "tk0");  // a fresh namespace: the kernel starts at 0
  CHECK(second.name() == "tk1");
  for (const TunDevice* dev : {&first, &second}) {
    INFO(dev->name());
    CHECK(dev->ifindex() != 0U);
    CHECK(dev->ifindex() == ::if_nametoindex(dev->name().c_str()));
    const auto sysfs = read_sysfs("/sys/class/net/" + dev->name() + "/ifindex");
    REQUIRE(sysfs);
    CHECK(std::to_string(dev->ifindex()) == *sysfs);
  }
}
