// privsep_worker: the unprivileged half of a privilege-separated VPN daemon. It runs as a user
// without capabilities and gets a TUN device's queues from whoever has the privileges:
//
//   - at start, from `tunkit run` (or a systemd unit passing them the same way): the LISTEN_FDS
//     convention, taken with tunkit::TunDevice::from_environment();
//   - or over a Unix socket from privsep_broker (--connect PATH): tunkit::receive_device.
//
//   sudo tunkit run --user nobody --queues 2 --addr 10.86.0.1/24 --up -- ./privsep_worker --count 3
//   & ping -c 3 10.86.0.2
//
// It shows what it cannot do (create a device, change the link), then answers ICMP and ICMPv6
// echo requests on every queue, in one thread with poll(2), and counts UDP datagrams.
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/handover.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/echo.hpp"
#include "common/helpers.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: privsep_worker [options]

Takes a TUN device's queues from the environment (LISTEN_FDS, as `tunkit run` passes them) or,
with --connect, from privsep_broker over a Unix socket; shows that it cannot create devices or
change links; then answers ICMP and ICMPv6 echo requests on all its queues and counts UDP
datagrams.

options:
  -C, --connect PATH     receive the device from the broker listening at PATH
  -b, --broker-uid UID   with --connect: the broker must be this user (SO_PEERCRED)
  -c, --count N          exit after N replies (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "worker: uid U gid G, capabilities none" (or the effective set), one line for each thing
it may not do, "ready: NAME QUEUES" once it holds the device, and "done: N replies, M udp" at
the end.
)";

constexpr example::Program kProgram{"privsep_worker", kUsage};
using example::UsageError;

struct Config {
  std::string connect;
  std::optional<uid_t> broker;
  unsigned long count = 0;
  unsigned long timeout_s = 0;
};

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-C" || a == "--connect") {
      cfg.connect = args.value(a);
      if (cfg.connect.size() >= sizeof(sockaddr_un::sun_path)) {
        throw UsageError{"--connect: too long"};
      }
    } else if (a == "-b" || a == "--broker-uid") {
      cfg.broker = static_cast<uid_t>(args.number(a));
    } else if (a == "-c" || a == "--count") {
      cfg.count = args.number(a);
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = args.number(a);
    } else {
      example::Args::unknown(a);
    }
  }
  return cfg;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::system_category(), what);
}

// CapEff of this process: "none" when empty.
std::string capabilities() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("CapEff:")) {
      const std::string hex = line.substr(line.find_first_not_of(" \t", 7));
      return hex.find_first_not_of('0') == std::string::npos ? "none" : hex;
    }
  }
  return "unknown";
}

tunkit::TunDevice get_device(const Config& cfg) {
  if (cfg.connect.empty()) {
    tunkit::TunDevice dev = tunkit::TunDevice::from_environment({.non_blocking = true});
    if (!dev.is_open()) {
      throw UsageError{"no device passed (LISTEN_FDS): start it with tunkit run, or --connect"};
    }
    return dev;
  }
  const example::Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s.get() < 0) throw_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, cfg.connect.data(), cfg.connect.size());
  if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_errno("connect " + cfg.connect);
  }
  auto received = tunkit::receive_device(s.get(), {.peer_uid = cfg.broker, .non_blocking = true});
  fmt::print("received: {} ({}) from pid {}\n", received.device.name(), received.info.purpose,
             received.peer ? received.peer->pid : 0);
  return std::move(received.device);
}

// What a process without CAP_NET_ADMIN may not do, tried and reported.
void show_limits(tunkit::TunDevice& dev) {
  try {
    tunkit::TunDevice other({.name = "worker%d"});
    fmt::print("created {}: this worker still has privileges\n", other.name());
  } catch (const tunkit::Error& e) {
    fmt::print("cannot create devices: {}\n", e.what());
  }
  // What it still may do: the kernel checks privileges when a queue is attached, not on the
  // device-wide ioctls of an attached one (persist, owner, group, offloads, carrier...).
  std::error_code ec;
  dev.set_persist(false, ec);  // it is not persistent: this changes nothing
  fmt::print("TUNSETPERSIST on a received queue: {}\n", ec ? ec.message() : "allowed");
  try {
    tunkit::Link(dev.ifindex()).set_mtu(1280);
    fmt::print("changed the MTU: this worker still has privileges\n");
  } catch (const tunkit::Error& e) {
    fmt::print("cannot change the link: {}\n", e.what());
  }
}

int run(const Config& cfg) {
  fmt::print("worker: uid {} gid {}, capabilities {}\n", ::getuid(), ::getgid(), capabilities());
  tunkit::TunDevice dev = [&] {
    try {
      return get_device(cfg);
    } catch (const UsageError& e) {
      throw std::runtime_error(e.message);
    }
  }();
  show_limits(dev);

  // The device's own addresses (reading them needs no privilege): the kernel answers pings to
  // those itself; this worker answers the rest of the prefixes.
  example::EchoConfig echo;
  for (const tunkit::AddressInfo& a : tunkit::Link(dev.ifindex()).address_details()) {
    if (a.prefix.address.is_v4()) echo.v4 = a.prefix;
    if (a.prefix.address.is_v6() && a.scope == tunkit::AddressScope::global) echo.v6 = a.prefix;
  }
  example::StopOnSignal stop(dev);
  fmt::print("ready: {} {}\n", dev.name(), dev.queue_count());

  std::vector<pollfd> fds;
  for (std::size_t i = 0; i < dev.queue_count(); ++i)
    fds.push_back({dev.queue(i).native_handle(), POLLIN, 0});
  std::array<std::byte, 65536> buf{};
  unsigned long replies = 0;
  unsigned long udp = 0;
  const example::Deadline deadline{std::chrono::seconds(cfg.timeout_s)};
  while (!example::stop_requested() && (cfg.count == 0 || replies < cfg.count)) {
    const auto left = deadline.left();
    if (!left) break;
    // At most 100 ms per wait, so that a stop request is seen.
    const int wait = left->count() < 0 ? 100 : static_cast<int>(std::min<long>(left->count(), 100));
    const int n = ::poll(fds.data(), fds.size(), wait);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("poll");
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      for (int budget = 64; budget > 0; --budget) {
        std::error_code ec;
        const std::size_t len = dev.queue(i).read(buf, ec);
        if (ec == std::errc::resource_unavailable_try_again) break;
        if (ec) throw tunkit::Error(ec, fmt::format("read queue {}: {}", i, ec.message()));
        const auto pkt = tunkit::parse_ip(std::span<const std::byte>(buf).first(len));
        if (pkt && pkt->udp() != nullptr) {
          ++udp;
          continue;
        }
        const auto reply = example::echo_reply(buf, len, echo);
        if (!reply) continue;
        dev.queue(i).write(std::span<const std::byte>(buf).first(reply->length));
        ++replies;
      }
    }
  }
  fmt::print("done: {} replies, {} udp\n", replies, udp);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
