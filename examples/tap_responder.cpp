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

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "common/helpers.hpp"
#include "common/responder.hpp"

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
)txt";

struct Config {
  std::string name = "tkresp%d";
  tunkit::IpPrefix v4 = tunkit::IpPrefix::parse("10.79.0.1/24");
  tunkit::IpPrefix v6 = tunkit::IpPrefix::parse("fd00:79::1/64");
  tunkit::MacAddress mac = tunkit::MacAddress::random();
  unsigned long count = 0;
  unsigned long timeout_s = 0;
};

constexpr example::Program kProgram{"tap_responder", kUsage};
using example::UsageError;

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-n" || a == "--name") {
      cfg.name = args.value(a);
    } else if (a == "-4" || a == "--ipv4") {
      cfg.v4 = args.prefix(a, 4);
    } else if (a == "-6" || a == "--ipv6") {
      cfg.v6 = args.prefix(a, 6);
    } else if (a == "-m" || a == "--mac") {
      const std::string_view text = args.value(a);
      const auto mac = tunkit::MacAddress::try_parse(text);
      if (!mac || mac->is_multicast()) {
        throw UsageError{fmt::format("{}: \"{}\" is not a unicast MAC address", a, text)};
      }
      cfg.mac = *mac;
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

// What to answer to one frame: the reply's length in `out`, or nullopt. `echo` is set for echo
// replies (the ones --count counts).
std::optional<std::size_t> answer(const tunkit::Frame& frame, const Config& cfg,
                                  std::span<std::byte> out, bool& echo) {
  echo = false;
  if (const tunkit::ArpView* arp = frame.arp()) {
    if (arp->operation() != tunkit::ArpView::request ||
        !example::is_ours(arp->target_ip(), cfg.v4)) {
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
      if (!target || !example::is_ours(*target, cfg.v6)) return std::nullopt;
      const auto len = tunkit::build_neighbor_advertisement(frame, cfg.mac, out);
      return len ? std::optional(*len) : std::nullopt;
    }
  }
  // Pings: to one of our addresses, and to our MAC address (frames to others are not ours).
  if (frame.ethernet().dst() != cfg.mac) return std::nullopt;
  if (!example::is_ours(ip->dst(), ip->version() == 4 ? cfg.v4 : cfg.v6)) return std::nullopt;
  const auto len = tunkit::build_echo_reply(frame, out);  // fails for anything but an echo request
  if (!len) return std::nullopt;
  echo = true;
  return *len;
}

int run(const Config& cfg) {
  const example::Deadline deadline{std::chrono::seconds(cfg.timeout_s)};
  tunkit::Options options;
  options.name = cfg.name;
  options.mode = tunkit::Mode::tap;
  tunkit::TunDevice dev(options);
  // A TAP device runs IPv6 Duplicate Address Detection, which keeps a new address unusable for a
  // second or so: skipped.
  example::disable_dad(dev.name());

  tunkit::Link link(dev.ifindex());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();
  if (!example::wait_ipv6_usable(cfg.v6.address, std::chrono::seconds(3))) {
    fmt::print(stderr, "note: {} is still tentative; continuing\n", cfg.v6.address);
  }

  const example::StopOnSignal stop_on_signal(dev);
  fmt::print("ready: {} {} {} {}\n", dev.name(), cfg.v4, cfg.v6, cfg.mac);

  std::array<std::byte, 65536> in{};
  std::array<std::byte, 65536> out{};
  unsigned long echoes = 0;
  while (cfg.count == 0 || echoes < cfg.count) {
    std::error_code ec;
    const auto length = example::read_until(dev, deadline, in, ec);
    if (!length) break;  // timeout or signal
    const std::size_t n = *length;
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
  fmt::print("done: {} echo repl{}\n", echoes, echoes == 1 ? "y" : "ies");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
