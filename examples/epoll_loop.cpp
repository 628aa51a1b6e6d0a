// epoll_loop: a ping responder in one thread, with plain epoll(7) over every queue of a
// multi-queue TUN device. The queues are opened non-blocking; epoll says which are readable and
// the loop drains each of those (a bounded number of packets per turn, so that a busy queue
// cannot starve the others). SIGINT/SIGTERM arrive through a signalfd in the same epoll set.
//
//   unshare -n bash -c 'ip link set lo up; ./epoll_loop --count 16 & sleep 1;
//     for i in 2 3 4 5 6 7 8 9; do ping -c 2 -W 1 10.81.0.$i & done; wait'
//
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <sys/epoll.h>

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>
#include <system_error>

#include "common/echo.hpp"
#include "common/helpers.hpp"

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

constexpr example::Program kProgram{"epoll_loop", kUsage, ""};

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::system_category(), what);
}

// The epoll data of the signalfd; queues use their index.
constexpr std::uint64_t kSignalTag = ~std::uint64_t{0};
// Packets read from one queue per readiness report before the others get their turn.
constexpr int kBudget = 64;

class Loop {
 public:
  // Everything that can fail is set up here, before the caller says "ready".
  Loop(const example::EchoConfig& cfg, tunkit::TunDevice& dev) : cfg_(cfg), dev_(dev) {
    // Signals become readable events of a signalfd instead of interrupting the loop.
    const char* failed = nullptr;
    signal_ = example::Fd(example::open_signal_fd(failed));
    if (signal_.get() < 0) throw_errno(failed);
    epoll_ = example::Fd(::epoll_create1(EPOLL_CLOEXEC));
    if (epoll_.get() < 0) throw_errno("epoll_create1");
    for (std::size_t i = 0; i < dev_.queue_count(); ++i)
      add(dev_.queue(i).native_handle(), i);
    add(signal_.get(), kSignalTag);
  }

  void run() {
    const example::Deadline deadline{std::chrono::seconds(cfg_.timeout_s)};
    std::array<epoll_event, 16> events{};
    while (!done_) {
      const auto left = deadline.left();
      if (!left) break;
      const int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(left->count()));
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

  void print_summary() const { flows_.print(replies_, dev_.queue_count()); }

 private:
  void add(int fd, std::uint64_t tag) {
    epoll_event ev{};
    ev.events = EPOLLIN;  // level-triggered: a queue left with packets is reported again
    ev.data.u64 = tag;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) throw_errno("epoll_ctl");
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
      answer(index, n);
    }
  }

  void answer(std::size_t index, std::size_t n) {
    const auto reply = example::echo_reply(buf_, n, cfg_);
    if (!reply) return;
    std::error_code ec;
    // Answer on the queue the request came from (TUN writes do not block).
    dev_.queue(index).write(std::span<const std::byte>(buf_).first(reply->length), ec);
    if (ec) {
      fmt::print(stderr, "queue {}: write: {}\n", index, ec.message());
      return;
    }
    ++replies_;
    flows_.replied(index, *reply);
    if (cfg_.count != 0 && replies_ >= cfg_.count) done_ = true;
  }

  const example::EchoConfig& cfg_;
  tunkit::TunDevice& dev_;
  example::Fd signal_;
  example::Fd epoll_;
  std::array<std::byte, 65536> buf_{};
  bool done_ = false;
  unsigned long replies_ = 0;
  example::FlowTable flows_;
};

int run(const example::EchoConfig& cfg) {
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
  const example::EchoConfig defaults{.name = "epoll%d",
                                     .v4 = tunkit::IpPrefix::parse("10.81.0.1/24"),
                                     .v6 = tunkit::IpPrefix::parse("fd00:81::1/64")};
  return example::echo_main(argc, argv, kProgram, defaults, run);
}
