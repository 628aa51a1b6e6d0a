// ping_responder: answers pings for a whole subnet from user space, through a TUN device.
//
// It creates a TUN interface, gives it an IPv4 and an IPv6 prefix with tunkit::Link, brings it
// up, and then answers every ICMP echo request (IPv4) and ICMPv6 echo request that the kernel
// routes into the device: any address of the two prefixes except the device's own, which the
// kernel answers itself (those packets never reach the TUN). Each packet it sees is printed.
//
//   sudo ./ping_responder --count 6 &
//   ping -c 3 10.77.0.2 && ping -6 -c 3 fd00:77::2
//
// Or without touching the host's interfaces, in a throw-away network namespace:
//
//   unshare -n bash -c 'ip link set lo up; ./ping_responder --count 6 & sleep 1;
//                       ping -c 3 -W 1 10.77.0.2; ping -6 -c 3 -W 1 fd00:77::2; wait'
//
// The packet code (IPv4, IPv6, ICMP, checksums) is deliberately self-contained here; the log
// lines use tunkit's tcpdump-like formatters (<tunkit/format.hpp>), as tun_dump does.
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "common/helpers.hpp"
#include "common/responder.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: ping_responder [options]

Creates a TUN device, assigns it an IPv4 and an IPv6 prefix, brings it up, and answers ICMP and
ICMPv6 echo requests sent to any other address in those prefixes.

options:
  -n, --name NAME        interface name or template with one %d (default "tunkit%d")
  -4, --ipv4 ADDR/LEN    the device's IPv4 address and prefix (default 10.77.0.1/24)
  -6, --ipv6 ADDR/LEN    the device's IPv6 address and prefix (default fd00:77::1/64)
  -c, --count N          exit after N replies (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "ready: NAME IPV4 IPV6" once the device is configured, then one line per packet, as
tcpdump -n prints it, after "rx" (received) or "tx" (the reply), and "done: N replies" at the end.
)";

struct Config {
  std::string name = "tunkit%d";
  tunkit::IpPrefix v4 = tunkit::IpPrefix::parse("10.77.0.1/24");
  tunkit::IpPrefix v6 = tunkit::IpPrefix::parse("fd00:77::1/64");
  unsigned long count = 0;               // 0: unlimited
  std::chrono::milliseconds timeout{0};  // 0: unlimited
};

constexpr example::Program kProgram{"ping_responder", kUsage};
using example::UsageError;

// ---------------------------------------------------------------------------------------------
// Command line

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  auto number = [](std::string_view text, std::string_view opt) {
    const std::string s(text);
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !(v >= 0) || v > 1e9) {
      throw UsageError{fmt::format("{}: \"{}\" is not a non-negative number", opt, text)};
    }
    return v;
  };
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view arg = args.next();
    if (arg == "-h" || arg == "--help") return std::nullopt;
    if (arg == "-n" || arg == "--name") {
      cfg.name = args.value(arg);
    } else if (arg == "-4" || arg == "--ipv4") {
      cfg.v4 = args.prefix(arg, 4);
    } else if (arg == "-6" || arg == "--ipv6") {
      cfg.v6 = args.prefix(arg, 6);
    } else if (arg == "-c" || arg == "--count") {
      const double n = number(args.value(arg), arg);
      if (n != static_cast<double>(static_cast<unsigned long>(n))) {
        throw UsageError{fmt::format("{}: not a whole number", arg)};
      }
      cfg.count = static_cast<unsigned long>(n);
    } else if (arg == "-t" || arg == "--timeout") {
      cfg.timeout =
          std::chrono::milliseconds(static_cast<long long>(number(args.value(arg), arg) * 1000));
    } else {
      example::Args::unknown(arg);
    }
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Packet helpers. Everything on the wire is big-endian ("network order").

std::uint8_t get8(std::span<const std::byte> p, std::size_t at) {
  return std::to_integer<std::uint8_t>(p[at]);
}
std::uint16_t get16(std::span<const std::byte> p, std::size_t at) {
  return static_cast<std::uint16_t>((get8(p, at) << 8U) | get8(p, at + 1));
}
void put16(std::span<std::byte> p, std::size_t at, std::uint16_t v) {
  p[at] = static_cast<std::byte>(v >> 8U);
  p[at + 1] = static_cast<std::byte>(v & 0xFFU);
}

// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit
// words. `sum_words` accumulates; `fold` finishes.
std::uint32_t sum_words(std::span<const std::byte> data, std::uint32_t acc = 0) {
  std::size_t i = 0;
  for (; i + 1 < data.size(); i += 2)
    acc += get16(data, i);
  if (i < data.size()) acc += static_cast<std::uint32_t>(get8(data, i)) << 8U;  // odd length
  return acc;
}
std::uint16_t fold(std::uint32_t acc) {
  while ((acc >> 16U) != 0)
    acc = (acc & 0xFFFFU) + (acc >> 16U);
  return static_cast<std::uint16_t>(~acc & 0xFFFFU);
}

tunkit::IpAddress address_at(std::span<const std::byte> p, std::size_t at, bool v6) {
  if (!v6)
    return tunkit::IpAddress::v4({get8(p, at), get8(p, at + 1), get8(p, at + 2), get8(p, at + 3)});
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = get8(p, at + i);
  return tunkit::IpAddress::v6(b);
}

// What a packet is, for the log line and for the decision to answer it.
struct Parsed {
  bool v6 = false;
  tunkit::IpAddress src;
  tunkit::IpAddress dst;
  std::size_t ip_header = 0;  // bytes before the ICMP/ICMPv6 message
  std::size_t length = 0;     // the IP packet's own length (may be less than what was read)
  std::uint8_t protocol = 0;  // IPv4 protocol / IPv6 next header
  bool echo_request = false;
  std::uint16_t id = 0;
  std::uint16_t seq = 0;
};

// Parses an IPv4 or IPv6 header and, for ICMP(v6) echo requests, the id and sequence number.
// Returns nullopt for anything that is not a well-formed IP packet.
std::optional<Parsed> parse(std::span<const std::byte> p) {
  if (p.empty()) return std::nullopt;
  Parsed out;
  const unsigned version = get8(p, 0) >> 4U;
  if (version == 4) {
    if (p.size() < 20) return std::nullopt;
    out.ip_header = static_cast<std::size_t>(get8(p, 0) & 0x0FU) * 4;
    out.length = get16(p, 2);
    if (out.ip_header < 20 || out.length < out.ip_header || out.length > p.size()) {
      return std::nullopt;
    }
    out.protocol = get8(p, 9);
    out.src = address_at(p, 12, false);
    out.dst = address_at(p, 16, false);
    // Fragments carry no complete ICMP message: flags MF or a fragment offset mean "not ours".
    const bool fragment = (get16(p, 6) & 0x3FFFU) != 0;
    out.echo_request = !fragment && out.protocol == 1 && out.length - out.ip_header >= 8 &&
                       get8(p, out.ip_header) == 8 && get8(p, out.ip_header + 1) == 0;
  } else if (version == 6) {
    if (p.size() < 40) return std::nullopt;
    out.v6 = true;
    out.ip_header = 40;
    out.length = 40 + std::size_t{get16(p, 4)};
    if (out.length > p.size()) return std::nullopt;
    // Only ICMPv6 directly after the fixed header; extension headers are not walked here.
    out.protocol = get8(p, 6);
    out.src = address_at(p, 8, true);
    out.dst = address_at(p, 24, true);
    out.echo_request = out.protocol == 58 && out.length - out.ip_header >= 8 &&
                       get8(p, out.ip_header) == 128 && get8(p, out.ip_header + 1) == 0;
  } else {
    return std::nullopt;
  }
  if (out.echo_request) {
    out.id = get16(p, out.ip_header + 4);
    out.seq = get16(p, out.ip_header + 6);
  }
  return out;
}

// A packet in one line as `tcpdump -n` prints it ("IP 10.77.0.1 > 10.77.0.2: ICMP echo request,
// id 7, seq 1, length 64"; "[malformed ...]" when it does not parse): the fmt formatters of
// <tunkit/format.hpp>, which tun_dump and `tunkit dump` print with too.
std::string describe(std::span<const std::byte> p) {
  return fmt::format("{}", tunkit::parse_ip(p));
}

