// Reading a flood of small packets out of a TUN queue: one read(2) per packet, tunkit's io_uring
// chain, or one IORING_OP_READ_MULTISHOT over a provided-buffer ring (issue 17, "Also": does
// multishot earn a place in BatchIo?).
//
// Needs root: the process unshares a network namespace of its own (nothing leaves it), makes a
// TUN device there (IFF_NO_PI, blocking) holding 10.94.0.1/24, and a sender thread floods 64-byte
// UDP datagrams to 10.94.0.2:9 with sendmmsg(2); the route sends them into the device, where one
// reader thread takes them with each mode in turn:
//
//   loop       BatchIo, BatchBackend::loop: read(2) per packet until EAGAIN, then poll(2)
//   uring      BatchIo, BatchBackend::uring: per call, a poll gate and a hard-linked chain of
//              readv(2) with RWF_NOWAIT, in one io_uring_enter
//   multishot  IORING_OP_READ_MULTISHOT armed once over a ring of provided buffers (buffer group
//              0); the reader waits for completions, counts a packet per CQE, gives the buffers
//              back, and arms again when a CQE comes without IORING_CQE_F_MORE
//   ms-defer   the same on a ring made with IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN (the
//              kernel runs the read's task work only when the reader waits, not by interrupting
//              it)
//
// Every mode gets the same time, on a fresh device, in interleaved rounds (drift spreads over all
// of them). Per run: packets read per second, packets per wake-up (per read_batch call, or per
// non-empty harvest of CQEs), the reader thread's CPU (CLOCK_THREAD_CPUTIME_ID) as % of a core and
// ns per packet, what the kernel dropped because the reader was slow (the device's tx_dropped,
// over rtnetlink: /sys/class/net shows the host's namespace here), and the sender's rate. The
// table gives the median of the rounds, and the CPU the rest of the machine took meanwhile
// ("foreign", from /proc/stat: other processes; a run where it is high was disturbed). On 2 cores
// the sender and the reader each take one (pinned, unless --no-pin) and the kernel's transmit path
// into the device runs on the sender's.
//
//   tunkit_uring_read_bench [--seconds S] [--rounds N] [--modes loop,uring,multishot,ms-defer]
//                           [--rates 0,PPS,...] [--buffers N] [--no-pin] [--verbose]
//
// --rates: offered packets/s, each a table of its own (0, the default: flood). A flood measures
// the most a mode reads, but it is a closed loop: the sender pays for waking the reader (an IPI,
// costly in a VM), so a reader that sleeps more slows the sender; and a reader that never
// sleeps lets the sender fill the TUN queue, where every failed enqueue touches the cache lines
// the reader consumes from. Fixed offered rates below every mode's limit compare CPU per packet
// at equal work, and the drops show where each mode starts to lose packets.
#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "tunkit/batch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"

