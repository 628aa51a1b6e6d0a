// Unit tests of signal-driven I/O on a queue over the fake kernel: the fcntl calls in their order
// with their arguments, the owner the driver's fasync sets and the one asked for, the roll-back
// when a step fails, disable, and the messages.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/device.hpp"
#include "tunkit/queue.hpp"

using tunkit::SignalIo;
using tunkit::SignalOwner;
using tunkit::testing::FakeKernel;
using SignalIoCall = FakeKernel::Call;

namespace {

// The fcntl commands the fake recorded (both forms), in order.
std::vector<unsigned long> fcntl_commands(const FakeKernel& k) {
  std::vector<unsigned long> out;
  for (const auto& c : k.calls()) {
    if (c.call == SignalIoCall::fcntl || c.call == SignalIoCall::fcntl_ptr)
      out.push_back(c.request);
  }
  return out;
}

}  // namespace

TEST_CASE("enable_signal_io: F_SETSIG, O_ASYNC, then the owner, and a packet raises the signal",
          "[signal_io]") {
  test::World w;
  tunkit::Queue& q = w.dev.queue(0);
  const int fd = q.native_handle();
  w.kernel.clear_calls();
  CHECK_FALSE(q.signal_io_enabled());
  w.kernel.clear_calls();

  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  q.enable_signal_io({.signal = SIGRTMIN + 1, .owner = {.kind = SignalOwner::Kind::thread}});
  CHECK(fcntl_commands(w.kernel) ==
        std::vector<unsigned long>{F_GETFL, F_GETSIG, F_GETOWN_EX, F_SETSIG, F_SETFL, F_SETOWN_EX});
  const auto calls = w.kernel.calls();
  CHECK(calls[3].arg == SIGRTMIN + 1);
  CHECK((calls[4].arg & O_ASYNC) != 0);
  CHECK((calls[4].arg & O_NONBLOCK) != 0);  // the other flags are kept
  const auto state = w.kernel.signal_state(fd);
  CHECK(state.signal == SIGRTMIN + 1);
  CHECK(state.owner_type == F_OWNER_TID);  // not the process the driver's fasync set
  CHECK(state.owner == tid);
  CHECK(q.signal_io_enabled());

  CHECK(w.kernel.signals_raised(fd) == 0);
  REQUIRE(w.kernel.inject("tun0", test::ipv4(40)) == fd);
  REQUIRE(w.kernel.inject("tun0", test::ipv4(40)) == fd);
  CHECK(w.kernel.signals_raised(fd) == 2);

  q.disable_signal_io();
  CHECK_FALSE(q.signal_io_enabled());
  CHECK(w.kernel.signal_state(fd).signal == 0);
  REQUIRE(w.kernel.inject("tun0", test::ipv4(40)) == fd);
  CHECK(w.kernel.signals_raised(fd) == 2);
}

TEST_CASE("enable_signal_io: the default is SIGIO to this process", "[signal_io]") {
  test::World w;
  tunkit::Queue& q = w.dev.queue(0);
  q.enable_signal_io();
  const auto state = w.kernel.signal_state(q.native_handle());
  CHECK(state.signal == SIGIO);
  CHECK(state.owner_type == F_OWNER_PID);
  CHECK(state.owner == ::getpid());
}

TEST_CASE("enable_signal_io: a refused signal or owner changes nothing, and is named",
          "[signal_io][errors]") {
  test::World w;
  tunkit::Queue& q = w.dev.queue(0);
  const int fd = q.native_handle();
  CHECK(test::thrown_by([&] { q.enable_signal_io({.signal = 99}); }).what() ==
        std::string("tunkit: enable signal-driven I/O on \"tun0\": invalid argument (signal 99 "
                    "is not a signal number (0..64))"));
  CHECK_FALSE(q.signal_io_enabled());

  w.kernel.set_missing_owner(424242);
  CHECK(test::thrown_by([&] {
          q.enable_signal_io(
              {.signal = SIGRTMIN, .owner = {.kind = SignalOwner::Kind::thread, .id = 424242}});
        }).what() == std::string("tunkit: enable signal-driven I/O on \"tun0\": no such process "
                                 "(no thread with id 424242)"));
  // Rolled back: O_ASYNC off, F_SETSIG as before, and the owner as before.
  CHECK_FALSE(q.signal_io_enabled());
  CHECK(w.kernel.signal_state(fd).signal == 0);
  CHECK(w.kernel.signal_state(fd).owner == 0);  // none, as before (not the one fasync set)
}

