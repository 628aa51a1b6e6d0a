// UDP load generator and counter of the data-plane benchmark (bench/netns_bench.py), which runs
// the receiver in one namespace and the sender in the other. Unlike iperf3's UDP mode, the sender
// holds a fixed offered rate (so a loss curve can be drawn) and the receiver only counts.
//
//   tunkit_udp_load send --to IP:PORT [--size N] [--rate PPS] [--seconds S] [--gso N]
//                        [--batch N] [--json]
//     datagrams of N payload bytes (default 64) at PPS datagrams/s (0, the default: as fast as
//     possible) for S seconds (default 2). A time-based pacer: at any instant the datagrams due
//     are rate x elapsed; they go out in sendmmsg(2) batches of --batch datagrams (by default
//     rate/20000, 1..64: a call every 50 us at most). A sender that falls more than 2 ms behind
//     (no CPU) skips what it owes instead of sending a burst, and says how many it skipped.
//     --gso N: UDP_SEGMENT (USO), each message N datagrams of the size, segmented by the kernel
//     (or by a device with USO); the counts stay in datagrams.
//   tunkit_udp_load recv --bind IP:PORT [--seconds S] [--idle S] [--gro] [--rcvbuf BYTES] [--json]
//     counts datagrams and payload bytes received (recvmmsg(2)) until S seconds have passed
//     (default 10) or, once the first has come, none has come for --idle seconds (default 0.5).
//     Prints "ready IP:PORT" once bound. --gro: UDP_GRO on the socket (a buffer then holds several
//     datagrams, counted from the segment size the kernel gives); --rcvbuf: the receive buffer,
//     set with SO_RCVBUFFORCE where allowed (default 8 MiB), so that the receiver is not where
//     datagrams are lost.
//
// Prints the counts as one line of JSON (--json) or as plain text. Exit status 0, 1 on a failure
// to set up, 2 on a usage error. SIGTERM or SIGINT end either mode early with the counts so far.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

double now_s() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void sleep_until(double t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t);
  ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
  clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "tunkit_udp_load: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int usage() {
  std::fprintf(stderr,
               "usage: tunkit_udp_load send --to IP:PORT [--size N] [--rate PPS] [--seconds S]\n"
               "                            [--gso N] [--batch N] [--json]\n"
               "       tunkit_udp_load recv --bind IP:PORT [--seconds S] [--idle S] [--gro]\n"
               "                            [--rcvbuf BYTES] [--json]\n");
  return 2;
}

bool parse_endpoint(const std::string& s, sockaddr_in& sa) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  sa = sockaddr_in{};
  sa.sin_family = AF_INET;
  const long port = std::strtol(s.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) return false;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  return inet_pton(AF_INET, s.substr(0, colon).c_str(), &sa.sin_addr) == 1;
}

// SO_RCVBUFFORCE/SO_SNDBUFFORCE exceed net.core.[rw]mem_max (CAP_NET_ADMIN); the plain option
// where that is refused.
void set_buffer(int fd, int force, int plain, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof bytes) < 0) {
    (void)setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof bytes);
  }
}

struct Args {
  std::string mode, endpoint;
  int size = 64;
  double rate = 0;
  double seconds = -1;
  double idle = 0.5;
  int gso = 0;
  int batch = 0;
  bool gro = false;
  int rcvbuf = 8 << 20;
  bool json = false;
};

