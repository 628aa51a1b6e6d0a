// tap_responder: plays every other host of an IPv4 and an IPv6 subnet behind a TAP device.
//
// A TAP device carries Ethernet frames, so before the kernel sends a ping to 10.79.0.2 it asks
// who has that address (ARP; NDP neighbour solicitation for IPv6). tap_responder answers those
// with its own MAC address, then answers the pings, all with tunkit's packet views and builders
// (build_arp_reply, build_neighbor_advertisement, build_echo_reply), printing every frame.
//
//   unshare -n sh -c 'ip link set lo up; ./tap_responder --count 4 & sleep 1;
//                     ping -c 2 10.79.0.2; ping -6 -c 2 fd00:79::2; ip neigh; wait'
//
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>

namespace {

constexpr std::string_view kUsage = R"txt(usage: tap_responder [options]

Creates a TAP device with an IPv4 and an IPv6 prefix and brings it up. Then, for every other
address of those prefixes, it answers ARP requests and NDP neighbour solicitations with its own
MAC address, and answers ICMP and ICMPv6 echo requests (pings).

options:
  -n, --name NAME        interface name or template with one %d (default "tkresp%d")
  -4, --ipv4 ADDR/LEN    the device's IPv4 address and prefix (default 10.79.0.1/24)
  -6, --ipv6 ADDR/LEN    the device's IPv6 address and prefix (default fd00:79::1/64)
  -m, --mac MAC          the MAC address to answer with (default: a random local one)
  -c, --count N          exit after N echo replies (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "ready: NAME IPV4 IPV6 MAC" once configured, then "rx ..." for every frame received and
"tx ..." for every answer, and "done: N echo replies" at the end.
Exit status: 0 done, 1 runtime error, 2 usage error.
)txt";

struct Config {
  std::string name = "tkresp%d";
  tunkit::IpPrefix v4 = tunkit::IpPrefix::parse("10.79.0.1/24");
  tunkit::IpPrefix v6 = tunkit::IpPrefix::parse("fd00:79::1/64");
  tunkit::MacAddress mac = tunkit::MacAddress::random();
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
    if (a == "-n" || a == "--name") {
      cfg.name = value();
    } else if (a == "-4" || a == "--ipv4" || a == "-6" || a == "--ipv6") {
      const bool want_v4 = a == "-4" || a == "--ipv4";
      const std::string_view text = value();
      const auto p = tunkit::IpPrefix::try_parse(text);
      if (!p || p->address.is_v4() != want_v4) {
        throw UsageError{
            fmt::format("{}: \"{}\" is not an IPv{} ADDR/LEN", a, text, want_v4 ? 4 : 6)};
      }
      (want_v4 ? cfg.v4 : cfg.v6) = *p;
    } else if (a == "-m" || a == "--mac") {
      const std::string_view text = value();
      const auto mac = tunkit::MacAddress::try_parse(text);
      if (!mac || mac->is_multicast()) {
        throw UsageError{fmt::format("{}: \"{}\" is not a unicast MAC address", a, text)};
      }
      cfg.mac = *mac;
    } else if (a == "-c" || a == "--count") {
      cfg.count = number();
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = number();
    } else {
      throw UsageError{fmt::format("unknown option \"{}\"", a)};
    }
  }
  return cfg;
}

// True when the first `prefix.length` bits of `a` are the prefix's.
bool in_prefix(const tunkit::IpAddress& a, const tunkit::IpPrefix& prefix) {
  if (a.family() != prefix.address.family()) return false;
  const auto x = a.bytes();
  const auto y = prefix.address.bytes();
  unsigned bits = prefix.length;
  for (std::size_t i = 0; i < x.size() && bits > 0; ++i) {
    const unsigned n = bits >= 8 ? 8U : bits;
    const auto mask = static_cast<std::uint8_t>(0xFFU << (8U - n));
    if (((x[i] ^ y[i]) & mask) != 0) return false;
    bits -= n;
  }
  return true;
}

// The addresses this program stands for: in the prefix, not the device's own (that is the
// kernel's), not multicast, and for IPv4 subnets of 4 or more addresses not the network or
// broadcast address.
bool is_ours(const tunkit::IpAddress& a, const tunkit::IpPrefix& prefix) {
  if (!in_prefix(a, prefix) || a == prefix.address) return false;
  const auto b = a.bytes();
  if (a.is_v6()) return b[0] != 0xFF;
  if (prefix.length > 30) return true;
  const std::uint32_t v = (std::uint32_t{b[0]} << 24U) | (std::uint32_t{b[1]} << 16U) |
                          (std::uint32_t{b[2]} << 8U) | b[3];
  const std::uint32_t host = v & (0xFFFFFFFFU >> prefix.length);
  return host != 0 && host != (0xFFFFFFFFU >> prefix.length);
}

// Signals: the handler only calls interrupt(), which is async-signal-safe (an eventfd write).
std::atomic<tunkit::TunDevice*> g_device{nullptr};

extern "C" void on_signal(int /*signo*/) {
  if (tunkit::TunDevice* dev = g_device.load()) dev->interrupt();
}

// A TAP device runs IPv6 Duplicate Address Detection, which keeps a new address unusable for a
// second or so; accept_dad=0 (set before the address exists) skips it. Best effort: the file is
// per network namespace and may be read-only in a container.
void disable_dad(const std::string& ifname) {
  const std::string path = fmt::format("/proc/sys/net/ipv6/conf/{}/accept_dad", ifname);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0 || ::write(fd, "0", 1) != 1) {
    fmt::print(stderr, "note: could not disable IPv6 DAD on {} ({}); continuing\n", ifname,
               std::generic_category().message(errno));
  }
  if (fd >= 0) (void)::close(fd);
}

