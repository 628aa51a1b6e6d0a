// forwarder: joins two existing TUN devices; every packet read from one is written to the other.
//
// It is the candidate of tunkit's data-plane benchmark (../shared/bench/netns-bench.sh): the
// harness creates two persistent devices (`ip tuntap add ... mode tun [vnet_hdr] [multi_queue]`),
// starts `forwarder [options] A B`, moves the devices into two namespaces and measures TCP and
// UDP through it. So the forwarder attaches with the flags the devices were created with (read
// over rtnetlink: tunkit::find_tun_device), keeps working after the devices change namespace (an
// open descriptor follows its device), and runs until SIGTERM.
//
//   ip tuntap add dev fwa mode tun; ip tuntap add dev fwb mode tun
//   ./forwarder fwa fwb &
//   ... move fwa and fwb into namespaces, address them, route between them ...
//
// One thread per direction per queue; each waits in poll(2) (Queue::wait_readable), then moves
// packets one read + one write each until the kernel has no more (EAGAIN). SIGTERM/SIGINT call
// TunDevice::interrupt(), which wakes every thread; they return and the counters are printed.
//
// Exit status: 0 done (SIGINT/SIGTERM or timeout), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

constexpr std::string_view kUsage = R"txt(usage: forwarder [options] A B

Joins two existing TUN devices A and B: every packet read from one is written to the other,
until SIGINT or SIGTERM. It attaches with the flags the devices were created with
(`ip tuntap add dev A mode tun [vnet_hdr] [multi_queue]`).

options:
  -q, --queues N     attach N queues to each device (1..256, default 1; more than one needs
                     devices created multi_queue), with one thread per direction per queue
  --vnet             IFF_VNET_HDR: a virtio-net header before each packet (set on both devices)
  --offload          --vnet, and ask the kernel for offloads (checksum, TSO, USO): 64 KiB
                     super-packets pass through unchanged instead of MTU-sized packets
  -t, --timeout SEC  exit after SEC seconds (default 0: no limit)
  -h, --help         show this help

Prints "ready: A B ..." once attached and per-direction counters at the end.
Exit status: 0 done, 1 runtime error, 2 usage error.
)txt";

struct Config {
  std::string a;
  std::string b;
  unsigned queues = 1;
  bool vnet = false;
  bool offload = false;
  unsigned long timeout_s = 0;
};

struct UsageError {
  std::string message;
};

std::optional<unsigned long> to_number(std::string_view text) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  unsigned long v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  return v;
}

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  std::vector<std::string_view> names;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto number = [&]() {
      if (i + 1 >= argc) throw UsageError{fmt::format("option {} needs a value", a)};
      const std::string_view text = argv[++i];
      const auto v = to_number(text);
      if (!v) throw UsageError{fmt::format("{}: \"{}\" is not a number", a, text)};
      return *v;
    };
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-q" || a == "--queues") {
      const unsigned long q = number();
      if (q < 1 || q > tunkit::max_queues) throw UsageError{"--queues must be 1..256"};
      cfg.queues = static_cast<unsigned>(q);
    } else if (a == "--vnet") {
      cfg.vnet = true;
    } else if (a == "--offload") {
      cfg.vnet = true;
      cfg.offload = true;
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = number();
    } else if (a.starts_with('-')) {
      throw UsageError{fmt::format("unknown option \"{}\"", a)};
    } else {
      names.push_back(a);
    }
  }
  if (names.size() != 2) throw UsageError{"expected two device names, A and B"};
  if (names[0] == names[1]) throw UsageError{"A and B must be two different devices"};
  cfg.a = names[0];
  cfg.b = names[1];
  return cfg;
}

// Signals: the handler sets a flag and calls interrupt(), both async-signal-safe.
std::atomic<bool> g_stop{false};
std::array<std::atomic<tunkit::TunDevice*>, 2> g_devices{};

void stop_all() noexcept {
  g_stop.store(true);
  for (auto& d : g_devices) {
    if (tunkit::TunDevice* dev = d.load()) dev->interrupt();
  }
}

extern "C" void on_signal(int /*signo*/) {
  stop_all();
}

// Attaches `queues` queues to the existing TUN device `name` with its own flags (plus the vnet
// header when asked for).
tunkit::TunDevice attach(const std::string& name, const Config& cfg) {
  const auto info = tunkit::find_tun_device(name);
  if (!info) {
    throw std::runtime_error(fmt::format(
        "no TUN device \"{}\": create it first (ip tuntap add dev {} mode tun)", name, name));
  }
  if (cfg.queues > 1 && !info->multi_queue) {
    throw std::runtime_error(fmt::format(
        "--queues {} needs a multi-queue device; \"{}\" is not (ip tuntap add ... multi_queue)",
        cfg.queues, name));
  }
  tunkit::Options options = info->attach_options();
  options.vnet_hdr = options.vnet_hdr || cfg.vnet;
  options.queues = cfg.queues;
  options.non_blocking = true;  // read() says EAGAIN; the threads wait in wait_readable()
  return tunkit::TunDevice(options);
}

/// What one direction of one queue moved.
struct Stats {
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t largest = 0;  // the largest packet (with its vnet header): > MTU with offloads
  std::uint64_t dropped = 0;  // the other side refused it (down, no carrier) or it was too long
  std::string error;          // why the direction stopped, when not by a signal
};

