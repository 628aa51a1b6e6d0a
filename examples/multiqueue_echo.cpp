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
#include <cstdio>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "common/echo.hpp"
#include "common/helpers.hpp"

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

constexpr example::Program kProgram{"multiqueue_echo", kUsage, ""};

struct Shared {
  std::mutex mutex;  // serialises printing and the flow table (not the packet path)
  example::FlowTable flows;
  std::atomic<unsigned long> replies{0};
  unsigned long limit = 0;
};

void serve(tunkit::Queue& queue, std::size_t index, const example::EchoConfig& cfg,
           Shared& shared) {
  std::array<std::byte, 65536> buf{};
  while (!example::stop_requested()) {
    std::error_code ec;
    const std::size_t n = queue.read(buf, ec);
    if (ec == tunkit::errc::interrupted) return;
    if (ec) {
      std::lock_guard lock(shared.mutex);
      fmt::print(stderr, "queue {}: read: {}\n", index, ec.message());
      return;
    }
    const auto reply = example::echo_reply(buf, n, cfg);
    if (!reply) continue;
    queue.write(std::span<const std::byte>(buf).first(reply->length), ec);
    if (ec) {
      std::lock_guard lock(shared.mutex);
      fmt::print(stderr, "queue {}: write: {}\n", index, ec.message());
      continue;
    }
    const unsigned long total = shared.replies.fetch_add(1) + 1;
    {
      std::lock_guard lock(shared.mutex);
      shared.flows.replied(index, *reply);
    }
    if (shared.limit != 0 && total >= shared.limit) {
      example::request_stop();  // wakes the other workers
      return;
    }
  }
}

int run(const example::EchoConfig& cfg) {
  tunkit::TunDevice dev({.name = cfg.name, .queues = cfg.queues});
  tunkit::Link link(dev.ifindex());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();

  const example::StopOnSignal stop_on_signal(dev);

  Shared shared;
  shared.limit = cfg.count;
  fmt::print("ready: {} {} queues {} {}\n", dev.name(), dev.queue_count(), cfg.v4, cfg.v6);
  std::fflush(stdout);

  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < dev.queue_count(); ++i) {
    workers.emplace_back([&, i] { serve(dev.queue(i), i, cfg, shared); });
  }
  if (cfg.timeout_s != 0) example::stop_at(example::Deadline(std::chrono::seconds(cfg.timeout_s)));
  for (auto& w : workers)
    w.join();

  shared.flows.print(shared.replies.load(), dev.queue_count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const example::EchoConfig defaults{.name = "mqecho%d",
                                     .v4 = tunkit::IpPrefix::parse("10.78.0.1/24"),
                                     .v6 = tunkit::IpPrefix::parse("fd00:78::1/64")};
  return example::echo_main(argc, argv, kProgram, defaults, run);
}
