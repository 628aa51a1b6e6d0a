// multiqueue_echo: one worker thread per queue of a multi-queue TUN device, each answering the
// pings that the kernel steers to its queue, and saying which queue served which flow.
//
// The kernel spreads flows over the queues by flow hash (and keeps each flow on one queue), so
// pings to several addresses of the device's subnet land on different workers:
//
//   unshare -n bash -c 'ip link set lo up; ./multiqueue_echo --count 16 & sleep 1;
//     for i in 2 3 4 5 6 7 8 9; do ping -c 2 -W 1 10.78.0.$i & done; wait'
//
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <vector>

namespace {

constexpr std::string_view kUsage = R"(usage: multiqueue_echo [options]

Creates a multi-queue TUN device with one worker thread per queue; each worker answers the ICMP
echo requests (IPv4 and IPv6) that the kernel steers to its queue, for every address of the
device's prefixes except the device's own.

options:
  -n, --name NAME        interface name or template with one %d (default "mqecho%d")
  -q, --queues N         number of queues and worker threads, 1..256 (default 4)
  -4, --ipv4 ADDR/LEN    the device's IPv4 prefix (default 10.78.0.1/24)
  -6, --ipv6 ADDR/LEN    the device's IPv6 prefix (default fd00:78::1/64)
  -c, --count N          exit after N replies in all (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "ready: NAME QUEUES" once configured, one line per reply ("queue 2: ..."), and a table of
flows and the queue that served them at the end.
)";

struct Config {
  std::string name = "mqecho%d";
  unsigned queues = 4;
  tunkit::IpPrefix v4 = tunkit::IpPrefix::parse("10.78.0.1/24");
  tunkit::IpPrefix v6 = tunkit::IpPrefix::parse("fd00:78::1/64");
  unsigned long count = 0;
  unsigned long timeout_s = 0;
};

[[noreturn]] void usage_error(std::string_view what) {
  fmt::print(stderr, "multiqueue_echo: {}\n{}", what, kUsage);
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

// The signal handler's only way out: interrupt() is async-signal-safe.
tunkit::TunDevice* g_device = nullptr;
std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
  g_stop.store(true);
  if (g_device != nullptr) g_device->interrupt();
}

// A flow: source, destination and ICMP identifier of the requests.
using FlowKey = std::tuple<std::string, std::string, unsigned>;

struct Shared {
  std::mutex mutex;  // serialises printing and the flow table (not the packet path)
  std::map<FlowKey, std::map<std::size_t, unsigned>> flows;  // flow -> queue -> replies
  std::atomic<unsigned long> replies{0};
  unsigned long limit = 0;
};

void serve(tunkit::Queue& queue, std::size_t index, const Config& cfg, Shared& shared,
           tunkit::TunDevice& dev) {
  std::array<std::byte, 65536> buf{};
  while (!g_stop.load()) {
    std::error_code ec;
    const std::size_t n = queue.read(buf, ec);
    if (ec == tunkit::errc::interrupted) return;
    if (ec) {
      std::lock_guard lock(shared.mutex);
      fmt::print(stderr, "queue {}: read: {}\n", index, ec.message());
      return;
    }
    const auto pkt = tunkit::parse_ip(std::span<const std::byte>(buf).first(n));
    if (!pkt) continue;
    unsigned id = 0;
    unsigned seq = 0;
    if (const auto* icmp = pkt->icmp(); icmp != nullptr) {
      if (icmp->type() != tunkit::IcmpType::echo_request) continue;
      id = icmp->identifier();
      seq = icmp->sequence();
    } else if (const auto* icmp6 = pkt->icmpv6(); icmp6 != nullptr) {
      if (icmp6->type() != tunkit::Icmpv6Type::echo_request) continue;
      id = icmp6->identifier();
      seq = icmp6->sequence();
    } else {
      continue;
    }
    // The device's own addresses are answered by the kernel; never claim them.
    if (pkt->dst() == cfg.v4.address || pkt->dst() == cfg.v6.address) continue;
    const FlowKey flow{pkt->src().to_string(), pkt->dst().to_string(), id};
    const auto len = tunkit::build_echo_reply(*pkt, buf);  // in place
    if (!len) continue;
    queue.write(std::span<const std::byte>(buf).first(*len), ec);
    if (ec) {
      std::lock_guard lock(shared.mutex);
      fmt::print(stderr, "queue {}: write: {}\n", index, ec.message());
      continue;
    }
    const unsigned long total = shared.replies.fetch_add(1) + 1;
    {
      std::lock_guard lock(shared.mutex);
      ++shared.flows[flow][index];
      fmt::print("queue {}: {} > {} echo id={} seq={}: replied\n", index, std::get<0>(flow),
                 std::get<1>(flow), id, seq);
      std::fflush(stdout);
    }
    if (shared.limit != 0 && total >= shared.limit) {
      g_stop.store(true);
      dev.interrupt();  // wakes the other workers
      return;
    }
  }
}

int run(const Config& cfg) {
  tunkit::TunDevice dev({.name = cfg.name, .queues = cfg.queues});
  tunkit::Link link(dev.ifindex());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();

  g_device = &dev;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  Shared shared;
  shared.limit = cfg.count;
  fmt::print("ready: {} {} queues {} {}\n", dev.name(), dev.queue_count(), cfg.v4, cfg.v6);
  std::fflush(stdout);

  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < dev.queue_count(); ++i) {
    workers.emplace_back([&, i] { serve(dev.queue(i), i, cfg, shared, dev); });
  }
  if (cfg.timeout_s != 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.timeout_s);
    while (!g_stop.load() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    g_stop.store(true);
    dev.interrupt();
  }
  for (auto& w : workers)
    w.join();
  g_device = nullptr;

  fmt::print("flows ({} replies):\n", shared.replies.load());
  std::map<std::size_t, unsigned> per_queue;
  for (const auto& [flow, queues] : shared.flows) {
    for (const auto& [q, n] : queues) {
      fmt::print("  {} > {} id {}: queue {} ({} replies)\n", std::get<0>(flow), std::get<1>(flow),
                 std::get<2>(flow), q, n);
      per_queue[q] += n;
    }
  }
  fmt::print("queues used: {} of {}\n", per_queue.size(), dev.queue_count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_args(argc, argv);
  try {
    return run(cfg);
  } catch (const std::exception& e) {
    fmt::print(stderr, "multiqueue_echo: {}\n", e.what());
    return 1;
  }
}