// Turns the echo request in `p` (already parsed as `pk`) into its reply, in place: swap the
// addresses, set the reply type, reset TTL/hop limit, recompute the checksums.
void make_reply(const Parsed& pk, std::span<std::byte> p) {
  const std::size_t addr_at = pk.v6 ? 8 : 12;
  const std::size_t addr_len = pk.v6 ? 16 : 4;
  for (std::size_t i = 0; i < addr_len; ++i)
    std::swap(p[addr_at + i], p[addr_at + addr_len + i]);
  const auto icmp = p.subspan(pk.ip_header, pk.length - pk.ip_header);
  icmp[0] = static_cast<std::byte>(pk.v6 ? 129 : 0);  // echo reply
  put16(icmp, 2, 0);
  if (pk.v6) {
    p[7] = std::byte{64};  // hop limit
    // ICMPv6 covers a pseudo-header (RFC 8200 section 8.1): source, destination, upper-layer
    // length (32 bits), three zero bytes and the next-header value 58.
    std::uint32_t acc = sum_words(p.subspan(8, 32));
    const auto upper_len = static_cast<std::uint32_t>(icmp.size());
    acc += (upper_len >> 16U) + (upper_len & 0xFFFFU);
    acc += 58;
    put16(icmp, 2, fold(sum_words(icmp, acc)));
  } else {
    p[8] = std::byte{64};                   // TTL
    put16(icmp, 2, fold(sum_words(icmp)));  // ICMP (RFC 792): the message only
    put16(p, 10, 0);
    put16(p, 10, fold(sum_words(p.first(pk.ip_header))));  // IPv4 header checksum
  }
}

int run(const Config& cfg) {
  const example::Deadline deadline{cfg.timeout};
  tunkit::Options options;  // defaults: TUN, no packet-information header, blocking I/O
  options.name = cfg.name;
  tunkit::TunDevice dev(options);
  // A TUN is IFF_NOARP, for which the kernel already skips Duplicate Address Detection, but
  // saying so explicitly keeps the program correct if that changes.
  example::disable_dad(dev.name());  // before the address exists, so it never is tentative

  tunkit::Link link(dev.ifindex());
  link.configure({.addresses = {cfg.v4, cfg.v6}, .up = true});  // all or nothing
  if (!example::wait_ipv6_usable(cfg.v6.address, std::chrono::seconds(3))) {
    fmt::print(stderr, "note: {} is still tentative after 3 s; continuing\n",
               cfg.v6.address.to_string());
  }

  // SIGINT and SIGTERM interrupt the device; the guard stops that before `dev` goes, on every
  // exit path (a write that throws included), so a late signal never reaches a destroyed device.
  const example::StopOnSignal stop_on_signal(dev);
  fmt::print("ready: {} {} {}\n", dev.name(), cfg.v4.to_string(), cfg.v6.to_string());
  std::fflush(stdout);

  std::array<std::byte, 65536> buf{};  // the largest IP packet (without jumbograms)
  unsigned long replies = 0;
  while (cfg.count == 0 || replies < cfg.count) {
    std::error_code ec;
    const auto length = example::read_until(dev, deadline, buf, ec);
    if (!length) break;  // timeout, or SIGINT / SIGTERM
    const std::size_t n = *length;
    if (ec == tunkit::errc::packet_truncated) continue;  // cannot happen at 64 KiB; skip it
    if (ec) throw tunkit::Error(ec, fmt::format("read from {}: {}", dev.name(), ec.message()));

    const std::span<std::byte> packet(buf.data(), n);
    fmt::print("rx {} B  {}\n", n, describe(packet));
    const auto pk = parse(packet);
    if (!pk) continue;
    if (!pk->echo_request || !example::is_ours(pk->dst, pk->v6 ? cfg.v6 : cfg.v4)) continue;

    const auto reply = packet.first(pk->length);
    make_reply(*pk, reply);
    dev.write(reply);
    ++replies;
    fmt::print("tx {} B  {}\n", reply.size(), describe(reply));
    std::fflush(stdout);
  }
  fmt::print("done: {} repl{}\n", replies, replies == 1 ? "y" : "ies");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
