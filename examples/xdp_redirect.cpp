// xdp_redirect: a TUN reader fed by XDP. Packets for the TUN's prefix that arrive on another
// interface (a veth whose peer is in another namespace, a NIC) are taken off that interface by
// an XDP program and redirected straight into the TUN device, before the IP stack sees them: no
// routing lookup, no forwarding, no netfilter. With --stack the same traffic takes the ordinary
// path instead (the kernel forwards it to the TUN by its route), for comparison.
//
// The XDP program is eight lines of eBPF built here from an instruction array and loaded with the
// bpf(2) syscall (tunkit does not compile programs); tunkit::Link attaches it to --from and
// detaches it at exit. It passes everything that is not IPv4 for the prefix (ARP, IPv6, the
// interface's own traffic), strips the Ethernet header (a TUN carries bare IP packets) and
// redirects to the TUN's ifindex.
//
// A TUN device cannot take redirected frames in native mode: its driver has no ndo_xdp_xmit
// (only TAP devices do; measured: a native-mode program on a veth that redirects to a TUN drops
// every packet and counts it as an rx drop on the veth). The program therefore runs in generic
// mode, which redirects the packet as a socket buffer through the TUN's transmit path.
//
//   # namespace S: veth v0 10.88.0.1/24, route 10.89.0.0/24 via 10.88.0.2
//   # namespace R: veth v1 10.88.0.2/24, ip_forward=1 (for --stack)
//   ip netns exec R ./xdp_redirect --from v1 --prefix 10.89.0.1/24 --timeout 10 &
//   ip netns exec S ping -c 3 10.89.0.7        # counted by the reader, never answered
//
// Exit status: 0 done (count reached, timeout, or SIGINT/SIGTERM), 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <tunkit/tunkit.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/helpers.hpp"
#include "common/responder.hpp"