int send_mode(const Args& a) {
  sockaddr_in to{};
  if (!parse_endpoint(a.endpoint, to)) return usage();
  const int per_msg = a.gso > 0 ? a.gso : 1;
  if (a.size < 1 || a.size * per_msg > 65507 || per_msg > 64) {
    std::fprintf(stderr, "tunkit_udp_load: --size x --gso must be at most 65507 bytes, --gso 64\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) fail("connect");
  if (a.gso > 0) {
    const int seg = a.size;
    if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, sizeof seg) < 0) fail("UDP_SEGMENT");
  }

  // Datagrams per call: a call every 50 us at most when paced; 64 (or 8 super-messages)
  // unpaced.
  int batch = a.batch;
  if (batch <= 0) {
    batch = a.rate > 0 ? std::clamp(static_cast<int>(a.rate / 20000), 1, 64) : 64;
    if (a.gso > 0 && a.rate <= 0) batch = 8 * per_msg;
  }
  const int msgs_per_call = std::max(1, batch / per_msg);
  const std::uint64_t per_call = static_cast<std::uint64_t>(msgs_per_call * per_msg);

  std::vector<char> payload(static_cast<std::size_t>(a.size) * static_cast<std::size_t>(per_msg));
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('a' + i % 26);
  iovec iov{payload.data(), payload.size()};
  std::vector<mmsghdr> msgs(static_cast<std::size_t>(msgs_per_call));
  for (auto& m : msgs) {
    m = mmsghdr{};
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }

  (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);  // sleeps of tens of microseconds
  const double seconds = a.seconds >= 0 ? a.seconds : 2.0;
  const double start = now_s();
  const double end = start + seconds;
  std::uint64_t sent = 0, skipped = 0, calls = 0, errors = 0;
  int first_error = 0;
  // At most this many datagrams owed: beyond, the pacer skips ahead rather than burst.
  const double max_debt = std::max(a.rate * 0.002, 2.0 * static_cast<double>(per_call));
  double t = start;
  while (!g_stop && (t = now_s()) < end) {
    std::size_t n = msgs.size();
    if (a.rate > 0) {
      const double due = a.rate * (t - start) - static_cast<double>(sent + skipped);
      if (due < static_cast<double>(per_call)) {
        // The next batch is due when rate x elapsed reaches it.
        const double at = start + static_cast<double>(sent + skipped + per_call) / a.rate;
        sleep_until(std::min(at, end));
        continue;
      }
      if (due > max_debt) skipped += static_cast<std::uint64_t>(due - max_debt);
    }
    const int k = sendmmsg(fd, msgs.data(), static_cast<unsigned>(n), 0);
    ++calls;
    if (k < 0) {
      if (errno == EINTR) continue;
      // ECONNREFUSED (an ICMP error from an earlier datagram), ENOBUFS: counted, not fatal.
      if (first_error == 0) first_error = errno;
      ++errors;
      if (a.rate > 0) skipped += per_call;  // the pacer moves on
      continue;
    }
    sent += static_cast<std::uint64_t>(k) * static_cast<std::uint64_t>(per_msg);
    if (a.rate > 0 && static_cast<std::size_t>(k) < n) {
      skipped += (n - static_cast<std::size_t>(k)) * static_cast<std::uint64_t>(per_msg);
    }
  }
  const double elapsed = std::min(now_s(), end) - start;
  const std::uint64_t bytes = sent * static_cast<std::uint64_t>(a.size);
  if (a.json) {
    std::printf(
        "{\"mode\":\"send\",\"sent\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"rate\":%.0f,"
        "\"size\":%d,\"gso\":%d,\"batch\":%llu,\"calls\":%llu,\"skipped\":%llu,\"errors\":%llu,"
        "\"first_error\":\"%s\"}\n",
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(bytes), elapsed,
        a.rate, a.size, a.gso, static_cast<unsigned long long>(per_call),
        static_cast<unsigned long long>(calls), static_cast<unsigned long long>(skipped),
        static_cast<unsigned long long>(errors), first_error ? std::strerror(first_error) : "");
  } else {
    std::printf(
        "sent %llu datagrams (%llu bytes) in %.3f s: %.0f/s; %llu skipped, %llu errors%s%s\n",
        static_cast<unsigned long long>(sent), static_cast<unsigned long long>(bytes), elapsed,
        elapsed > 0 ? static_cast<double>(sent) / elapsed : 0.0,
        static_cast<unsigned long long>(skipped), static_cast<unsigned long long>(errors),
        first_error ? ", first: " : "", first_error ? std::strerror(first_error) : "");
  }
  return 0;
}

