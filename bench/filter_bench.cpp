// A filter in the kernel against the same filter in user space (root: it makes its own network
// namespace): a TAP reader (or with --tun a TUN reader) wants one flow (`udp port 9`) out of a
// UDP flood in which one packet in `--every` is for that flow. With the filter attached (TAP:
// TUNATTACHFILTER, tunkit::pcap's program; TUN: the same program as eBPF, tunkit::EbpfFilter,
// TUNSETFILTEREBPF) the kernel drops the rest before the reader's queue; without it the reader
// reads everything and runs the same program on each packet (pcap::matches). Both modes run in
// alternating rounds of fixed length with the same sender; reported per mode: the wanted
// packets received per second, all packets the reader read, and the reader's CPU time.
//
//   ./bench/tunkit_filter_bench [--seconds 2] [--rounds 3] [--every 10] [--tun]
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tunkit/pcap.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double thread_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Round {
  std::uint64_t wanted = 0;  // packets of the wanted flow the reader got
  std::uint64_t read = 0;    // every packet it read
  double cpu = 0;            // the reader's CPU seconds
  double seconds = 0;
};

// Floods 10.77.0.2 with 64-byte UDP datagrams until `stop`: port 9 for one in `every`, else 7.
void flood(const std::atomic<bool>& stop, unsigned every) {
  const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) std::abort();
  sockaddr_in wanted{};
  wanted.sin_family = AF_INET;
  wanted.sin_port = htons(9);
  wanted.sin_addr.s_addr = htonl(0x0A4D0002);  // 10.77.0.2
  sockaddr_in other = wanted;
  other.sin_port = htons(7);
  const std::array<char, 64> payload{};
  for (unsigned i = 0; !stop.load(std::memory_order_relaxed); ++i) {
    const sockaddr_in& to = i % every == 0 ? wanted : other;
    (void)::sendto(s, payload.data(), payload.size(), MSG_DONTWAIT,
                   reinterpret_cast<const sockaddr*>(&to), sizeof to);
  }
  ::close(s);
}

// The kernel's filter on `dev`: the classic program on a TAP device, as eBPF on a TUN device.
void attach_kernel_filter(tunkit::TunDevice& dev, std::span<const tunkit::BpfInstruction> program) {
  if (dev.mode() == tunkit::Mode::tap) {
    dev.attach_filter(program);
  } else {
    dev.set_filter_ebpf(tunkit::EbpfFilter::load(program).fd());
  }
}

void detach_kernel_filter(tunkit::TunDevice& dev) {
  if (dev.mode() == tunkit::Mode::tap) {
    dev.detach_filter();
  } else {
    dev.set_filter_ebpf(-1);
  }
}

Round run_round(tunkit::TunDevice& dev, std::span<const tunkit::BpfInstruction> program,
                bool in_kernel, double seconds, unsigned every) {
  if (in_kernel) attach_kernel_filter(dev, program);
  std::atomic<bool> stop{false};
  std::thread sender(flood, std::cref(stop), every);
  Round r;
  std::array<std::byte, 2048> buf{};
  const double cpu0 = thread_cpu_seconds();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    pollfd p{dev.native_handle(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    for (int burst = 0; burst < 64; ++burst) {
      std::error_code ec;
      const std::size_t n = dev.read(buf, ec);
      if (ec) break;
      ++r.read;
      const auto frame = std::span<const std::byte>(buf).first(n);
      if (in_kernel || tunkit::pcap::matches(program, frame)) ++r.wanted;
    }
  }
  r.cpu = thread_cpu_seconds() - cpu0;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  sender.join();
  // Drain what is left, so that the next round starts empty.
  for (std::error_code ec; (void)dev.read(buf, ec), !ec;) {
  }
  if (in_kernel) detach_kernel_filter(dev);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 2;
  int rounds = 3;
  unsigned every = 10;
  bool tun = false;
  bool usage = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--tun") {
      tun = true;
    } else if (i + 1 < argc && a == "--seconds") {
      seconds = std::atof(argv[++i]);
    } else if (i + 1 < argc && a == "--rounds") {
      rounds = std::atoi(argv[++i]);
    } else if (i + 1 < argc && a == "--every") {
      every = static_cast<unsigned>(std::atoi(argv[++i]));
    } else {
      usage = true;
    }
  }
  if (usage || seconds <= 0 || rounds <= 0 || every == 0) {
    std::fputs("usage: tunkit_filter_bench [--seconds S] [--rounds N] [--every K] [--tun]\n",
               stderr);
    return 2;
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (run as root)");
    return 1;
  }
  const tunkit::Mode mode = tun ? tunkit::Mode::tun : tunkit::Mode::tap;
  tunkit::TunDevice dev({.name = "fb0", .mode = mode, .non_blocking = true});
  tunkit::Link link(dev.ifindex());
  link.configure({.addresses = {tunkit::IpPrefix::parse("10.77.0.1/24")}, .up = true});
  if (!tun && std::system("ip neigh replace 10.77.0.2 lladdr 02:00:00:00:00:02 dev fb0 nud "
                          "permanent") != 0) {
    return 1;
  }
  while (!link.state().running)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto program = tunkit::pcap::compile_filter(
      "udp port 9", tun ? tunkit::pcap::LinkType::raw : tunkit::pcap::LinkType::ethernet);
  std::array<std::vector<Round>, 2> results;
  for (int i = 0; i < rounds; ++i) {
    for (const bool kernel : {true, false})
      results[kernel ? 0 : 1].push_back(run_round(dev, program, kernel, seconds, every));
  }
  fmt::print("{:<22} {:>14} {:>14} {:>12} {:>16}\n", "filter", "wanted pkt/s", "read pkt/s",
             "reader CPU", "CPU us/wanted");
  for (const bool kernel : {true, false}) {
    Round sum;
    for (const Round& r : results[kernel ? 0 : 1]) {
      sum.wanted += r.wanted;
      sum.read += r.read;
      sum.cpu += r.cpu;
      sum.seconds += r.seconds;
    }
    fmt::print("{:<22} {:>14.0f} {:>14.0f} {:>11.0f}% {:>16.2f}\n",
               kernel ? (tun ? "in the kernel (eBPF)" : "in the kernel") : "in user space",
               static_cast<double>(sum.wanted) / sum.seconds,
               static_cast<double>(sum.read) / sum.seconds, 100 * sum.cpu / sum.seconds,
               sum.wanted == 0 ? 0.0 : 1e6 * sum.cpu / static_cast<double>(sum.wanted));
  }
  return 0;
}