namespace {

constexpr std::string_view kUsage = R"(usage: xdp_redirect --from DEV [options]
       xdp_redirect --stack [options]

Creates a TUN device with an IPv4 prefix, brings it up, and counts the IPv4 packets that reach
it for other addresses of the prefix. With --from, an XDP program on DEV redirects such packets
from DEV straight into the TUN (generic mode: a TUN takes no native-mode redirects); with
--stack, no program is attached and the kernel forwards them to the TUN by its route (the
namespace needs net.ipv4.ip_forward=1).

options:
  -f, --from DEV         the interface whose XDP program redirects into the TUN
  -s, --stack            attach no program: the traffic goes through the IP stack
  -n, --name NAME        TUN name or template with one %d (default "xdptun%d")
  -p, --prefix ADDR/LEN  the TUN's IPv4 address and prefix (default 10.89.0.1/24)
  -c, --count N          exit after N packets (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "ready: NAME via xdp on DEV" (or "via the stack") once the device is up and the program
attached, then "done: N packets, B bytes, R packets/s" (R from the first packet to the last).
)";

struct Config {
  std::optional<std::string> from;  // none: --stack
  bool stack = false;
  std::string name = "xdptun%d";
  tunkit::IpPrefix prefix = tunkit::IpPrefix::parse("10.89.0.1/24");
  unsigned long count = 0;               // 0: unlimited
  std::chrono::milliseconds timeout{0};  // 0: unlimited
};

constexpr example::Program kProgram{"xdp_redirect", kUsage};
using example::UsageError;

std::optional<Config> parse_args(int argc, char** argv) {
  Config cfg;
  for (example::Args args(argc, argv); !args.done();) {
    const std::string_view arg = args.next();
    if (arg == "-h" || arg == "--help") return std::nullopt;
    if (arg == "-f" || arg == "--from") {
      cfg.from = std::string(args.value(arg));
    } else if (arg == "-s" || arg == "--stack") {
      cfg.stack = true;
    } else if (arg == "-n" || arg == "--name") {
      cfg.name = args.value(arg);
    } else if (arg == "-p" || arg == "--prefix") {
      cfg.prefix = args.prefix(arg, 4);
    } else if (arg == "-c" || arg == "--count") {
      cfg.count = args.number(arg);
    } else if (arg == "-t" || arg == "--timeout") {
      cfg.timeout = std::chrono::seconds(args.number(arg));
    } else {
      example::Args::unknown(arg);
    }
  }
  if (cfg.stack == cfg.from.has_value()) {
    throw UsageError{"give either --from DEV or --stack"};
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// The XDP program, as eBPF instructions (the encoding of <linux/bpf.h>, as the kernel's
// samples write them with macros).

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
              std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xFU;
  i.src_reg = src & 0xFU;
  i.off = off;
  i.imm = imm;
  return i;
}

// The four address bytes as the program loads them: a 32-bit load of bytes in network order,
// compared in the machine's own order (eBPF runs in the host's byte order).
std::int32_t as_loaded(const std::array<std::uint8_t, 4>& bytes) {
  std::uint32_t v = 0;
  std::memcpy(&v, bytes.data(), sizeof v);
  return static_cast<std::int32_t>(v);
}

// if (data + 34 > data_end) pass;                 Ethernet (14) + IPv4 header up to its destination
// if (eth.type != htons(ETH_P_IP)) pass;
// if ((ip.daddr & mask) != net) pass;
// bpf_xdp_adjust_head(ctx, 14);                   the TUN takes the IP packet without Ethernet
// return bpf_redirect(tun_ifindex, 0);
// pass: return XDP_PASS;
std::vector<bpf_insn> redirect_program(unsigned tun_ifindex, const tunkit::IpPrefix& prefix) {
  std::array<std::uint8_t, 4> net{};
  std::array<std::uint8_t, 4> mask{};
  const auto bytes = prefix.address.bytes();
  for (unsigned i = 0; i < 4; ++i) {
    const unsigned length = prefix.length;
    const unsigned bits = length > i * 8 ? std::min(8U, length - i * 8) : 0;
    mask[i] = static_cast<std::uint8_t>(0xFF00U >> bits);
    net[i] = static_cast<std::uint8_t>(bytes[i] & mask[i]);
  }
  constexpr std::uint8_t r0 = 0, r1 = 1, r2 = 2, r3 = 3, r4 = 4, r5 = 5, r6 = 6;
  std::vector<bpf_insn> p;
  std::vector<std::size_t> to_pass;                              // jumps to patch
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, r6, r1, 0, 0));  // r6 = ctx
  p.push_back(insn(BPF_LDX | BPF_MEM | BPF_W, r2, r1, 0, 0));    // r2 = ctx->data
  p.push_back(insn(BPF_LDX | BPF_MEM | BPF_W, r3, r1, 4, 0));    // r3 = ctx->data_end
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, r4, r2, 0, 0));
  p.push_back(insn(BPF_ALU64 | BPF_ADD | BPF_K, r4, 0, 0, 34));
  to_pass.push_back(p.size());
  p.push_back(insn(BPF_JMP | BPF_JGT | BPF_X, r4, r3, 0, 0));   // too short: pass
  p.push_back(insn(BPF_LDX | BPF_MEM | BPF_H, r5, r2, 12, 0));  // EtherType
  to_pass.push_back(p.size());
  p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, r5, 0, 0, as_loaded({0x08, 0x00, 0, 0})));
  p.push_back(insn(BPF_LDX | BPF_MEM | BPF_W, r5, r2, 30, 0));  // IPv4 destination
  p.push_back(insn(BPF_ALU | BPF_AND | BPF_K, r5, 0, 0, as_loaded(mask)));
  to_pass.push_back(p.size());
  p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, r5, 0, 0, as_loaded(net)));
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, r1, r6, 0, 0));
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, r2, 0, 0, 14));
  p.push_back(insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_xdp_adjust_head));
  to_pass.push_back(p.size());
  p.push_back(insn(BPF_JMP | BPF_JNE | BPF_K, r0, 0, 0, 0));  // adjust failed: pass
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, r1, 0, 0, static_cast<std::int32_t>(tun_ifindex)));
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, r2, 0, 0, 0));
  p.push_back(insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect));
  p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  const std::size_t pass = p.size();
  p.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_K, r0, 0, 0, XDP_PASS));
  p.push_back(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
  for (const std::size_t at : to_pass)
    p[at].off = static_cast<std::int16_t>(pass - at - 1);
  return p;
}

