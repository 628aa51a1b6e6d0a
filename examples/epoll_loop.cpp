// epoll_loop: a ping responder in one thread, with plain epoll(7) over every queue of a
// multi-queue TUN device. The queues are opened non-blocking; epoll says which are readable and
// the loop drains each of those (a bounded number of packets per turn, so that a busy queue
// cannot starve the others). SIGINT/SIGTERM arrive through a signalfd in the same epoll set.
//
//   unshare -n bash -c 'ip link set lo up; ./epoll_loop --count 16 & sleep 1;
//     for i in 2 3 4 5 6 7 8 9; do ping -c 2 -W 1 10.81.0.$i & done; wait'
//
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/packet.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>

namespace {

constexpr std::string_view kUsage = R"(usage: epoll_loop [options]

Creates a multi-queue TUN device and answers, in one thread with epoll over all its queues, the
ICMP echo requests (IPv4 and IPv6) sent to any address of the device's prefixes except the
device's own.

options:
  -n, --name NAME        interface name or template with one %d (default "epoll%d")
  -q, --queues N         number of queues, 1..256 (default 4)
  -4, --ipv4 ADDR/LEN    the device's IPv4 prefix (default 10.81.0.1/24)
  -6, --ipv6 ADDR/LEN    the device's IPv6 prefix (default fd00:81::1/64)
  -c, --count N          exit after N replies in all (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "ready: NAME QUEUES" once configured, one line per reply ("queue 2: ..."), and a table of
flows and the queue that served them at the end.
)";

struct Config {
  std::string name = "epoll%d";
  unsigned queues = 4;
  tunkit::IpPrefix v4 = tunkit::IpPrefix::parse("10.81.0.1/24");
  tunkit::IpPrefix v6 = tunkit::IpPrefix::parse("fd00:81::1/64");
  unsigned long count = 0;
  unsigned long timeout_s = 0;
};

[[noreturn]] void usage_error(std::string_view what) {
  fmt::print(stderr, "epoll_loop: {}\n{}", what, kUsage);
  std::exit(2);
}

unsigned long to_number(std::string_view opt, const char* text) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(text, &end, 10);
  if (end == text || *end != '\0')
    usage_error(fmt::format("{} needs a number, not \"{}\"", opt, text));
  return v;
}

Config parse_args(int argc, char** argv) {
  Config c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(fmt::format("{} needs a value", a));
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      fmt::print("{}", kUsage);
      std::exit(0);
    } else if (a == "-n" || a == "--name") {
      c.name = value();
    } else if (a == "-q" || a == "--queues") {
      const unsigned long q = to_number(a, value());
      if (q < 1 || q > tunkit::max_queues) usage_error("--queues must be 1..256");
      c.queues = static_cast<unsigned>(q);
    } else if (a == "-4" || a == "--ipv4" || a == "-6" || a == "--ipv6") {
      const char* text = value();
      const auto p = tunkit::IpPrefix::try_parse(text);
      const bool want_v4 = a == "-4" || a == "--ipv4";
      if (!p || p->address.is_v4() != want_v4) {
        usage_error(
            fmt::format("{} needs an IPv{} ADDR/LEN, not \"{}\"", a, want_v4 ? 4 : 6, text));
      }
      (want_v4 ? c.v4 : c.v6) = *p;
    } else if (a == "-c" || a == "--count") {
      c.count = to_number(a, value());
    } else if (a == "-t" || a == "--timeout") {
      c.timeout_s = to_number(a, value());
    } else {
      usage_error(fmt::format("unknown option \"{}\"", a));
    }
  }
  return c;
}

// A descriptor closed once, at scope exit (close is never retried on EINTR).
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::system_category(), what);
}

// A flow: source, destination and ICMP identifier of the requests.
using FlowKey = std::tuple<std::string, std::string, unsigned>;

// The epoll data of the signalfd; queues use their index.
constexpr std::uint64_t kSignalTag = ~std::uint64_t{0};
// Packets read from one queue per readiness report before the others get their turn.
constexpr int kBudget = 64;