int recv_mode(const Args& a) {
  sockaddr_in at{};
  if (!parse_endpoint(a.endpoint, at)) return usage();
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, a.rcvbuf);
  if (a.gro) {
    const int on = 1;
    if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0) fail("UDP_GRO");
  }
  // recvmmsg's own timeout is checked only after a datagram; SO_RCVTIMEO bounds every wait, so
  // the deadline and the idle time are looked at every 20 ms at least.
  const timeval tick{0, 20000};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) < 0) fail("SO_RCVTIMEO");
  if (bind(fd, reinterpret_cast<const sockaddr*>(&at), sizeof at) < 0) fail("bind");
  std::printf("ready %s\n", a.endpoint.c_str());
  std::fflush(stdout);

  const std::size_t vlen = a.gro ? 32 : 64;
  const std::size_t bufsize = a.gro ? 65536 : 2048;
  std::vector<char> bufs(vlen * bufsize);
  std::vector<iovec> iovs(vlen);
  std::vector<mmsghdr> msgs(vlen);
  constexpr std::size_t kCtl = CMSG_SPACE(sizeof(int));
  std::vector<char> ctl(vlen * kCtl);
  const double seconds = a.seconds >= 0 ? a.seconds : 10.0;
  const double start = now_s();
  double first = 0, last = 0;
  std::uint64_t datagrams = 0, bytes = 0, buffers = 0, calls = 0;
  while (!g_stop) {
    for (std::size_t i = 0; i < vlen; ++i) {
      iovs[i] = iovec{bufs.data() + i * bufsize, bufsize};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      if (a.gro) {
        msgs[i].msg_hdr.msg_control = ctl.data() + i * kCtl;
        msgs[i].msg_hdr.msg_controllen = kCtl;
      }
    }
    const int k = recvmmsg(fd, msgs.data(), static_cast<unsigned>(vlen), MSG_WAITFORONE, nullptr);
    const double t = now_s();
    if (k > 0) {
      ++calls;
      if (datagrams == 0) first = t;
      last = t;
      for (int i = 0; i < k; ++i) {
        const auto len = static_cast<std::uint64_t>(msgs[static_cast<std::size_t>(i)].msg_len);
        std::uint64_t segs = 1;
        if (a.gro) {
          // A GRO buffer: several datagrams of gso_size bytes (the last may be shorter).
          msghdr& h = msgs[static_cast<std::size_t>(i)].msg_hdr;
          for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
              int gso_size = 0;
              std::memcpy(&gso_size, CMSG_DATA(c), sizeof gso_size);
              if (gso_size > 0) {
                const auto g = static_cast<std::uint64_t>(gso_size);
                segs = (len + g - 1) / g;
              }
            }
          }
        }
        datagrams += segs;
        bytes += len;
        ++buffers;
      }
    } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail("recvmmsg");
    }
    if (t - start >= seconds) break;
    if (datagrams > 0 && t - last >= a.idle) break;
  }
  const double span = datagrams > 0 ? last - first : 0.0;
  if (a.json) {
    std::printf(
        "{\"mode\":\"recv\",\"datagrams\":%llu,\"bytes\":%llu,\"buffers\":%llu,\"calls\":%llu,"
        "\"seconds\":%.6f,\"gro\":%s}\n",
        static_cast<unsigned long long>(datagrams), static_cast<unsigned long long>(bytes),
        static_cast<unsigned long long>(buffers), static_cast<unsigned long long>(calls), span,
        a.gro ? "true" : "false");
  } else {
    std::printf("received %llu datagrams (%llu bytes, %llu buffers) in %.3f s\n",
                static_cast<unsigned long long>(datagrams), static_cast<unsigned long long>(bytes),
                static_cast<unsigned long long>(buffers), span);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string opt = argv[i];
    const bool has_value = i + 1 < argc;
    if ((opt == "--to" || opt == "--bind") && has_value) {
      a.endpoint = argv[++i];
    } else if (opt == "--size" && has_value) {
      a.size = std::atoi(argv[++i]);
    } else if (opt == "--rate" && has_value) {
      a.rate = std::atof(argv[++i]);
    } else if (opt == "--seconds" && has_value) {
      a.seconds = std::atof(argv[++i]);
    } else if (opt == "--idle" && has_value) {
      a.idle = std::atof(argv[++i]);
    } else if (opt == "--gso" && has_value) {
      a.gso = std::atoi(argv[++i]);
    } else if (opt == "--batch" && has_value) {
      a.batch = std::atoi(argv[++i]);
    } else if (opt == "--rcvbuf" && has_value) {
      a.rcvbuf = std::atoi(argv[++i]);
    } else if (opt == "--gro") {
      a.gro = true;
    } else if (opt == "--json") {
      a.json = true;
    } else {
      return usage();
    }
  }
  if (a.endpoint.empty() || a.rate < 0 || !std::isfinite(a.rate)) return usage();
  // No SA_RESTART: a blocked sendmmsg/recvmmsg/clock_nanosleep returns EINTR and the loop ends.
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  if (a.mode == "send") return send_mode(a);
  if (a.mode == "recv") return recv_mode(a);
  return usage();
}
