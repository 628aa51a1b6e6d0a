// The reference forwarder of the data-plane benchmark (bench/netns_bench.py): what a plain TUN
// program achieves, so that every other forwarder's figures have a meaning. Deliberately the
// simplest thing that works, without tunkit: it attaches to two existing TUN devices and copies
// packets both ways, one read(2) and one write(2) per packet, one thread per direction (per queue).
//
// usage: tunkit_ref_forwarder [--vnet] [--mq] [--queues N] A B
//   --vnet      IFF_VNET_HDR, and the offloads CSUM, TSO4, TSO6, USO4, USO6 (without USO where the
//               kernel refuses it, before 6.2): 64 KiB super-packets and their virtio-net header
//               pass through unchanged, as they came
//   --mq        attach with IFF_MULTI_QUEUE (the devices must have been created multi_queue)
//   --queues N  N queues per device (implies --mq), a thread per direction per queue
//
// Prints "ready: A B ..." once attached; on SIGTERM or SIGINT, per direction, the packets it read,
// wrote and dropped (a write the kernel refused: a router drops the packet and goes on), then
// exits 0. A read that fails (other than EINTR) ends the program with status 1.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

// Debian 12's kernel headers (6.1) predate USO; the running kernel may have it (6.2 and later).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#define TUN_F_USO6 0x40
#endif

namespace {

struct Options {
  bool vnet = false;
  bool mq = false;
  int queues = 1;
  std::string a, b;
};

[[noreturn]] void die(const char* what, const std::string& device) {
  std::fprintf(stderr, "tunkit_ref_forwarder: %s %s: %s\n", what, device.c_str(),
               std::strerror(errno));
  std::exit(1);
}

int attach(const std::string& name, const Options& o) {
  const int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) die("open /dev/net/tun for", name);
  ifreq ifr{};
  short flags = IFF_TUN | IFF_NO_PI;
  if (o.vnet) flags |= IFF_VNET_HDR;
  if (o.mq) flags |= IFF_MULTI_QUEUE;
  ifr.ifr_flags = flags;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF", name);
  if (o.vnet) {
    // The header size stays the kernel's default (10 bytes, struct virtio_net_hdr) on both
    // devices, so a header read from one is valid for the other as it is.
    unsigned long offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6;
    if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) {
      offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
      if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) die("TUNSETOFFLOAD", name);
    }
  }
  return fd;
}

// One direction of one queue. The counters have one writer (the pump's thread) and one reader
// (the main thread, at the end): relaxed loads and stores, no read-modify-write on the hot path.
struct Pump {
  int in = -1;
  int out = -1;
  std::string from, to;
  std::atomic<std::uint64_t> read{0};
  std::atomic<std::uint64_t> written{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<int> first_error{0};
};

void bump(std::atomic<std::uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void run(Pump& p) {
  // 64 KiB super-packet + virtio-net header (and room to spare).
  std::vector<char> buf(65536 + 128);
  for (;;) {
    const ssize_t n = ::read(p.in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::fprintf(stderr, "tunkit_ref_forwarder: read %s: %s\n", p.from.c_str(),
                   n == 0 ? "end of file" : std::strerror(errno));
      std::exit(1);
    }
    bump(p.read);
    const ssize_t w = ::write(p.out, buf.data(), static_cast<std::size_t>(n));
    if (w == n) {
      bump(p.written);
    } else {
      // One write per packet, never retried: a refused write (EIO while the device is down,
      // EINVAL for a packet it does not accept) is a dropped packet, as in a router.
      if (p.first_error.load(std::memory_order_relaxed) == 0) {
        p.first_error.store(w < 0 ? errno : EMSGSIZE, std::memory_order_relaxed);
      }
      bump(p.dropped);
    }
  }
}

int usage() {
  std::fprintf(stderr, "usage: tunkit_ref_forwarder [--vnet] [--mq] [--queues N] A B\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--vnet") {
      o.vnet = true;
    } else if (arg == "--mq") {
      o.mq = true;
    } else if (arg == "--queues" && i + 1 < argc) {
      o.queues = std::atoi(argv[++i]);
      if (o.queues < 1 || o.queues > 256) return usage();
      o.mq = o.mq || o.queues > 1;
    } else if (arg == "-h" || arg == "--help") {
      usage();
      return 0;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "tunkit_ref_forwarder: unknown option %s\n", arg.c_str());
      return usage();
    } else {
      names.push_back(arg);
    }
  }
  if (names.size() != 2) return usage();
  o.a = names[0];
  o.b = names[1];

  // SIGTERM and SIGINT are taken by the main thread alone, with sigwait: blocked before the
  // pumps start, so they inherit the mask and are never interrupted.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  std::vector<Pump> pumps(2 * static_cast<std::size_t>(o.queues));
  for (std::size_t q = 0; q < static_cast<std::size_t>(o.queues); ++q) {
    const int a = attach(o.a, o);
    const int b = attach(o.b, o);
    Pump& ab = pumps[2 * q];
    Pump& ba = pumps[2 * q + 1];
    ab.in = a;
    ab.out = b;
    ab.from = o.a;
    ab.to = o.b;
    ba.in = b;
    ba.out = a;
    ba.from = o.b;
    ba.to = o.a;
  }
  std::printf("ready: %s %s queues %d vnet %s\n", o.a.c_str(), o.b.c_str(), o.queues,
              o.vnet ? "on" : "off");
  std::fflush(stdout);
  for (auto& p : pumps)
    std::thread([&p] { run(p); }).detach();

  int sig = 0;
  sigwait(&stop, &sig);
  // The pumps are still running (blocked in read, or between two counts): the figures are a
  // snapshot, exact to within the packets in flight at this instant.
  for (std::size_t i = 0; i < 2; ++i) {
    std::uint64_t r = 0, w = 0, d = 0;
    int err = 0;
    for (std::size_t q = i; q < pumps.size(); q += 2) {
      r += pumps[q].read.load(std::memory_order_relaxed);
      w += pumps[q].written.load(std::memory_order_relaxed);
      d += pumps[q].dropped.load(std::memory_order_relaxed);
      if (err == 0) err = pumps[q].first_error.load(std::memory_order_relaxed);
    }
    std::printf("%s -> %s: read %llu, written %llu, dropped %llu%s%s\n", pumps[i].from.c_str(),
                pumps[i].to.c_str(), static_cast<unsigned long long>(r),
                static_cast<unsigned long long>(w), static_cast<unsigned long long>(d),
                err != 0 ? ", first write error: " : "", err != 0 ? std::strerror(err) : "");
  }
  std::fflush(stdout);
  std::_Exit(0);  // the pumps never return; nothing to unwind
}