class Loop {
 public:
  // Everything that can fail is set up here, before the caller says "ready".
  Loop(const Config& cfg, tunkit::TunDevice& dev) : cfg_(cfg), dev_(dev) {
    // Signals become readable events of a signalfd instead of interrupting the loop.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) throw_errno("sigprocmask");
    signal_.fd = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_.fd < 0) throw_errno("signalfd");
    epoll_.fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_.fd < 0) throw_errno("epoll_create1");
    for (std::size_t i = 0; i < dev_.queue_count(); ++i)
      add(dev_.queue(i).native_handle(), i);
    add(signal_.fd, kSignalTag);
  }

  void run() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg_.timeout_s);
    std::array<epoll_event, 16> events{};
    while (!done_) {
      int timeout_ms = -1;
      if (cfg_.timeout_s != 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        timeout_ms = static_cast<int>(left.count());
      }
      const int n =
          ::epoll_wait(epoll_.fd, events.data(), static_cast<int>(events.size()), timeout_ms);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("epoll_wait");
      for (int i = 0; i < n && !done_; ++i) {
        const std::uint64_t tag = events[static_cast<std::size_t>(i)].data.u64;
        if (tag == kSignalTag) {
          done_ = true;
        } else {
          drain(static_cast<std::size_t>(tag));
        }
      }
    }
  }

  void print_summary() const {
    fmt::print("flows ({} replies):\n", replies_);
    std::map<std::size_t, unsigned> per_queue;
    for (const auto& [flow, queues] : flows_) {
      for (const auto& [q, n] : queues) {
        fmt::print("  {} > {} id {}: queue {} ({} replies)\n", std::get<0>(flow), std::get<1>(flow),
                   std::get<2>(flow), q, n);
        per_queue[q] += n;
      }
    }
    fmt::print("queues used: {} of {}\n", per_queue.size(), dev_.queue_count());
  }

 private:
  void add(int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: a queue left with packets is reported again
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_.fd, EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl");
  }

  // Reads up to kBudget packets from queue `index` (non-blocking: EAGAIN ends the turn).
  void drain(std::size_t index) {
    tunkit::Queue& queue = dev_.queue(index);
    for (int budget = kBudget; budget > 0 && !done_; --budget) {
      std::error_code ec;
      const std::size_t n = queue.read(buf_, ec);
      if (ec == std::errc::resource_unavailable_try_again) return;
      if (ec == tunkit::errc::packet_truncated) continue;
      if (ec)
        throw tunkit::Error(ec, fmt::format("epoll_loop: read queue {}: {}", index, ec.message()));
      answer(index, std::span<std::byte>(buf_).first(n));
    }
  }

  void answer(std::size_t index, std::span<std::byte> packet) {
    const auto pkt = tunkit::parse_ip(std::span<const std::byte>(packet));
    if (!pkt) return;
    unsigned id = 0;
    unsigned seq = 0;
    if (const auto* icmp = pkt->icmp(); icmp != nullptr) {
      if (icmp->type() != tunkit::IcmpType::echo_request) return;
      id = icmp->identifier();
      seq = icmp->sequence();
    } else if (const auto* icmp6 = pkt->icmpv6(); icmp6 != nullptr) {
      if (icmp6->type() != tunkit::Icmpv6Type::echo_request) return;
      id = icmp6->identifier();
      seq = icmp6->sequence();
    } else {
      return;
    }
    // The device's own addresses are answered by the kernel; never claim them.
    if (pkt->dst() == cfg_.v4.address || pkt->dst() == cfg_.v6.address) return;
    const FlowKey flow{pkt->src().to_string(), pkt->dst().to_string(), id};
    const auto len = tunkit::build_echo_reply(*pkt, buf_);  // in place
    if (!len) return;
    std::error_code ec;
    // Answer on the queue the request came from (TUN writes do not block).
    dev_.queue(index).write(std::span<const std::byte>(buf_).first(*len), ec);
    if (ec) {
      fmt::print(stderr, "queue {}: write: {}\n", index, ec.message());
      return;
    }
    ++replies_;
    ++flows_[flow][index];
    fmt::print("queue {}: {} > {} echo id={} seq={}: replied\n", index, std::get<0>(flow),
               std::get<1>(flow), id, seq);
    std::fflush(stdout);
    if (cfg_.count != 0 && replies_ >= cfg_.count) done_ = true;
  }

  const Config& cfg_;
  tunkit::TunDevice& dev_;
  Fd signal_{-1};
  Fd epoll_{-1};
  std::array<std::byte, 65536> buf_{};
  bool done_ = false;
  unsigned long replies_ = 0;
  std::map<FlowKey, std::map<std::size_t, unsigned>> flows_;
};

int run(const Config& cfg) {
  tunkit::TunDevice dev({.name = cfg.name, .queues = cfg.queues, .non_blocking = true});
  tunkit::Link link(dev.ifindex());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();
  Loop loop(cfg, dev);
  fmt::print("ready: {} {} queues {} {}\n", dev.name(), dev.queue_count(), cfg.v4, cfg.v6);
  std::fflush(stdout);
  loop.run();
  loop.print_summary();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_args(argc, argv);
  try {
    return run(cfg);
  } catch (const std::exception& e) {
    fmt::print(stderr, "epoll_loop: {}\n", e.what());
    return 1;
  }
}
