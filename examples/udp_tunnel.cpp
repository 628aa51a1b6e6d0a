// udp_tunnel: a minimal point-to-point VPN. Every IP packet the kernel routes into the TUN device
// goes to the peer in one UDP datagram; every datagram from the peer goes back into the TUN.
//
//   host A: udp_tunnel --local 192.0.2.1:5000 --remote 192.0.2.2:5000 --tun-addr 10.60.0.1/24
//   host B: udp_tunnel --local 192.0.2.2:5000 --remote 192.0.2.1:5000 --tun-addr 10.60.0.2/24
//   host A: ping 10.60.0.2
//
// It is a teaching example, not a VPN to deploy: nothing is encrypted or authenticated, so
// anyone who can send UDP from the peer's address can put packets into the tunnel. What it
// shows: one thread, one poll(2) over the TUN descriptor, the UDP socket and a signalfd; packets
// moved in batches until the kernel has no more (EAGAIN); every datagram checked with
// tunkit::parse_ip before it enters the kernel; a clean exit on SIGINT/SIGTERM.
//
// Exit status: 0 done (timeout or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/helpers.hpp"
#include "common/kernel_stats.hpp"

namespace {

constexpr std::string_view kUsage =
    R"txt(usage: udp_tunnel --local ADDR:PORT --remote ADDR:PORT --tun-addr CIDR [options]

A minimal point-to-point VPN: creates a TUN device with the address CIDR and carries its packets
to and from the peer in UDP datagrams, unencrypted. Run one at each end.

options:
  -l, --local ADDR:PORT    the UDP address to bind: 192.0.2.1:5000 or [2001:db8::1]:5000
  -r, --remote ADDR:PORT   the peer's UDP address (only datagrams from it are accepted)
  -a, --tun-addr CIDR      the tunnel device's address, e.g. 10.60.0.1/24 (repeatable)
  -n, --name NAME          interface name or template with one %d (default "udptun%d")
  -m, --mtu M              the tunnel's MTU (default 1400: room for the outer IP and UDP headers)
  -t, --timeout SEC        exit after SEC seconds (default 0: no limit)
  -h, --help               show this help

Prints "ready: NAME CIDR... local ADDR:PORT remote ADDR:PORT" once configured and counters at
the end.
)txt";

/// A UDP endpoint: address and port.
struct Endpoint {
  tunkit::IpAddress address;
  std::uint16_t port = 0;
};

struct Config {
  std::optional<Endpoint> local;
  std::optional<Endpoint> remote;
  std::vector<tunkit::IpPrefix> tun_addresses;
  std::string name = "udptun%d";
  unsigned mtu = 1400;
  unsigned long timeout_s = 0;
};

constexpr example::Program kProgram{"udp_tunnel", kUsage};
using example::UsageError;

// "192.0.2.1:5000" or "[2001:db8::1]:5000".
std::optional<Endpoint> parse_endpoint(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const auto port = example::to_number(text.substr(colon + 1), 5);
  if (!port || *port == 0 || *port > 65535) return std::nullopt;
  const bool bracketed = host.starts_with('[') && host.ends_with(']');
  if (bracketed) host = host.substr(1, host.size() - 2);
  const auto address = tunkit::IpAddress::try_parse(host);
  if (!address || address->is_v6() != bracketed) return std::nullopt;
  return Endpoint{*address, static_cast<std::uint16_t>(*port)};
}