namespace {

using Clock = std::chrono::steady_clock;

enum class Mode : std::uint8_t { loop, uring, multishot, ms_defer };

constexpr std::string_view name_of(Mode m) noexcept {
  switch (m) {
    case Mode::loop:
      return "loop";
    case Mode::uring:
      return "uring";
    case Mode::multishot:
      return "multishot";
    case Mode::ms_defer:
      return "ms-defer";
  }
  return "?";
}

struct Config {
  double seconds = 3.0;
  unsigned rounds = 3;
  std::vector<Mode> modes{Mode::loop, Mode::uring, Mode::multishot, Mode::ms_defer};
  std::vector<std::uint64_t> rates{0};  // sender packets/s, one table each; 0: flood
  // Provided buffers of the multishot modes: more than the TUN queue holds (txqueuelen 500), or a
  // wake-up that finds it full runs out of buffers (ENOBUFS ends the read until it is re-armed).
  unsigned buffers = 1024;
  bool pin = true;
  bool verbose = false;
};

constexpr std::size_t kPayload = 64;      // UDP payload: 92-byte IPv4 packets in the TUN
constexpr std::size_t kSlot = 2048;       // every mode reads into 2048-byte buffers
constexpr std::size_t kBatch = 64;        // BatchIo max_packets, sendmmsg batch
constexpr std::uint64_t kMultishot = 1;   // user_data of the multishot read
constexpr std::uint64_t kCancel = 2;      // user_data of its cancellation
constexpr int kReadMultishotOpcode = 49;  // IORING_OP_READ_MULTISHOT (Linux 6.7)
constexpr unsigned kBufferGroup = 0;

std::uint64_t cpu_ns(clockid_t clock) noexcept {
  timespec ts{};
  (void)::clock_gettime(clock, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

double seconds_between(Clock::time_point a, Clock::time_point b) noexcept {
  return std::chrono::duration<double>(b - a).count();
}

// CPU time the whole machine spent busy (every CPU, /proc/stat: all but idle and iowait), in ns.
std::uint64_t machine_busy_ns() {
  std::FILE* f = std::fopen("/proc/stat", "re");
  if (f == nullptr) return 0;
  unsigned long long v[8] = {};  // NOLINT(google-runtime-int): the %llu of fscanf
  const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                              &v[3], &v[4], &v[5], &v[6], &v[7]);
  (void)std::fclose(f);
  if (got != 8) return 0;
  const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // NOLINT
  const long hz = ::sysconf(_SC_CLK_TCK);
  return static_cast<std::uint64_t>(busy) * (1'000'000'000ULL / static_cast<std::uint64_t>(hz));
}

void pin_to(unsigned cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
}

// What the reader thread saw between `start` and the first wake-up after `stop`.
struct ReaderResult {
  std::uint64_t packets = 0;
  std::uint64_t wakeups = 0;     // non-empty read_batch calls / non-empty CQE harvests
  std::uint64_t rearms = 0;      // multishot: completions without IORING_CQE_F_MORE
  std::uint64_t no_buffers = 0;  // of which ENOBUFS: every provided buffer was in use
  std::uint64_t bad = 0;         // packets that were not IPv4 (never expected)
  std::uint64_t cpu_ns = 0;
  double seconds = 0;
  std::string error;  // set when the mode could not run
};

struct SenderResult {
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;  // sendmmsg calls that failed (ENOBUFS, EAGAIN)
  std::uint64_t cpu_ns = 0;
  double seconds = 0;
  std::string error;
};

struct Shared {
  std::atomic<int> ready{0};
  std::atomic<bool> start{false};
  std::atomic<bool> stop{false};
};

void wait_start(Shared& s) noexcept {
  s.ready.fetch_add(1);
  while (!s.start.load(std::memory_order_acquire))
    std::this_thread::yield();
}

// The work every mode does per packet: look at it (a real reader would parse it).
inline void touch(std::span<const std::byte> p, ReaderResult& r) noexcept {
  if (p.empty() || (std::to_integer<unsigned>(p[0]) >> 4U) != 4U) ++r.bad;
  ++r.packets;
}

void read_batchio(tunkit::Queue& q, tunkit::BatchBackend backend, Shared& s, ReaderResult& r) {
  tunkit::BatchIo io(q, {.backend = backend, .max_packets = kBatch});
  tunkit::PacketBuffers storage(kBatch, kSlot);
  tunkit::PacketBatch& batch = storage.batch();
  wait_start(s);
  const Clock::time_point t0 = Clock::now();
  const std::uint64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  std::error_code ec;
  while (!s.stop.load(std::memory_order_relaxed)) {
    const std::size_t n = io.read_batch(batch, ec);
    if (n == 0) {
      if (ec == tunkit::errc::interrupted) break;
      r.error = ec.message();
      break;
    }
    for (std::size_t i = 0; i < n; ++i)
      touch(batch.packet(i), r);
    ++r.wakeups;
  }
  r.cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  r.seconds = seconds_between(t0, Clock::now());
}

// A buffer ring registered with io_uring (liburing 2.3 has no io_uring_setup_buf_ring: the ring
// memory is ours, page-aligned, as io_uring_register_buf_ring(3) asks).
class ProvidedBuffers {
 public:
  ProvidedBuffers(io_uring& ring, unsigned count) : ring_(ring), count_(count) {
    ring_bytes_ = count * sizeof(io_uring_buf);
    void* m =
        ::mmap(nullptr, ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::system_error(errno, std::system_category(), "mmap");
    br_ = static_cast<io_uring_buf_ring*>(m);
    data_.resize(static_cast<std::size_t>(count) * kSlot);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(br_);
    reg.ring_entries = count;
    reg.bgid = kBufferGroup;
    if (const int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
      (void)::munmap(br_, ring_bytes_);
      throw std::system_error(-rc, std::system_category(), "io_uring_register_buf_ring");
    }
    io_uring_buf_ring_init(br_);
    for (unsigned i = 0; i < count; ++i)
      give_back(static_cast<std::uint16_t>(i), static_cast<int>(i));
    io_uring_buf_ring_advance(br_, static_cast<int>(count));
  }
  ~ProvidedBuffers() {
    (void)io_uring_unregister_buf_ring(&ring_, static_cast<int>(kBufferGroup));
    (void)::munmap(br_, ring_bytes_);
  }
  ProvidedBuffers(const ProvidedBuffers&) = delete;
  ProvidedBuffers& operator=(const ProvidedBuffers&) = delete;

  [[nodiscard]] std::span<const std::byte> packet(std::uint16_t id, std::size_t len) const {
    return std::span<const std::byte>(data_).subspan(std::size_t{id} * kSlot, len);
  }
  // Puts buffer `id` at position `offset` past the ring's tail; visible after advance().
  void give_back(std::uint16_t id, int offset) noexcept {
    io_uring_buf_ring_add(br_, data_.data() + std::size_t{id} * kSlot, kSlot, id,
                          io_uring_buf_ring_mask(count_), offset);
  }
  void advance(int n) noexcept { io_uring_buf_ring_advance(br_, n); }

 private:
  io_uring& ring_;
  unsigned count_;
  std::size_t ring_bytes_ = 0;
  io_uring_buf_ring* br_ = nullptr;
  std::vector<std::byte> data_;
};

void arm_multishot(io_uring& ring, int fd) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  if (sqe == nullptr) throw std::runtime_error("no submission entry free");
  // liburing 2.3 has no io_uring_prep_read_multishot: opcode 49 is IORING_OP_READ_MULTISHOT
  // (Linux 6.7), filled by hand as later liburing does: no address and length 0 (the kernel
  // requires both: each read takes a whole provided buffer), a buffer group to pick from.
  io_uring_prep_rw(kReadMultishotOpcode, sqe, fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kBufferGroup;
  sqe->user_data = kMultishot;
  if (const int rc = io_uring_submit(&ring); rc < 0) {
    throw std::system_error(-rc, std::system_category(), "io_uring_submit");
  }
}

void read_multishot(int fd, bool defer, unsigned buffers, Shared& s, ReaderResult& r) {
  io_uring ring{};
  // DEFER_TASKRUN needs SINGLE_ISSUER, and the ring made on the thread that waits on it: here.
  const unsigned flags = defer ? IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN : 0U;
  // A completion queue with room for a completion per buffer: a multishot read that finds the
  // queue full ends (without IORING_CQE_F_MORE) rather than overflow.
  io_uring_params params{};
  params.flags = flags | IORING_SETUP_CQSIZE;
  params.cq_entries = 2 * buffers;
  if (const int rc = io_uring_queue_init_params(8, &ring, &params); rc < 0) {
    throw std::system_error(-rc, std::system_category(), "io_uring_queue_init");
  }
  struct RingGuard {
    io_uring* ring;
    explicit RingGuard(io_uring* r) noexcept : ring(r) {}
    ~RingGuard() { io_uring_queue_exit(ring); }
    RingGuard(const RingGuard&) = delete;
    RingGuard& operator=(const RingGuard&) = delete;
  } guard(&ring);
  ProvidedBuffers bufs(ring, buffers);
  arm_multishot(ring, fd);
  std::vector<io_uring_cqe*> cqes(2 * buffers);
  bool armed = true;
  // Reaps what is there; returns false when the read ended with an error other than running out
  // of buffers.
  const auto harvest = [&](unsigned n, bool count) {
    int returned = 0;
    for (unsigned i = 0; i < n; ++i) {
      const io_uring_cqe* c = cqes[i];
      if (c->user_data != kMultishot) continue;  // the cancellation's own completion
      if ((c->flags & IORING_CQE_F_BUFFER) != 0U) {
        const auto id = static_cast<std::uint16_t>(c->flags >> IORING_CQE_BUFFER_SHIFT);
        if (c->res > 0 && count) touch(bufs.packet(id, static_cast<std::size_t>(c->res)), r);
        bufs.give_back(id, returned++);
      }
      if ((c->flags & IORING_CQE_F_MORE) == 0U) {
        armed = false;
        if (c->res == -ENOBUFS && count) ++r.no_buffers;
        if (c->res < 0 && c->res != -ENOBUFS && c->res != -ECANCELED && r.error.empty()) {
          r.error = std::error_code(-c->res, std::system_category()).message();
        }
      }
    }
    bufs.advance(returned);
    io_uring_cq_advance(&ring, n);
  };
  wait_start(s);
  const Clock::time_point t0 = Clock::now();
  const std::uint64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  __kernel_timespec timeout{.tv_sec = 0, .tv_nsec = 50'000'000};
  while (!s.stop.load(std::memory_order_relaxed) && r.error.empty()) {
    unsigned n = io_uring_peek_batch_cqe(&ring, cqes.data(), static_cast<unsigned>(cqes.size()));
    if (n == 0) {
      io_uring_cqe* c = nullptr;
      const int rc = io_uring_wait_cqe_timeout(&ring, &c, &timeout);
      if (rc < 0 && rc != -ETIME && rc != -EINTR) {
        r.error = std::error_code(-rc, std::system_category()).message();
        break;
      }
      continue;
    }
    harvest(n, true);
    ++r.wakeups;
    if (!armed) {
      ++r.rearms;
      arm_multishot(ring, fd);
      armed = true;
    }
  }
  r.cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  r.seconds = seconds_between(t0, Clock::now());
  // Cancel the read and wait (bounded) for its last completion before the buffers go.
  if (armed) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    if (sqe != nullptr) {
      io_uring_prep_cancel64(sqe, kMultishot, 0);
      sqe->user_data = kCancel;
      (void)io_uring_submit(&ring);
    }
    const Clock::time_point limit = Clock::now() + std::chrono::seconds(1);
    while (armed && Clock::now() < limit) {
      io_uring_cqe* c = nullptr;
      (void)io_uring_wait_cqe_timeout(&ring, &c, &timeout);
      const unsigned n =
          io_uring_peek_batch_cqe(&ring, cqes.data(), static_cast<unsigned>(cqes.size()));
      harvest(n, false);
    }
  }
}

void send_flood(std::uint64_t rate, Shared& s, SenderResult& out) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "socket");
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(9);
  to.sin_addr.s_addr = htonl((10U << 24U) | (94U << 16U) | 2U);  // 10.94.0.2
  std::vector<std::byte> payload(kPayload, std::byte{0x5a});
  iovec iov{payload.data(), payload.size()};
  std::vector<mmsghdr> msgs(kBatch);
  for (mmsghdr& m : msgs) {
    m.msg_hdr.msg_name = &to;
    m.msg_hdr.msg_namelen = sizeof(to);
    m.msg_hdr.msg_iov = &iov;
    m.msg_hdr.msg_iovlen = 1;
  }
  // Paced, smaller bursts: the reader should not see only bursts of 64.
  const unsigned per_call = rate > 0 ? 16U : static_cast<unsigned>(kBatch);
  wait_start(s);
  const Clock::time_point t0 = Clock::now();
  const std::uint64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
  while (!s.stop.load(std::memory_order_relaxed)) {
    if (rate > 0) {
      // Paced: no further ahead than the rate allows (sleeps in 20 us steps).
      const double due = seconds_between(t0, Clock::now()) * static_cast<double>(rate);
      if (static_cast<double>(out.sent) >= due) {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
        continue;
      }
    }
    const int n = ::sendmmsg(fd, msgs.data(), per_call, MSG_DONTWAIT);
    if (n > 0) {
      out.sent += static_cast<std::uint64_t>(n);
    } else {
      ++out.failed;
    }
  }
  out.cpu_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  out.seconds = seconds_between(t0, Clock::now());
  ::close(fd);
}

struct Run {
  Mode mode{};
  std::uint64_t rate = 0;  // offered (0: flood)
  unsigned round = 0;
  ReaderResult reader;
  SenderResult sender;
  std::uint64_t dropped = 0;         // tx_dropped of the device during the window
  std::uint64_t process_cpu_ns = 0;  // every thread of the process (io_uring workers included)
  std::uint64_t machine_cpu_ns = 0;  // every CPU of the machine, busy (/proc/stat)
  double window = 0;                 // seconds, as main saw them

