// privsep_broker: the privileged half of a privilege-separated VPN daemon. It creates and
// configures a multi-queue TUN device, waits on a Unix socket for the unprivileged worker, hands
// it the device's queues (tunkit::send_device: SCM_RIGHTS) and lets go of its own: from then on
// it holds nothing of the data plane, and the device lives as long as the worker's queues.
//
//   sudo ./privsep_broker --socket /run/vpn.sock --worker-uid 65534 &
//   sudo setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all
//        --bounding-set=-all --no-new-privs ./privsep_worker --connect /run/vpn.sock --count 3 &
//   (one command line)
//   ping -c 3 10.86.0.2
//
// The worker may also be started by `tunkit run`, which does this program's work in one line
// (privsep_worker --help). Exit status: 0 handed over, 1 runtime error, 2 usage.

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/handover.hpp>
#include <tunkit/tunkit.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "common/helpers.hpp"
#include "common/responder.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: privsep_broker --socket PATH [options]

Creates a multi-queue TUN device, gives it an IPv4 and an IPv6 prefix, brings it up, and hands
its queues to the first worker that connects to the Unix socket PATH (SOCK_SEQPACKET), then
exits: the device goes away when the worker closes its queues.

options:
  -s, --socket PATH      the Unix socket to listen on (replaced if it exists)
  -w, --worker-uid UID   only this user may connect (the socket is given to it, 0600) and
                         receive the device (checked with SO_PEERCRED); default: any user
  -n, --name NAME        interface name or template with one %d (default "privsep%d")
  -q, --queues N         number of queues, 1..253 (default 2)
  -4, --ipv4 ADDR/LEN    the device's IPv4 prefix (default 10.86.0.1/24)
  -6, --ipv6 ADDR/LEN    the device's IPv6 prefix (default fd00:86::1/64)
  -t, --timeout SEC      give up after SEC seconds without a worker (default 30)
  -h, --help             show this help

Prints "ready: NAME QUEUES PATH" once it listens, "handed over: NAME QUEUES to uid U pid P".
)";

constexpr example::Program kProgram{"privsep_broker", kUsage};
using example::UsageError;

struct Config {
  std::string socket;
  std::optional<uid_t> worker;
  std::string name = "privsep%d";
  unsigned queues = 2;
  tunkit::IpPrefix v4 = tunkit::IpPrefix::parse("10.86.0.1/24");
  tunkit::IpPrefix v6 = tunkit::IpPrefix::parse("fd00:86::1/64");
  unsigned long timeout_s = 30;
};

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-s" || a == "--socket") {
      cfg.socket = args.value(a);
    } else if (a == "-w" || a == "--worker-uid") {
      cfg.worker = static_cast<uid_t>(args.number(a));
    } else if (a == "-n" || a == "--name") {
      cfg.name = args.value(a);
    } else if (a == "-q" || a == "--queues") {
      const unsigned long q = args.number(a);
      if (q < 1 || q > 253) throw UsageError{"--queues must be 1..253"};
      cfg.queues = static_cast<unsigned>(q);
    } else if (a == "-4" || a == "--ipv4") {
      cfg.v4 = args.prefix(a, 4);
    } else if (a == "-6" || a == "--ipv6") {
      cfg.v6 = args.prefix(a, 6);
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = args.number(a);
    } else {
      example::Args::unknown(a);
    }
  }
  if (cfg.socket.empty()) throw UsageError{"--socket PATH is required"};
  if (cfg.socket.size() >= sizeof(sockaddr_un::sun_path)) throw UsageError{"--socket: too long"};
  return cfg;
}

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::system_category(), what);
}

// A listening SOCK_SEQPACKET socket at `path`, reachable by `worker` only when one is given.
example::Fd listen_at(const Config& cfg) {
  example::Fd s(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (s.get() < 0) throw_errno("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, cfg.socket.data(), cfg.socket.size());
  (void)::unlink(cfg.socket.c_str());
  if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    throw_errno("bind " + cfg.socket);
  }
  if (cfg.worker) {
    if (::chown(cfg.socket.c_str(), *cfg.worker, static_cast<gid_t>(-1)) != 0 ||
        ::chmod(cfg.socket.c_str(), 0600) != 0) {
      throw_errno("chown/chmod " + cfg.socket);
    }
  } else if (::chmod(cfg.socket.c_str(), 0666) != 0) {
    throw_errno("chmod " + cfg.socket);
  }
  if (::listen(s.get(), 1) != 0) throw_errno("listen");
  return s;
}

int run(const Config& cfg) {
  // The privileged part: create and configure.
  // Always an owner: a device with neither owner nor group may be attached to by any user who
  // can open /dev/net/tun (the kernel checks them only when set). The worker, so that it may
  // attach more queues itself; root without one.
  tunkit::TunDevice dev({.name = cfg.name, .queues = cfg.queues, .owner = cfg.worker.value_or(0)});
  tunkit::Link link(dev.ifindex());
  example::disable_dad(dev.name());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();

  const example::Fd listener = listen_at(cfg);
  fmt::print("ready: {} {} {}\n", dev.name(), dev.queue_count(), cfg.socket);
  pollfd p{listener.get(), POLLIN, 0};
  const int timeout_ms = cfg.timeout_s == 0 ? -1 : static_cast<int>(cfg.timeout_s * 1000);
  int ready = 0;
  do {
    ready = ::poll(&p, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) throw_errno("poll");
  if (ready == 0) {
    fmt::print(stderr, "privsep_broker: no worker within {} s\n", cfg.timeout_s);
    return 1;
  }
  const example::Fd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (conn.get() < 0) throw_errno("accept");
  (void)::unlink(cfg.socket.c_str());

  // The hand-over: only to the worker meant (SO_PEERCRED), with a word on what it is for.
  tunkit::send_device(
      conn.get(), dev,
      {.purpose = fmt::format("data plane of {}", dev.name()), .peer_uid = cfg.worker});
  ucred peer{};
  socklen_t len = sizeof peer;
  (void)::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len);
  fmt::print("handed over: {} {} to uid {} pid {}\n", dev.name(), dev.queue_count(), peer.uid,
             peer.pid);
  // Let go of our copies: the kernel would otherwise keep the device for us too, and a broker
  // that parses nothing from the network should hold no data-plane descriptor.
  dev.close();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