std::string to_string(const Endpoint& e) {
  return e.address.is_v6() ? fmt::format("[{}]:{}", e.address, e.port)
                           : fmt::format("{}:{}", e.address, e.port);
}

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-l" || a == "--local" || a == "-r" || a == "--remote") {
      const std::string_view text = args.value(a);
      const auto e = parse_endpoint(text);
      if (!e)
        throw UsageError{
            fmt::format("{}: \"{}\" is not ADDR:PORT ([ADDR]:PORT for IPv6)", a, text)};
      (a == "-l" || a == "--local" ? cfg.local : cfg.remote) = e;
    } else if (a == "-a" || a == "--tun-addr") {
      cfg.tun_addresses.push_back(args.prefix(a));
    } else if (a == "-n" || a == "--name") {
      cfg.name = args.value(a);
    } else if (a == "-m" || a == "--mtu") {
      const std::string_view text = args.value(a);
      const auto v = example::to_number(text, 5);
      if (!v || *v < 68 || *v > 65535) {
        throw UsageError{fmt::format("{}: \"{}\" is not an MTU (68..65535)", a, text)};
      }
      cfg.mtu = static_cast<unsigned>(*v);
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = args.number(a);
    } else {
      example::Args::unknown(a);
    }
  }
  if (!cfg.local) throw UsageError{"--local is required"};
  if (!cfg.remote) throw UsageError{"--remote is required"};
  if (cfg.tun_addresses.empty()) throw UsageError{"--tun-addr is required"};
  if (cfg.local->address.family() != cfg.remote->address.family()) {
    throw UsageError{"--local and --remote must be of the same address family"};
  }
  return cfg;
}

[[noreturn]] void fail_errno(std::string_view what) {
  const int err = errno;
  throw tunkit::Error(std::error_code(err, std::system_category()),
                      fmt::format("{}: {}", what, std::generic_category().message(err)));
}

using example::Fd;

// A sockaddr for `e`, and its length.
std::pair<sockaddr_storage, socklen_t> to_sockaddr(const Endpoint& e) {
  sockaddr_storage ss{};
  if (e.address.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);  // NOLINT: the sockaddr idiom
    in->sin_family = AF_INET;
    in->sin_port = htons(e.port);
    std::memcpy(&in->sin_addr, e.address.bytes().data(), 4);
    return {ss, sizeof(sockaddr_in)};
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);  // NOLINT: the sockaddr idiom
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(e.port);
  std::memcpy(&in6->sin6_addr, e.address.bytes().data(), 16);
  return {ss, sizeof(sockaddr_in6)};
}

// A UDP socket bound to `local` and connected to `remote`: the kernel then delivers only the
// peer's datagrams, and send() needs no address.
Fd open_udp(const Endpoint& local, const Endpoint& remote) {
  Fd sock(::socket(local.address.is_v4() ? AF_INET : AF_INET6,
                   SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) fail_errno("socket");
  const auto [la, llen] = to_sockaddr(local);
  if (::bind(sock.get(), reinterpret_cast<const sockaddr*>(&la), llen) != 0) {  // NOLINT
    fail_errno(fmt::format("bind {}", to_string(local)));
  }
  const auto [ra, rlen] = to_sockaddr(remote);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&ra), rlen) != 0) {  // NOLINT
    fail_errno(fmt::format("connect {}", to_string(remote)));
  }
  return sock;
}

struct Counters {
  unsigned long to_peer = 0;      // TUN -> UDP
  unsigned long from_peer = 0;    // UDP -> TUN
  unsigned long dropped_out = 0;  // could not be sent (no buffer, peer unreachable)
  unsigned long dropped_in = 0;   // not an IP packet, or refused by the TUN
};

// The datagrams the kernel dropped for socket `fd` so far, before udp_tunnel could read them:
// its receive queue was full (the socket's sk_drops, which /proc/net/udp shows as "drops"), read
// with SO_MEMINFO (Linux 4.6). nullopt where the kernel does not answer.
std::optional<std::uint32_t> socket_drops(int fd) {
  std::array<std::uint32_t, SK_MEMINFO_VARS> info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, info.data(), &len) != 0 ||
      len < (SK_MEMINFO_DROPS + 1) * sizeof(std::uint32_t)) {
    return std::nullopt;
  }
  return info[SK_MEMINFO_DROPS];
}

// How many packets one direction moves before the loop polls again: enough to amortise the
// poll, few enough that one busy direction does not starve the other.
constexpr int kBatch = 64;