// Waits at most `budget` until the IPv6 address is no longer tentative (IFA_F_TENTATIVE, 0x40 in
// /proc/thread-self/net/if_inet6): until then the kernel will not use it as a source.
void wait_ipv6_usable(const tunkit::IpAddress& address, std::chrono::milliseconds budget) {
  std::string hex;
  for (const std::uint8_t b : address.bytes())
    fmt::format_to(std::back_inserter(hex), "{:02x}", b);
  const auto deadline = std::chrono::steady_clock::now() + budget;
  do {
    std::ifstream in("/proc/thread-self/net/if_inet6");
    std::string addr, index, length, scope, flags, name;
    while (in >> addr >> index >> length >> scope >> flags >> name) {
      if (addr == hex && (std::stoul(flags, nullptr, 16) & 0x40U) == 0) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < deadline);
  fmt::print(stderr, "note: {} is still tentative; continuing\n", address);
}

// What to answer to one frame: the reply's length in `out`, or nullopt. `echo` is set for echo
// replies (the ones --count counts).
std::optional<std::size_t> answer(const tunkit::Frame& frame, const Config& cfg,
                                  std::span<std::byte> out, bool& echo) {
  echo = false;
  if (const tunkit::ArpView* arp = frame.arp()) {
    if (arp->operation() != tunkit::ArpView::request || !is_ours(arp->target_ip(), cfg.v4)) {
      return std::nullopt;
    }
    const auto len = tunkit::build_arp_reply(frame, cfg.mac, out);
    return len ? std::optional(*len) : std::nullopt;
  }
  const tunkit::IpPacket* ip = frame.ip();
  if (ip == nullptr) return std::nullopt;
  if (const tunkit::Icmpv6View* icmp6 = ip->icmpv6()) {
    if (icmp6->type() == tunkit::Icmpv6Type::neighbor_solicitation) {
      const auto target = icmp6->nd_target();
      if (!target || !is_ours(*target, cfg.v6)) return std::nullopt;
      const auto len = tunkit::build_neighbor_advertisement(frame, cfg.mac, out);
      return len ? std::optional(*len) : std::nullopt;
    }
  }
  // Pings: to one of our addresses, and to our MAC address (frames to others are not ours).
  if (frame.ethernet().dst() != cfg.mac) return std::nullopt;
  if (!is_ours(ip->dst(), ip->version() == 4 ? cfg.v4 : cfg.v6)) return std::nullopt;
  const auto len = tunkit::build_echo_reply(frame, out);  // fails for anything but an echo request
  if (!len) return std::nullopt;
  echo = true;
  return *len;
}

int run(const Config& cfg) {
  const auto start = std::chrono::steady_clock::now();
  tunkit::Options options;
  options.name = cfg.name;
  options.mode = tunkit::Mode::tap;
  tunkit::TunDevice dev(options);
  disable_dad(dev.name());

  tunkit::Link link(dev.ifindex());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();
  wait_ipv6_usable(cfg.v6.address, std::chrono::seconds(3));

  g_device.store(&dev);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  fmt::print("ready: {} {} {} {}\n", dev.name(), cfg.v4, cfg.v6, cfg.mac);

  std::array<std::byte, 65536> in{};
  std::array<std::byte, 65536> out{};
  unsigned long echoes = 0;
  while (cfg.count == 0 || echoes < cfg.count) {
    std::chrono::milliseconds wait{-1};  // forever
    if (cfg.timeout_s != 0) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          start + std::chrono::seconds(cfg.timeout_s) - std::chrono::steady_clock::now());
      if (wait.count() <= 0) break;
    }
    if (dev.wait_readable(wait) != tunkit::WaitResult::ready) break;  // timeout or signal

    std::error_code ec;
    const std::size_t n = dev.read(in, ec);
    if (ec == tunkit::errc::interrupted) break;
    if (ec == std::errc::resource_unavailable_try_again || ec == tunkit::errc::packet_truncated) {
      continue;
    }
    if (ec) throw tunkit::Error(ec, fmt::format("read from {}: {}", dev.name(), ec.message()));

    const auto frame = tunkit::parse_frame(std::span<const std::byte>(in).first(n));
    fmt::print("rx {}\n", frame);  // "[malformed ...]" when it does not parse
    if (!frame) continue;
    bool echo = false;
    const auto len = answer(*frame, cfg, out, echo);
    if (!len) continue;
    const auto reply = std::span<const std::byte>(out).first(*len);
    dev.write(reply);
    if (echo) ++echoes;
    fmt::print("tx {}\n", tunkit::parse_frame(reply));
  }
  g_device.store(nullptr);
  fmt::print("done: {} echo repl{}\n", echoes, echoes == 1 ? "y" : "ies");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one log line at a time, even into a pipe
  std::optional<Config> cfg;
  try {
    cfg = parse_args(argc, argv);
  } catch (const UsageError& e) {
    fmt::print(stderr, "tap_responder: {}\nTry 'tap_responder --help'.\n", e.message);
    return 2;
  }
  if (!cfg) {
    fmt::print("{}", kUsage);
    return 0;
  }
  try {
    return run(*cfg);
  } catch (const tunkit::Error& e) {
    fmt::print(stderr, "tap_responder: {}\n", e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "tap_responder: unexpected error: {}\n", e.what());
  }
  return 1;
}