  [[nodiscard]] double rx_rate() const {
    return static_cast<double>(reader.packets) / reader.seconds;
  }
  [[nodiscard]] double tx_rate() const { return static_cast<double>(sender.sent) / sender.seconds; }
  [[nodiscard]] double per_wakeup() const {
    return reader.wakeups == 0
               ? 0
               : static_cast<double>(reader.packets) / static_cast<double>(reader.wakeups);
  }
  [[nodiscard]] double reader_cpu() const {
    return 100.0 * static_cast<double>(reader.cpu_ns) / (reader.seconds * 1e9);
  }
  [[nodiscard]] double ns_per_packet() const {
    return reader.packets == 0
               ? 0
               : static_cast<double>(reader.cpu_ns) / static_cast<double>(reader.packets);
  }
  [[nodiscard]] double drop_rate() const { return static_cast<double>(dropped) / window; }
  // Of what the sender sent in the window.
  [[nodiscard]] double drop_share() const {
    return sender.sent == 0
               ? 0
               : 100.0 * static_cast<double>(dropped) / static_cast<double>(sender.sent);
  }
  // CPU of the process's other threads (io_uring's io-wq workers, if the kernel punted reads to
  // them), % of a core.
  [[nodiscard]] double other_cpu() const {
    const double other = static_cast<double>(process_cpu_ns) - static_cast<double>(reader.cpu_ns) -
                         static_cast<double>(sender.cpu_ns);
    return std::max(0.0, 100.0 * other / (window * 1e9));
  }
  // CPU the rest of the machine took (other processes, the kernel's threads), % of a core: a run
  // where it is high was disturbed (the reader or the sender was not alone on its core).
  [[nodiscard]] double foreign_cpu() const {
    const double foreign =
        static_cast<double>(machine_cpu_ns) - static_cast<double>(process_cpu_ns);
    return std::max(0.0, 100.0 * foreign / (window * 1e9));
  }
  [[nodiscard]] double sender_cpu() const {
    return 100.0 * static_cast<double>(sender.cpu_ns) / (sender.seconds * 1e9);
  }
};

Run run_once(const Config& cfg, Mode mode, std::uint64_t rate, unsigned round) {
  Run run;
  run.mode = mode;
  run.rate = rate;
  run.round = round;
  tunkit::TunDevice dev({.name = "tkur0"});
  tunkit::Link link(dev.ifindex());
  link.add_address(tunkit::IpPrefix::parse("10.94.0.1/24"));
  link.set_up();
  Shared s;
  const bool pin = cfg.pin && std::thread::hardware_concurrency() >= 2;
  std::thread reader([&] {
    if (pin) pin_to(1);
    try {
      switch (mode) {
        case Mode::loop:
          read_batchio(dev.queue(0), tunkit::BatchBackend::loop, s, run.reader);
          break;
        case Mode::uring:
          read_batchio(dev.queue(0), tunkit::BatchBackend::uring, s, run.reader);
          break;
        case Mode::multishot:
        case Mode::ms_defer:
          read_multishot(dev.queue(0).native_handle(), mode == Mode::ms_defer, cfg.buffers, s,
                         run.reader);
          break;
      }
    } catch (const std::exception& e) {
      run.reader.error = e.what();
      s.ready.fetch_add(1);  // never reached wait_start
    }
  });
  std::thread sender([&] {
    if (pin) pin_to(0);
    try {
      send_flood(rate, s, run.sender);
    } catch (const std::exception& e) {
      run.sender.error = e.what();
      s.ready.fetch_add(1);
    }
  });
  // Both set up (bounded: a thread that cannot start has failed already).
  const Clock::time_point setup_limit = Clock::now() + std::chrono::seconds(5);
  while (s.ready.load() < 2 && Clock::now() < setup_limit)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const tunkit::LinkStats before = link.statistics();
  const Clock::time_point t0 = Clock::now();
  const std::uint64_t p0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
  const std::uint64_t m0 = machine_busy_ns();
  s.start.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(cfg.seconds));
  s.stop.store(true);
  run.process_cpu_ns = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - p0;
  run.machine_cpu_ns = machine_busy_ns() - m0;
  run.window = seconds_between(t0, Clock::now());
  const tunkit::LinkStats after = link.statistics();
  run.dropped = after.tx_dropped - before.tx_dropped;
  // A blocked read_batch drains what is queued, then reports errc::interrupted.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  dev.interrupt();
  sender.join();
  reader.join();
  return run;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

template <typename F>
double median_of(const std::vector<Run>& runs, Mode mode, std::uint64_t rate, F f) {
  std::vector<double> v;
  for (const Run& r : runs) {
    if (r.mode == mode && r.rate == rate && r.reader.error.empty()) v.push_back(f(r));
  }
  return median(v);
}

void print_table(const Config& cfg, const std::vector<Run>& runs, std::uint64_t offered) {
  const Mode base = cfg.modes.front();
  const auto med = [&](Mode m, auto f) { return median_of(runs, m, offered, f); };
  const double base_rate = med(base, [](const Run& r) { return r.rx_rate(); });
  fmt::print("\nsender {}; medians of {} round(s) of {:.1f} s; 'vs {}' compares packets/s read\n",
             offered > 0 ? fmt::format("paced at {} k packets/s", offered / 1000)
                         : std::string("flooding"),
             cfg.rounds, cfg.seconds, name_of(base));
  fmt::print(
      "| mode | read pkt/s | vs {} | pkts/wake-up | reader CPU | CPU ns/pkt | kernel drops | "
      "sender pkt/s | sender CPU | foreign CPU |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
      name_of(base));
  for (Mode m : cfg.modes) {
    const double rate = med(m, [](const Run& r) { return r.rx_rate(); });
    fmt::print(
        "| {} | {:.0f} k | {:+.1f} % | {:.1f} | {:.0f} % | {:.0f} | {:.0f} k/s ({:.1f} %) "
        "| {:.0f} k | {:.0f} % | {:.0f} % |\n",
        name_of(m), rate / 1e3, base_rate > 0 ? 100.0 * (rate / base_rate - 1) : 0.0,
        med(m, [](const Run& r) { return r.per_wakeup(); }),
        med(m, [](const Run& r) { return r.reader_cpu(); }),
        med(m, [](const Run& r) { return r.ns_per_packet(); }),
        med(m, [](const Run& r) { return r.drop_rate(); }) / 1e3,
        med(m, [](const Run& r) { return r.drop_share(); }),
        med(m, [](const Run& r) { return r.tx_rate(); }) / 1e3,
        med(m, [](const Run& r) { return r.sender_cpu(); }),
        med(m, [](const Run& r) { return r.foreign_cpu(); }));
  }
}

[[noreturn]] void usage(const char* why) {
  fmt::print(stderr,
             "tunkit_uring_read_bench: {}\n"
             "usage: tunkit_uring_read_bench [--seconds S (0.2..30)] [--rounds N (1..20)]\n"
             "         [--modes loop,uring,multishot,ms-defer] [--rates 0,PPS,...] [--buffers N]\n"
             "         [--no-pin] [--verbose]\n",
             why);
  std::exit(2);
}

Config parse(int argc, char** argv) {
  Config cfg;
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view a = args[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) usage("missing value");
      return std::string(args[++i]);
    };
    if (a == "--seconds") {
      cfg.seconds = std::strtod(value().c_str(), nullptr);
      if (!(cfg.seconds >= 0.2 && cfg.seconds <= 30)) usage("--seconds out of range");
    } else if (a == "--rounds") {
      cfg.rounds = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
      if (cfg.rounds < 1 || cfg.rounds > 20) usage("--rounds out of range");
    } else if (a == "--rates") {
      cfg.rates.clear();
      const std::string list = value();
      for (std::string_view rest = list; !rest.empty();) {
        const std::size_t comma = rest.find(',');
        cfg.rates.push_back(std::strtoull(std::string(rest.substr(0, comma)).c_str(), nullptr, 10));
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      }
      if (cfg.rates.empty() || cfg.rates.size() > 10) usage("--rates: 1..10 rates");
    } else if (a == "--buffers") {
      cfg.buffers = static_cast<unsigned>(std::strtoul(value().c_str(), nullptr, 10));
      // A power of two (the ring's mask), at most 32768 (a 16-bit buffer id and ring tail).
      if (cfg.buffers < 1 || cfg.buffers > 32768 || (cfg.buffers & (cfg.buffers - 1)) != 0) {
        usage("--buffers must be a power of two, 1..32768");
      }
    } else if (a == "--modes") {
      cfg.modes.clear();
      const std::string list = value();
      std::string_view rest = list;
      while (!rest.empty()) {
        const std::size_t comma = rest.find(',');
        const std::string_view m = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        bool known = false;
        for (Mode x : {Mode::loop, Mode::uring, Mode::multishot, Mode::ms_defer}) {
          if (name_of(x) == m) {
            cfg.modes.push_back(x);
            known = true;
          }
        }
        if (!known) usage("unknown mode");
      }
      if (cfg.modes.empty()) usage("no mode");
    } else if (a == "--no-pin") {
      cfg.pin = false;
    } else if (a == "--verbose") {
      cfg.verbose = true;
    } else {
      usage("unknown argument");
    }
  }
  return cfg;
}