// Loads `program` as an XDP program; the verifier's log is in the error when it refuses.
example::Fd load_xdp(const std::vector<bpf_insn>& program) {
  static constexpr char kLicense[] = "MIT";
  std::vector<char> log(16384);
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_XDP;
  attr.insns = reinterpret_cast<std::uintptr_t>(program.data());
  attr.insn_cnt = static_cast<std::uint32_t>(program.size());
  attr.license = reinterpret_cast<std::uintptr_t>(kLicense);
  attr.log_buf = reinterpret_cast<std::uintptr_t>(log.data());
  attr.log_size = static_cast<std::uint32_t>(log.size());
  attr.log_level = 1;
  const long fd = ::syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  if (fd < 0) {
    const int err = errno;
    throw std::system_error(err, std::generic_category(),
                            fmt::format("bpf(BPF_PROG_LOAD) of the XDP program: {}", log.data()));
  }
  return example::Fd(static_cast<int>(fd));
}

// Detaches the program it attached, on every exit path.
class AttachedXdp {
 public:
  AttachedXdp(tunkit::Link& link, int prog_fd) : link_(link) {
    link_.attach_xdp(prog_fd, tunkit::XdpAttachMode::generic);
  }
  AttachedXdp(const AttachedXdp&) = delete;
  AttachedXdp& operator=(const AttachedXdp&) = delete;
  ~AttachedXdp() {
    std::error_code ec;
    link_.detach_xdp(ec);
    if (ec) fmt::print(stderr, "xdp_redirect: detach: {}\n", ec.message());
  }

 private:
  tunkit::Link& link_;
};

// An IPv4 packet for an address of the prefix other than the TUN's own.
bool counted(std::span<const std::byte> p, const tunkit::IpPrefix& prefix) {
  if (p.size() < 20 || (std::to_integer<unsigned>(p[0]) >> 4U) != 4) return false;
  const tunkit::IpAddress dst = tunkit::IpAddress::v4(
      {std::to_integer<std::uint8_t>(p[16]), std::to_integer<std::uint8_t>(p[17]),
       std::to_integer<std::uint8_t>(p[18]), std::to_integer<std::uint8_t>(p[19])});
  return example::is_ours(dst, prefix);
}

int run(const Config& cfg) {
  const example::Deadline deadline{cfg.timeout};
  tunkit::TunDevice dev({.name = cfg.name, .non_blocking = true});
  tunkit::Link tun_link(dev.ifindex());
  tun_link.configure({.addresses = {cfg.prefix}, .up = true});

  std::optional<tunkit::Link> from;
  example::Fd program;
  std::optional<AttachedXdp> attached;
  if (cfg.from) {
    from.emplace(tunkit::Link::from_name(*cfg.from));
    program = load_xdp(redirect_program(dev.ifindex(), cfg.prefix));
    attached.emplace(*from, program.get());
  }

  const example::StopOnSignal stop_on_signal(dev);
  if (cfg.from) {
    fmt::print("ready: {} via xdp on {}\n", dev.name(), *cfg.from);
  } else {
    fmt::print("ready: {} via the stack\n", dev.name());
  }
  std::fflush(stdout);

  std::array<std::byte, 65536> buf{};
  unsigned long packets = 0;
  unsigned long long bytes = 0;
  std::chrono::steady_clock::time_point first{};
  std::chrono::steady_clock::time_point last{};
  while (cfg.count == 0 || packets < cfg.count) {
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);  // non-blocking: drain, then wait
    if (ec == std::errc::resource_unavailable_try_again) {
      const auto wait = deadline.left();
      if (!wait || dev.wait_readable(*wait) != tunkit::WaitResult::ready) break;
      continue;
    }
    if (ec == tunkit::errc::interrupted) break;
    if (ec == tunkit::errc::packet_truncated) continue;
    if (ec) throw tunkit::Error(ec, fmt::format("read from {}: {}", dev.name(), ec.message()));
    if (!counted(std::span<const std::byte>(buf.data(), n), cfg.prefix)) continue;
    last = std::chrono::steady_clock::now();
    if (packets == 0) first = last;
    ++packets;
    bytes += n;
  }
  const double seconds = std::chrono::duration<double>(last - first).count();
  const double rate = packets > 1 && seconds > 0 ? static_cast<double>(packets - 1) / seconds : 0;
  fmt::print("done: {} packets, {} bytes, {:.0f} packets/s\n", packets, bytes, rate);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run_main(kProgram, argc, argv, parse_args, run);
}