int run(const Config& cfg) {
  // SIGINT/SIGTERM arrive through a signalfd in the same poll as the packets (signal(7)):
  // blocked first, so that they are never delivered the default way.
  const char* failed = nullptr;
  const Fd sigfd(example::open_signal_fd(failed));
  if (sigfd.get() < 0) fail_errno(failed);

  const Fd udp = open_udp(*cfg.local, *cfg.remote);

  tunkit::Options options;
  options.name = cfg.name;
  options.non_blocking = true;  // read() reports EAGAIN: the poll below does the waiting
  tunkit::TunDevice dev(options);
  tunkit::Link link(dev.ifindex());
  link.set_mtu(cfg.mtu);
  for (const auto& p : cfg.tun_addresses)
    link.add_address(p);
  link.set_up();

  // The kernel's counters at the start: the report gives what changed while it ran.
  const auto tun_before = example::device_stats(dev);

  std::string addresses;
  for (const auto& p : cfg.tun_addresses)
    addresses += fmt::format("{} ", p);
  fmt::print("ready: {} {}local {} remote {}\n", dev.name(), addresses, to_string(*cfg.local),
             to_string(*cfg.remote));

  const example::Deadline deadline{std::chrono::seconds(cfg.timeout_s)};
  std::array<std::byte, 65536> buf{};
  Counters n;
  for (;;) {
    const auto left = deadline.left();  // -1 ms: forever
    if (!left) break;
    std::array<pollfd, 3> fds{
        {{dev.native_handle(), POLLIN, 0}, {udp.get(), POLLIN, 0}, {sigfd.get(), POLLIN, 0}}};
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left->count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) fail_errno("poll");
    if (fds[2].revents != 0) break;  // SIGINT or SIGTERM

    // TUN -> peer: one datagram per packet.
    for (int i = 0; i < kBatch && fds[0].revents != 0; ++i) {
      std::error_code ec;
      const std::size_t len = dev.read(buf, ec);
      if (ec == std::errc::resource_unavailable_try_again) break;
      if (ec == tunkit::errc::packet_truncated) continue;  // longer than 64 KiB: cannot be
      if (ec) throw tunkit::Error(ec, fmt::format("read from {}: {}", dev.name(), ec.message()));
      if (::send(udp.get(), buf.data(), len, MSG_DONTWAIT) == static_cast<ssize_t>(len)) {
        ++n.to_peer;
      } else {
        // EAGAIN/ENOBUFS (queue full) or ECONNREFUSED (the peer is not listening yet): UDP
        // semantics, the packet is lost and TCP inside the tunnel retransmits.
        ++n.dropped_out;
      }
    }
    // Peer -> TUN: only well-formed IP packets reach the kernel.
    for (int i = 0; i < kBatch && fds[1].revents != 0; ++i) {
      const ssize_t got = ::recv(udp.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (got < 0 && errno == ECONNREFUSED) continue;  // an ICMP error for an earlier send
      if (got < 0) fail_errno("recv");
      const auto packet = std::span<const std::byte>(buf).first(static_cast<std::size_t>(got));
      if (!tunkit::parse_ip(packet)) {
        ++n.dropped_in;
        continue;
      }
      std::error_code ec;
      dev.write(packet, ec);
      if (ec) {
        ++n.dropped_in;
      } else {
        ++n.from_peer;
      }
    }
  }
  fmt::print("done: {} packets to peer, {} from peer\n", n.to_peer, n.from_peer);
  // Every counter with what it counts: udp_tunnel's own drops, then the kernel's, which
  // udp_tunnel never sees (under load the kernel's are the ones that grow).
  fmt::print(
      "dropped by udp_tunnel: {} to peer (send failed: the socket's send buffer was full, or the "
      "peer refused them), {} from peer (not an IP packet, or the TUN refused them)\n",
      n.dropped_out, n.dropped_in);
  const auto drops = socket_drops(udp.get());
  fmt::print(
      "dropped by the kernel: {} from peer (the UDP socket's receive buffer was full: "
      "SO_MEMINFO drops)\n",
      drops ? fmt::format("{}", *drops) : std::string("unknown"));
  fmt::print(
      "dropped by the kernel: {}\n",
      example::describe_drops(dev.name(), "udp_tunnel",
                              example::drops_between(tun_before, example::device_stats(dev))));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