void print_run(const Run& r) {
  fmt::print(
      "  round {} {:>4}k {:<9} rx {:>9.0f}/s  {:>5.1f}/wake  cpu {:>5.1f}%  {:>6.0f} ns/pkt  "
      "drops {:>9.0f}/s  tx {:>9.0f}/s ({:>5.1f}% cpu)  other {:>4.1f}% cpu  foreign {:>5.1f}% "
      "cpu{}{}{}\n",
      r.round + 1, r.rate / 1000, name_of(r.mode), r.rx_rate(), r.per_wakeup(), r.reader_cpu(),
      r.ns_per_packet(), r.drop_rate(), r.tx_rate(), r.sender_cpu(), r.other_cpu(), r.foreign_cpu(),
      r.reader.rearms > 0
          ? fmt::format("  re-armed {} ({} out of buffers)", r.reader.rearms, r.reader.no_buffers)
          : std::string{},
      r.reader.error.empty() ? std::string{} : fmt::format("  ERROR: {}", r.reader.error),
      r.sender.error.empty() ? std::string{} : fmt::format("  SENDER ERROR: {}", r.sender.error));
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse(argc, argv);
  if (::geteuid() != 0) {
    fmt::print(stderr,
               "tunkit_uring_read_bench: needs root (it unshares a network namespace and makes a "
               "TUN device in it)\n");
    return 2;
  }
  // The whole process, before any thread starts: every thread made later is in it too.
  if (::unshare(CLONE_NEWNET) != 0) {
    fmt::print(stderr, "tunkit_uring_read_bench: unshare(CLONE_NEWNET): {}\n",
               std::strerror(errno));
    return 2;
  }
  fmt::print(
      "uring_read_bench: {} round(s) x {} rate(s) x {} mode(s) x {:.1f} s, {}-byte UDP payload, "
      "{} provided buffers of {} B, BatchIo max_packets {}, threads {}\n",
      cfg.rounds, cfg.rates.size(), cfg.modes.size(), cfg.seconds, kPayload, cfg.buffers, kSlot,
      kBatch, cfg.pin ? "pinned (sender cpu 0, reader cpu 1)" : "unpinned");
  std::vector<Run> runs;
  try {
    for (unsigned round = 0; round < cfg.rounds; ++round) {
      for (std::uint64_t rate : cfg.rates) {
        for (Mode m : cfg.modes) {
          runs.push_back(run_once(cfg, m, rate, round));
          const Run& r = runs.back();
          if (cfg.verbose || !r.reader.error.empty() || !r.sender.error.empty()) print_run(r);
        }
      }
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "tunkit_uring_read_bench: {}\n", e.what());
    return 1;
  }
  for (std::uint64_t rate : cfg.rates)
    print_table(cfg, runs, rate);
  bool failed = false;
  std::uint64_t bad = 0;
  for (const Run& r : runs) {
    failed = failed || !r.reader.error.empty() || !r.sender.error.empty();
    bad += r.reader.bad;
  }
  // A few non-IPv4 packets per run are normal: the kernel's own IPv6 router solicitations.
  if (cfg.verbose) fmt::print("packets that were not IPv4: {}\n", bad);
  return failed ? 1 : 0;
}