TEST_CASE("enable_signal_io rolls back whichever step fails", "[signal_io][errors]") {
  // The fcntl calls of enable, by their position: F_GETFL, F_GETSIG, (F_GETOWN_EX), F_SETSIG,
  // F_SETFL, (F_SETOWN_EX). A fault on each leaves the descriptor as it was.
  struct Step {
    SignalIoCall call;
    std::size_t after;  // calls of that kind to let through first
  };
  const auto step = GENERATE(Step{SignalIoCall::fcntl, 0}, Step{SignalIoCall::fcntl, 1},
                             Step{SignalIoCall::fcntl_ptr, 0}, Step{SignalIoCall::fcntl, 2},
                             Step{SignalIoCall::fcntl, 3}, Step{SignalIoCall::fcntl_ptr, 1});
  CAPTURE(static_cast<int>(step.call), step.after);
  test::World w;
  tunkit::Queue& q = w.dev.queue(0);
  const int fd = q.native_handle();
  const int flags_before = w.kernel.fcntl(fd, F_GETFL, 0);
  w.kernel.fail_next(step.call, EIO, step.after);
  std::error_code ec;
  q.enable_signal_io({.signal = SIGRTMIN + 2, .owner = {.kind = SignalOwner::Kind::process}}, ec);
  CHECK(ec == test::sys(EIO));
  CHECK(w.kernel.fcntl(fd, F_GETFL, 0) == flags_before);
  CHECK(w.kernel.signal_state(fd).signal == 0);
  // And it works once the fault is gone.
  q.enable_signal_io({.signal = SIGRTMIN + 2}, ec);
  CHECK_FALSE(ec);
  CHECK(q.signal_io_enabled());
}

TEST_CASE("signal-driven I/O on a closed queue is not_open", "[signal_io][errors]") {
  tunkit::Queue q;
  std::error_code ec;
  q.enable_signal_io({}, ec);
  CHECK(ec == tunkit::errc::not_open);
  q.disable_signal_io(ec);
  CHECK(ec == tunkit::errc::not_open);
}

TEST_CASE("the fake's fasync: O_ASYNC makes the process the owner only when there is none",
          "[signal_io][fake]") {
  test::World w;
  const int fd = w.dev.queue(0).native_handle();
  const int flags = w.kernel.fcntl(fd, F_GETFL, 0);
  CHECK(w.kernel.signal_state(fd).owner == 0);
  REQUIRE(w.kernel.fcntl(fd, F_SETFL, flags | O_ASYNC) == 0);
  CHECK(w.kernel.signal_state(fd).owner_type == F_OWNER_PID);
  CHECK(w.kernel.signal_state(fd).owner == ::getpid());
  REQUIRE(w.kernel.fcntl(fd, F_SETFL, flags) == 0);
  f_owner_ex owner{};
  owner.type = F_OWNER_TID;
  owner.pid = 77;
  REQUIRE(w.kernel.fcntl_ptr(fd, F_SETOWN_EX, &owner) == 0);
  REQUIRE(w.kernel.fcntl(fd, F_SETFL, flags | O_ASYNC) == 0);
  CHECK(w.kernel.signal_state(fd).owner_type == F_OWNER_TID);
  CHECK(w.kernel.signal_state(fd).owner == 77);
  CHECK(w.kernel.fcntl(fd, F_SETSIG, 65) == -EINVAL);
  CHECK(w.kernel.fcntl_ptr(fd, F_SETLK, &owner) == -EINVAL);  // not a command it knows
}
