// tun_dump: prints every packet that the kernel sends into a TUN or TAP device, one line each,
// like `tcpdump -n`, with tunkit's packet views and fmt formatters.
//
// A TUN/TAP device has no capture point of its own: its user-space end *is* the reader. So
// tun_dump attaches to an existing device as that reader (with the flags the device has, read
// over rtnetlink), or creates one; either way the packets are consumed and nothing answers them.
//
//   sudo ip tuntap add dev vpn0 mode tun && sudo ip addr add 10.9.0.1/24 dev vpn0 &&
//   sudo ip link set vpn0 up
//   sudo ./tun_dump vpn0 &  ping -c 2 10.9.0.2
//
//   unshare -n sh -c './tun_dump --addr 10.9.0.1/24 --count 2 & sleep 0.5; ping -c 2 10.9.0.2'
//
// Exit status: 0 done (count, timeout, SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace {

constexpr std::string_view kUsage = R"txt(usage: tun_dump [options] [NAME]

Prints every packet the kernel sends into a TUN/TAP device, one line each like `tcpdump -n`.
When NAME is an existing TUN/TAP device, tun_dump attaches to it with the flags it has (a device
without multi-queue must not be held by another program). Otherwise it creates a device (NAME,
or "dump%d"), adds the --addr addresses and brings it up; it goes away when tun_dump exits.
The packets are consumed: nothing answers them.

options:
  --tap              create a TAP device (Ethernet frames) instead of TUN
  -a, --addr CIDR    an address for the device it creates, e.g. 10.9.0.1/24 (repeatable)
  -x, --hex          add a hex dump of each packet
  -c, --count N      exit after N packets (default 0: no limit)
  -t, --timeout SEC  exit after SEC seconds (default 0: no limit)
  -h, --help         show this help

Prints "listening on NAME, MODE (FLAGS)" first and "N packets" last.
Exit status: 0 done, 1 runtime error, 2 usage error.
)txt";

struct Config {
  std::string name;
  bool tap = false;
  std::vector<tunkit::IpPrefix> addresses;
  bool hex = false;
  unsigned long count = 0;
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
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) throw UsageError{fmt::format("option {} needs a value", a)};
      return argv[++i];
    };
    auto number = [&]() {
      const std::string_view text = value();
      const auto v = to_number(text);
      if (!v) throw UsageError{fmt::format("{}: \"{}\" is not a number", a, text)};
      return *v;
    };
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "--tap") {
      cfg.tap = true;
    } else if (a == "-a" || a == "--addr") {
      const std::string_view text = value();
      const auto p = tunkit::IpPrefix::try_parse(text);
      if (!p) throw UsageError{fmt::format("{}: \"{}\" is not ADDRESS/LENGTH", a, text)};
      cfg.addresses.push_back(*p);
    } else if (a == "-x" || a == "--hex") {
      cfg.hex = true;
    } else if (a == "-c" || a == "--count") {
      cfg.count = number();
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = number();
    } else if (a.starts_with('-') || !cfg.name.empty()) {
      throw UsageError{fmt::format("unexpected argument \"{}\"", a)};
    } else {
      cfg.name = a;
    }
  }
  return cfg;
}

// The signal handler's only job: TunDevice::interrupt() is async-signal-safe (an eventfd write).
std::atomic<tunkit::TunDevice*> g_device{nullptr};

extern "C" void on_signal(int /*signo*/) {
  if (tunkit::TunDevice* dev = g_device.load()) dev->interrupt();
}

// "HH:MM:SS.uuuuuu" in local time, as tcpdump starts its lines.
std::string timestamp() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm local{};
  ::localtime_r(&ts.tv_sec, &local);
  return fmt::format("{:02}:{:02}:{:02}.{:06}", local.tm_hour, local.tm_min, local.tm_sec,
                     ts.tv_nsec / 1000);
}

// With IFF_VNET_HDR each packet starts with a virtio-net header (virtio 1.0: little-endian);
// a super-packet (GSO) says so there: "gso tcpv4 size 1448, ".
std::string vnet_note(std::span<const std::byte> h) {
  if (h.size() < 10) return {};
  const auto b = [&](std::size_t i) { return std::to_integer<unsigned>(h[i]); };
  const unsigned gso_type = b(1) & 0x7FU;  // without VIRTIO_NET_HDR_GSO_ECN
  if (gso_type == 0) return {};
  static constexpr std::array<std::string_view, 6> kTypes{"none", "tcpv4", "?",
                                                          "udp",  "tcpv6", "udp_l4"};
  return fmt::format("gso {} size {}, ", gso_type < kTypes.size() ? kTypes[gso_type] : "?",
                     b(4) | (b(5) << 8U));
}