// Moves packets from `in` to `out` until interrupted.
void pump(tunkit::Queue& in, tunkit::Queue& out, Stats& stats) {
  // 64 KiB (the largest IP packet, and the largest super-packet the tun driver makes) plus
  // the vnet header; one buffer per thread, allocated once.
  std::vector<std::byte> buf(65536 + 256);
  constexpr int kBatch = 64;  // then poll again, so that a stop is seen promptly
  while (!g_stop.load(std::memory_order_relaxed)) {
    std::error_code ec;
    const tunkit::WaitResult w = in.wait_readable(std::chrono::milliseconds(-1), ec);
    if (w == tunkit::WaitResult::interrupted) return;
    if (ec) {
      stats.error = fmt::format("wait on {}: {}", in.name(), ec.message());
      return;
    }
    for (int i = 0; i < kBatch; ++i) {
      const std::size_t n = in.read(buf, ec);
      if (ec == std::errc::resource_unavailable_try_again) break;
      if (ec == tunkit::errc::interrupted) return;
      if (ec == tunkit::errc::packet_truncated) {
        ++stats.dropped;
        continue;
      }
      if (ec) {
        stats.error = fmt::format("read from {}: {}", in.name(), ec.message());
        return;
      }
      // One read, one write: the packet (and its vnet header) goes through unchanged.
      out.write(std::span<const std::byte>(buf).first(n), ec);
      if (ec == std::errc::bad_file_descriptor ||
          (ec.category() == std::system_category() && ec.value() == EBADFD)) {
        stats.error = fmt::format("write to {}: {}", out.name(), ec.message());
        return;  // the device was deleted
      }
      if (ec) {
        ++stats.dropped;  // EIO while the other side is down, ...
        continue;
      }
      ++stats.packets;
      stats.bytes += n;
      stats.largest = std::max<std::uint64_t>(stats.largest, n);
    }
  }
}

int run(const Config& cfg) {
  tunkit::TunDevice a = attach(cfg.a, cfg);
  tunkit::TunDevice b = attach(cfg.b, cfg);
  if (a.mode() != b.mode()) throw std::runtime_error("A and B must both be TUN (or both TAP)");
  const bool vnet = a.flags().has(tunkit::Flag::vnet_hdr);
  if (vnet && a.vnet_header_size() != b.vnet_header_size()) {
    b.set_vnet_header_size(a.vnet_header_size());  // headers pass through: same layout both sides
  }
  std::string offload = "off";
  if (cfg.offload) {
    // With checksum and TSO/USO offloads the kernel hands over (and accepts) 64 KiB
    // super-packets described by the virtio-net header instead of MTU-sized ones. set_offloads
    // drops what an older kernel refuses (USO before 6.2) and returns what was granted.
    using tunkit::Offload;
    const tunkit::Offloads wanted =
        Offload::csum | Offload::tso4 | Offload::tso6 | Offload::uso4 | Offload::uso6;
    const tunkit::Offloads granted = a.set_offloads(wanted) & b.set_offloads(wanted);
    offload = tunkit::to_string(granted);
  }

  g_devices[0].store(&a);
  g_devices[1].store(&b);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  const std::size_t queues = a.queue_count();
  std::vector<Stats> a_to_b(queues);
  std::vector<Stats> b_to_a(queues);
  std::vector<std::thread> threads;
  for (std::size_t q = 0; q < queues; ++q) {
    threads.emplace_back([&, q] {
      pump(a.queue(q), b.queue(q), a_to_b[q]);
      if (!a_to_b[q].error.empty()) stop_all();  // a broken direction ends the forwarder
    });
    threads.emplace_back([&, q] {
      pump(b.queue(q), a.queue(q), b_to_a[q]);
      if (!b_to_a[q].error.empty()) stop_all();
    });
  }
  fmt::print("ready: {} {} queues {} vnet {} offload {}\n", a.name(), b.name(), queues,
             vnet ? "on" : "off", offload);
  std::fflush(stdout);

  if (cfg.timeout_s != 0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.timeout_s);
    while (!g_stop.load() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop_all();
  }
  for (auto& t : threads)
    t.join();
  g_devices[0].store(nullptr);
  g_devices[1].store(nullptr);

  int status = 0;
  auto report = [&](const std::string& from, const std::string& to, const std::vector<Stats>& s) {
    Stats total;
    for (const auto& x : s) {
      total.packets += x.packets;
      total.bytes += x.bytes;
      total.dropped += x.dropped;
      total.largest = std::max(total.largest, x.largest);
      if (!x.error.empty()) {
        fmt::print(stderr, "forwarder: {}\n", x.error);
        status = 1;
      }
    }
    fmt::print("{} -> {}: {} packets, {} bytes, largest {}, dropped {}\n", from, to, total.packets,
               total.bytes, total.largest, total.dropped);
  };
  report(a.name(), b.name(), a_to_b);
  report(b.name(), a.name(), b_to_a);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one log line at a time, even into a pipe
  std::optional<Config> cfg;
  try {
    cfg = parse_args(argc, argv);
  } catch (const UsageError& e) {
    fmt::print(stderr, "forwarder: {}\nTry 'forwarder --help'.\n", e.message);
    return 2;
  }
  if (!cfg) {
    fmt::print("{}", kUsage);
    return 0;
  }
  try {
    return run(*cfg);
  } catch (const tunkit::Error& e) {
    fmt::print(stderr, "forwarder: {}\n", e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "forwarder: {}\n", e.what());
  }
  return 1;
}
