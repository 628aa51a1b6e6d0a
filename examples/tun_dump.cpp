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
// Where tunkit::pcap is built (libpcap), words after NAME are a tcpdump filter expression and
// -w FILE saves a capture: `sudo ./tun_dump vpn0 icmp -w pings.pcap`.
//
// Exit status: 0 done (count, timeout, SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#ifdef TUNKIT_EXAMPLE_HAVE_PCAP
#include <tunkit/pcap.hpp>
#endif

#include "common/dump.hpp"
#include "common/helpers.hpp"

namespace {

constexpr std::string_view kUsage = R"txt(usage: tun_dump [options] [NAME [EXPRESSION]]

Prints every packet the kernel sends into a TUN/TAP device, one line each like `tcpdump -n`.
When NAME is an existing TUN/TAP device, tun_dump attaches to it with the flags it has (a device
without multi-queue must not be held by another program). Otherwise it creates a device (NAME,
or "dump%d"), adds the --addr addresses and brings it up; it goes away when tun_dump exits.
The packets are consumed: nothing answers them.

EXPRESSION (with tunkit::pcap: the words after NAME, as tcpdump takes them) keeps only the
packets it accepts. On a device tun_dump created it runs in the kernel, since nobody else reads
that device: on TAP as a classic filter (TUNATTACHFILTER), on TUN translated into eBPF
(TUNSETFILTEREBPF), where tun_dump may load it (CAP_BPF; else it says so and filters here).
On a device it attached to it runs here: a device's filter applies to all its queues, other
programs' too.

options:
  --tap              create a TAP device (Ethernet frames) instead of TUN
  -a, --addr CIDR    an address for the device it creates, e.g. 10.9.0.1/24 (repeatable)
  -x, --hex          add a hex dump of each packet
  -w, --write FILE   save the packets in FILE (pcap format) instead of printing them
  -c, --count N      exit after N packets (default 0: no limit)
  -t, --timeout SEC  exit after SEC seconds (default 0: no limit)
  -h, --help         show this help

Prints "listening on NAME, MODE (FLAGS)" first and "N packets" last.
)txt";

struct Config {
  std::string name;
  bool tap = false;
  std::vector<tunkit::IpPrefix> addresses;
  bool hex = false;
  std::string expression;
  std::string write_to;
  unsigned long count = 0;
  unsigned long timeout_s = 0;
};

constexpr example::Program kProgram{"tun_dump", kUsage, ""};
using example::UsageError;

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "--tap") {
      cfg.tap = true;
    } else if (a == "-a" || a == "--addr") {
      cfg.addresses.push_back(args.prefix(a));
    } else if (a == "-x" || a == "--hex") {
      cfg.hex = true;
    } else if (a == "-c" || a == "--count") {
      cfg.count = args.number(a);
    } else if (a == "-t" || a == "--timeout") {
      cfg.timeout_s = args.number(a);
    } else if (a == "-w" || a == "--write") {
      cfg.write_to = args.value(a);
    } else if (a.starts_with('-')) {
      example::Args::unknown(a);
    } else if (cfg.name.empty()) {
      cfg.name = a;
    } else {
      cfg.expression += (cfg.expression.empty() ? "" : " ") + std::string(a);
    }
  }
#ifndef TUNKIT_EXAMPLE_HAVE_PCAP
  if (!cfg.expression.empty() || !cfg.write_to.empty()) {
    throw UsageError{"built without tunkit::pcap (libpcap): no EXPRESSION, no -w"};
  }
#endif
  return cfg;
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

#ifdef TUNKIT_EXAMPLE_HAVE_PCAP
  namespace pcap = tunkit::pcap;
  const pcap::LinkType link_type = tap ? pcap::LinkType::ethernet : pcap::LinkType::raw;
  // Compiled once; in the kernel only where no other reader is affected (a device made here).
  std::vector<tunkit::BpfInstruction> filter;
  if (!cfg.expression.empty()) filter = pcap::compile_filter(cfg.expression, link_type);
  if (!filter.empty() && created && tap) dev.attach_filter(filter);
  if (!filter.empty() && created && !tap) {
    // A TUN device takes the program as eBPF; the device keeps it, and goes away with us.
    std::error_code ec;
    const auto program = tunkit::EbpfFilter::load(filter, ec);
    if (!ec) dev.set_filter_ebpf(program.fd());
    if (ec)
      fmt::print(stderr, "tun_dump: filtering here: cannot load an eBPF filter: {}\n",
                 ec.message());
  }
  std::optional<pcap::Writer> writer;
  if (!cfg.write_to.empty()) writer.emplace(cfg.write_to, pcap::WriterOptions{.link = link_type});
#endif

  const example::StopOnSignal stop_on_signal(dev);
  fmt::print(cfg.write_to.empty() ? stdout : stderr, "listening on {}, {} ({})\n", dev.name(),
             dev.mode(), flags);

  const example::Deadline deadline{std::chrono::seconds(cfg.timeout_s)};
  // The largest packet (64 KiB IP, or a frame around it) plus the vnet header.
  std::vector<std::byte> buf(65536 + 64 + vnet);
  unsigned long seen = 0;
  while (cfg.count == 0 || seen < cfg.count) {
    std::error_code ec;
    const auto length = example::read_until(dev, deadline, buf, ec);
    if (!length) break;  // timeout or signal
    const std::size_t n = *length;
    if (ec == std::errc::resource_unavailable_try_again) continue;
    if (ec && ec != tunkit::errc::packet_truncated) {
      throw tunkit::Error(ec, fmt::format("tun_dump: read from {}: {}", dev.name(), ec.message()));
    }
#ifdef TUNKIT_EXAMPLE_HAVE_PCAP
    // The filter and the capture see the packet without the virtio-net header. Packets queued
    // before a kernel filter was attached are checked here too.
    const auto packet = std::span<const std::byte>(buf).first(n).subspan(std::min(vnet, n));
    if (!filter.empty() && !pcap::matches(filter, packet)) continue;
    if (writer) {
      writer->write(packet);
      ++seen;
      continue;
    }
#endif
    ++seen;
    // The views check every length once; the formatters print the tcpdump-like summary, and
    // "{:x}" adds the hex dump. A malformed packet prints as "[malformed ...: why]".
    example::print_packet(std::span<const std::byte>(buf).first(n), vnet, tap, cfg.hex,
                          ec == tunkit::errc::packet_truncated);
  }
#ifdef TUNKIT_EXAMPLE_HAVE_PCAP
  if (writer) writer->close();
#endif
  fmt::print(cfg.write_to.empty() ? stdout : stderr, "{} packet{}\n", seen, seen == 1 ? "" : "s");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