// Attaches to the existing device `name` with its own flags, or creates one.
tunkit::TunDevice open_device(const Config& cfg, bool& created) {
  auto absent = [&] {
    try {
      (void)tunkit::Link::from_name(cfg.name);
      return false;
    } catch (const tunkit::Error&) {
      return true;
    }
  };
  if (!cfg.name.empty() && cfg.name.find('%') == std::string::npos) {
    if (const auto info = tunkit::find_tun_device(cfg.name)) {
      if (cfg.tap && info->mode != tunkit::Mode::tap) {
        fmt::print(stderr, "tun_dump: note: {} exists and is a TUN device; --tap ignored\n",
                   cfg.name);
      }
      created = false;
      // The device's own flags: TUNSETIFF on an existing device replaces them otherwise.
      return tunkit::TunDevice(info->attach_options());
    }
    if (!absent())
      throw std::runtime_error(fmt::format("\"{}\" is not a TUN/TAP device", cfg.name));
  }
  tunkit::Options options;
  options.name = cfg.name.empty() ? "dump%d" : cfg.name;
  options.mode = cfg.tap ? tunkit::Mode::tap : tunkit::Mode::tun;
  options.exclusive = true;  // a name taken by another kind of interface is an error
  tunkit::TunDevice dev(options);
  tunkit::Link link(dev.ifindex());
  for (const auto& p : cfg.addresses)
    link.add_address(p);
  link.set_up();
  created = true;
  return dev;
}

int run(const Config& cfg) {
  bool created = false;
  tunkit::TunDevice dev = open_device(cfg, created);
  if (!created && !cfg.addresses.empty()) {
    fmt::print(stderr, "tun_dump: note: {} exists; --addr ignored\n", dev.name());
  }
  const tunkit::Flags flags = dev.flags();
  const bool tap = dev.mode() == tunkit::Mode::tap;
  const std::size_t vnet =
      flags.has(tunkit::Flag::vnet_hdr) ? static_cast<std::size_t>(dev.vnet_header_size()) : 0;

  g_device.store(&dev);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  fmt::print("listening on {}, {} ({})\n", dev.name(), dev.mode(), flags);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.timeout_s);
  // The largest packet (64 KiB IP, or a frame around it) plus the vnet header.
  std::vector<std::byte> buf(65536 + 64 + vnet);
  unsigned long seen = 0;
  while (cfg.count == 0 || seen < cfg.count) {
    std::chrono::milliseconds wait{-1};  // forever
    if (cfg.timeout_s != 0) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (wait.count() <= 0) break;
    }
    if (dev.wait_readable(wait) != tunkit::WaitResult::ready) break;  // timeout or signal

    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    if (ec == tunkit::errc::interrupted) break;
    if (ec == std::errc::resource_unavailable_try_again) continue;
    if (ec && ec != tunkit::errc::packet_truncated) {
      throw tunkit::Error(ec, fmt::format("tun_dump: read from {}: {}", dev.name(), ec.message()));
    }
    ++seen;
    const auto all = std::span<const std::byte>(buf).first(n);
    const auto head = all.first(std::min(vnet, all.size()));
    const auto packet = all.subspan(head.size());

    // The views check every length once; the formatters print the tcpdump-like summary, and
    // "{:x}" adds the hex dump. A malformed packet prints as "[malformed ...: why]".
    std::string line;
    bool parsed = false;
    if (tap) {
      const auto frame = tunkit::parse_frame(packet);
      parsed = frame.has_value();
      line = cfg.hex && parsed ? fmt::format("{:x}", *frame) : fmt::format("{}", frame);
    } else {
      const auto ip = tunkit::parse_ip(packet);
      parsed = ip.has_value();
      line = cfg.hex && parsed ? fmt::format("{:x}", *ip) : fmt::format("{}", ip);
    }
    fmt::print("{} {}{}{}\n", timestamp(), vnet_note(head), line,
               ec == tunkit::errc::packet_truncated ? " [truncated]" : "");
    if (cfg.hex && !parsed && !packet.empty()) fmt::print("{:x}\n", tunkit::hex_dump(packet));
    std::fflush(stdout);
  }
  g_device.store(nullptr);
  fmt::print("{} packet{}\n", seen, seen == 1 ? "" : "s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one line at a time, even into a pipe
  std::optional<Config> cfg;
  try {
    cfg = parse_args(argc, argv);
  } catch (const UsageError& e) {
    fmt::print(stderr, "tun_dump: {}\nTry 'tun_dump --help'.\n", e.message);
    return 2;
  }
  if (!cfg) {
    fmt::print("{}", kUsage);
    return 0;
  }
  try {
    return run(*cfg);
  } catch (const tunkit::Error& e) {
    fmt::print(stderr, "tun_dump: {}\n", e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "tun_dump: {}\n", e.what());
  }
  return 1;
}
