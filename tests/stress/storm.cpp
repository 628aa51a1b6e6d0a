// tunkit_stress, part "storm": TunDevice open and close as fast as they go, over every shape a
// device can have (TUN and TAP, packet information, virtio-net header with offloads, multi-queue
// from 2 to 256 queues, queues added later, name templates, exclusive creation, persistent
// devices attached again and deleted), let go in each way an owner can (close(), the destructor,
// a move). Four threads run one pass over the shapes each, on devices of their own; between
// passes, descriptors (/proc/self/fd) and devices (list_tun_devices) are compared with the
// start: no leak. (Threads, because a cycle mostly waits: deleting a device waits for an RCU
// grace period, about 18 ms here.)
#include <net/if.h>

#include <array>
#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "stress.hpp"
#include "tunkit/device.hpp"
#include "tunkit/tun_info.hpp"

namespace tunkit::stress {
namespace {

constexpr unsigned kThreads = 4;

struct Shape {
  const char* label;
  Options options;         // the name gets the thread's number appended
  bool add_queue = false;  // one more queue after open (multi-queue only)
  int every = 1;           // run on every n-th pass only (the 256-queue device is slow)
};

std::vector<Shape> shapes() {
  return {
      {"tun", {.name = "tks0t"}},
      {"tap", {.name = "tks1t", .mode = Mode::tap}},
      {"tun-pi-vnet", {.name = "tks2t", .packet_info = true, .vnet_hdr = true}},
      {"tap-vnet-offloads",
       {.name = "tks3t",
        .mode = Mode::tap,
        .vnet_hdr = true,
        .offloads = Offload::csum | Offload::tso4 | Offload::tso6}},
      {"tun-mq4+1", {.name = "tks4t", .queues = 4}, true},
      {"tap-mq2-vnet+1", {.name = "tks5t", .mode = Mode::tap, .queues = 2, .vnet_hdr = true}, true},
      {"tun-template", {.name = "tks%d"}},
      {"tun-exclusive", {.name = "tks6t", .exclusive = true}},
      {"tun-persist", {.name = "tks7t", .persist = true}},
      {"tap-mq3-persist", {.name = "tks8t", .mode = Mode::tap, .queues = 3, .persist = true}},
      {"tun-nonblocking-napi", {.name = "tks9t", .napi = true, .non_blocking = true}},
      {"tun-mq256", {.name = "tks10t", .queues = 256}, false, 8},
  };
}

// By index: another thread's template device may take the same name as soon as it is free,
// while indexes are not given out again.
bool exists(unsigned ifindex) {
  std::array<char, IF_NAMESIZE> name{};
  return ::if_indextoname(ifindex, name.data()) != nullptr;
}

// One create/destroy cycle of `shape`; failures go to `report`.
void cycle(const Shape& shape, Options options, std::uint64_t n, Report& report) {
  const std::string label = shape.label;
  const auto began = Clock::now();
  std::error_code ec;
  TunDevice dev;
  dev.open(options, ec);
  if (ec) {
    report.fail(fmt::format("open {} ({}): {}", label, to_string(options), ec.message()));
    report.count("errors");
    return;
  }
  if (shape.add_queue && dev.add_queue(ec) == nullptr) {
    report.fail(fmt::format("add_queue {}: {}", label, ec.message()));
    report.count("errors");
  }
  report.count("queues opened", dev.queue_count());
  const std::string name = dev.name();
  const unsigned ifindex = dev.ifindex();
  if (options.persist) {
    // It stays after close, an attach with the flags it has finds it, and clearing persist and
    // closing deletes it.
    dev.close();
    const std::optional<TunDeviceInfo> info = find_tun_device(name, ec);
    if (!info) {
      report.fail(fmt::format("{}: persistent device {} gone after close ({})", label, name,
                              ec ? ec.message() : "not listed"));
      report.count("errors");
    } else {
      TunDevice again;
      again.open(info->attach_options(), ec);
      if (!ec) again.set_persist(false, ec);
      if (ec) {
        report.fail(fmt::format("{}: attach and unpersist {}: {}", label, name, ec.message()));
        report.count("errors");
      }
    }
  } else {
    // Three ways of letting go: close(), the destructor (through a move assignment), a move
    // into another owner that is then destroyed.
    switch (n % 3) {
      case 0:
        dev.close();
        break;
      case 1:
        dev = TunDevice();
        break;
      default: {
        TunDevice taken(std::move(dev));
        if (dev.is_open() || !taken.is_open()) {
          report.fail(fmt::format("{}: a move left the source open or the target closed", label));
        }
        break;
      }
    }
  }
  if (exists(ifindex)) {
    report.fail(fmt::format("{}: device {} (index {}) still exists after its last close", label,
                            name, ifindex));
    report.count("errors");
  }
  report.count("cycle " + label);
  report.count(
      "us " + label,
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - began).count()));
}

}  // namespace

void run_storm(const Settings& settings, Report& report) {
  const Baseline start = Baseline::take();
  const Budget budget(settings.seconds, 250);
  const std::vector<Shape> all = shapes();
  std::atomic<std::uint64_t> cycles{0};
  std::uint64_t pass = 0;
  std::uint64_t checks = 0;
  bool leaked = false;
  while (budget.more(cycles.load()) && !leaked) {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (const Shape& shape : all) {
          if (!budget.more(cycles.load())) break;
          if (pass % static_cast<std::uint64_t>(shape.every) != 0) continue;
          Options options = shape.options;
          if (!options.name.ends_with("%d")) options.name += std::to_string(t);
          cycle(shape, options, pass + t, report);
          ++cycles;
        }
      });
    }
    for (auto& t : threads)
      t.join();
    ++pass;
    ++checks;
    leaked = !start.check_same(report, fmt::format("after {} cycles", cycles.load()));
  }
  report.print_counts("cycles by shape", "cycle ");
  std::string mean;
  for (const Shape& shape : all) {
    const std::uint64_t n = report.get(std::string("cycle ") + shape.label);
    if (n == 0) continue;
    mean += fmt::format("{}{} {:.1f}", mean.empty() ? "" : ", ", shape.label,
                        static_cast<double>(report.get(std::string("us ") + shape.label)) /
                            static_cast<double>(n) / 1000.0);
  }
  report.note("mean ms per cycle by shape: " + mean);
  report.note(
      fmt::format("{} cycles in {} passes of {} threads, {} queues opened and closed, {} "
                  "errors (bound: {:.0f} s or {} cycles)",
                  cycles.load(), pass, kThreads, report.get("queues opened"), report.get("errors"),
                  settings.seconds, budget.max()));
  const Baseline end = Baseline::take();
  report.note(fmt::format("descriptors {} -> {}, TUN/TAP devices {} -> {}, checked {} times",
                          start.fds, end.fds, start.devices.size(), end.devices.size(), checks));
  if (cycles.load() == 0) report.fail("no cycle ran");
}

}  // namespace tunkit::stress
