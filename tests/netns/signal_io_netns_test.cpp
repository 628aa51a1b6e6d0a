// Signal-driven I/O against the real kernel: a datagram routed into the TUN device raises the
// signal for its queue, with the queue's descriptor in the siginfo; the owner given is the one
// the kernel uses; disabled, nothing comes. The signals are blocked in this thread and taken with
// sigtimedwait, so none can reach a default action.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <ctime>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

// Blocks `signo` in this thread while it lives, and drops any of it still pending at the end.
class BlockedSignal {
 public:
  explicit BlockedSignal(int signo) : signo_(signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &set, &old_) == 0);
  }
  BlockedSignal(const BlockedSignal&) = delete;
  BlockedSignal& operator=(const BlockedSignal&) = delete;
  ~BlockedSignal() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo_);
    const timespec zero{0, 0};
    while (::sigtimedwait(&set, nullptr, &zero) > 0) {
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  // Waits up to `ms` for the signal; its siginfo, or si_signo 0 when none came.
  siginfo_t wait(long ms) const {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo_);
    const timespec budget{ms / 1000, (ms % 1000) * 1000000};
    siginfo_t info{};
    if (::sigtimedwait(&set, &info, &budget) < 0) info.si_signo = 0;
    return info;
  }

 private:
  int signo_;
  sigset_t old_{};
};

// One UDP datagram to 10.97.0.2:9, which the kernel routes into the TUN device.
void send_signal_datagram() {
  netns_test::UdpSocket s;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(9);
  ::inet_pton(AF_INET, "10.97.0.2", &sa.sin_addr);
  const std::array<char, 8> p{};
  REQUIRE(::sendto(s.fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) ==
          static_cast<ssize_t>(p.size()));
}

tunkit::TunDevice make_signal_device() {
  tunkit::TunDevice dev({.name = "sigtun0", .non_blocking = true});
  tunkit::Link(dev.ifindex())
      .configure({.addresses = {tunkit::IpPrefix::parse("10.97.0.1/24")}, .up = true});
  return dev;
}

// Reads everything queued (the IPv6 packets the kernel sends when the device comes up too).
void drain_signal_device(tunkit::TunDevice& dev) {
  std::array<std::byte, 2048> buf{};
  std::error_code ec;
  while (ec != std::errc::resource_unavailable_try_again)
    (void)dev.read(buf, ec);
}

// Reads everything queued; how many were IPv4 (the kernel's own IPv6 packets may come too).
int signal_ipv4_packets(tunkit::TunDevice& dev) {
  std::array<std::byte, 2048> buf{};
  int n = 0;
  for (;;) {
    std::error_code ec;
    const std::size_t len = dev.read(buf, ec);
    if (ec) break;
    if (len >= 20 && (std::to_integer<unsigned>(buf[0]) >> 4U) == 4) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("signal-driven I/O: a packet for the queue raises its real-time signal, with si_fd",
          "[netns][signal_io]") {
  tunkit::testing::NetNsSandbox sandbox;
  const int signo = SIGRTMIN + 1;
  const BlockedSignal blocked(signo);
  tunkit::TunDevice dev = make_signal_device();
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  dev.queue(0).enable_signal_io(
      {.signal = signo, .owner = {.kind = tunkit::SignalOwner::Kind::thread}});
  // The owner is this thread, as asked (O_ASYNC alone would have made it the process).
  f_owner_ex owner{};
  REQUIRE(::fcntl(dev.queue(0).native_handle(), F_GETOWN_EX, &owner) == 0);
  CHECK(owner.type == F_OWNER_TID);
  CHECK(owner.pid == tid);
  drain_signal_device(dev);
  while (blocked.wait(50).si_signo != 0) {  // what the device's own IPv6 packets raised
  }

  send_signal_datagram();
  const siginfo_t info = blocked.wait(2000);
  REQUIRE(info.si_signo == signo);
  CHECK(info.si_fd == dev.queue(0).native_handle());
  CHECK(info.si_code == POLL_IN);
  CHECK(signal_ipv4_packets(dev) == 1);  // the datagram that raised it

  dev.queue(0).disable_signal_io();
  CHECK_FALSE(dev.queue(0).signal_io_enabled());
  send_signal_datagram();
  CHECK(blocked.wait(300).si_signo == 0);
  CHECK(signal_ipv4_packets(dev) == 1);  // the packet came; no signal did
}

TEST_CASE("signal-driven I/O: SIGIO by default, and the owner O_ASYNC sets", "[netns][signal_io]") {
  tunkit::testing::NetNsSandbox sandbox;
  const BlockedSignal blocked(SIGIO);
  tunkit::TunDevice dev = make_signal_device();
  const int fd = dev.queue(0).native_handle();
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));

  // Measured: setting O_ASYNC makes the calling process the owner when the descriptor has none
  // (the driver's fasync: __f_setown without force), and keeps an owner set before. tunkit sets
  // the owner after O_ASYNC, so the owner asked for wins either way.
  f_owner_ex owner{};
  REQUIRE(::fcntl(fd, F_GETOWN_EX, &owner) == 0);
  CHECK(owner.pid == 0);  // none yet
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_ASYNC) == 0);
  REQUIRE(::fcntl(fd, F_GETOWN_EX, &owner) == 0);
  CHECK(owner.type == F_OWNER_PID);
  CHECK(owner.pid == ::getpid());
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_ASYNC) == 0);
  f_owner_ex thread_owner{};
  thread_owner.type = F_OWNER_TID;
  thread_owner.pid = tid;
  REQUIRE(::fcntl(fd, F_SETOWN_EX, &thread_owner) == 0);
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_ASYNC) == 0);
  REQUIRE(::fcntl(fd, F_GETOWN_EX, &owner) == 0);
  CHECK(owner.type == F_OWNER_TID);
  CHECK(owner.pid == tid);
  REQUIRE(::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_ASYNC) == 0);

  // SIGIO (F_SETSIG SIGIO: with siginfo) to this thread.
  dev.queue(0).enable_signal_io({.owner = {.kind = tunkit::SignalOwner::Kind::thread}});
  drain_signal_device(dev);
  while (blocked.wait(50).si_signo != 0) {
  }
  send_signal_datagram();
  const siginfo_t info = blocked.wait(2000);
  REQUIRE(info.si_signo == SIGIO);
  CHECK(info.si_fd == fd);
  dev.queue(0).disable_signal_io();
}

TEST_CASE("signal-driven I/O: an owner that does not exist is refused and named",
          "[netns][signal_io]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice dev = make_signal_device();
  // Thread ids are below /proc/sys/kernel/pid_max (at most 2^22): this one cannot exist.
  const pid_t missing = 0x7FFFFFF0;
  std::error_code ec;
  dev.queue(0).enable_signal_io(
      {.signal = SIGRTMIN, .owner = {.kind = tunkit::SignalOwner::Kind::thread, .id = missing}},
      ec);
  CHECK(ec == std::error_code(ESRCH, std::system_category()));
  CHECK_FALSE(dev.queue(0).signal_io_enabled());
  CHECK(::fcntl(dev.queue(0).native_handle(), F_GETSIG) == 0);
}
