// Signal-driven I/O on a queue: the tun driver's fasync path (O_ASYNC), the signal (F_SETSIG) and
// its owner (F_SETOWN_EX), set in the one order that works and rolled back when a step fails.

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <string>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "tunkit/error.hpp"
#include "tunkit/queue.hpp"

namespace tunkit {
namespace {

using detail::retry_eintr;
using detail::sys_error;

int owner_type(SignalOwner::Kind kind) noexcept {
  switch (kind) {
    case SignalOwner::Kind::thread:
      return F_OWNER_TID;
    case SignalOwner::Kind::process_group:
      return F_OWNER_PGRP;
    case SignalOwner::Kind::process:
      break;
  }
  return F_OWNER_PID;
}

// The caller's own id of that kind: "0" in SignalOwner.
pid_t own_id(SignalOwner::Kind kind) noexcept {
  switch (kind) {
    case SignalOwner::Kind::thread:
      return static_cast<pid_t>(::syscall(SYS_gettid));
    case SignalOwner::Kind::process_group:
      return ::getpgrp();
    case SignalOwner::Kind::process:
      break;
  }
  return ::getpid();
}

std::string_view kind_name(SignalOwner::Kind kind) noexcept {
  switch (kind) {
    case SignalOwner::Kind::thread:
      return "thread";
    case SignalOwner::Kind::process_group:
      return "process group";
    case SignalOwner::Kind::process:
      break;
  }
  return "process";
}

// Turns signal-driven I/O on for descriptor `fd`; on failure returns the code and sets `step` to
// the call that failed (the hint depends on it: EINVAL means a bad signal only from F_SETSIG).
std::error_code enable_signal_io_on(sys::Syscalls& sys, int fd, const SignalIo& io,
                                    std::string_view& step) noexcept {
  // What is there now, to put back if a later step fails.
  step = "F_GETFL";
  const int flags = retry_eintr([&] { return sys.fcntl(fd, F_GETFL, 0); });
  if (flags < 0) return sys_error(-flags);
  step = "F_GETSIG";
  const int old_signal = retry_eintr([&] { return sys.fcntl(fd, F_GETSIG, 0); });
  if (old_signal < 0) return sys_error(-old_signal);
  f_owner_ex old_owner{};
  step = "F_GETOWN_EX";
  if (const int r = retry_eintr([&] { return sys.fcntl_ptr(fd, F_GETOWN_EX, &old_owner); });
      r < 0) {
    return sys_error(-r);
  }
  // F_SETSIG first (a signal out of range is refused before anything changed); then O_ASYNC,
  // whose fasync makes the caller's process the owner when there is none; then the owner asked
  // for, which therefore always wins.
  step = "F_SETSIG";
  if (const int r = retry_eintr([&] { return sys.fcntl(fd, F_SETSIG, io.signal); }); r < 0) {
    return sys_error(-r);
  }
  step = "F_SETFL";
  if (const int r = retry_eintr([&] { return sys.fcntl(fd, F_SETFL, flags | O_ASYNC); }); r < 0) {
    (void)sys.fcntl(fd, F_SETSIG, old_signal);
    return sys_error(-r);
  }
  f_owner_ex owner{};
  owner.type = static_cast<decltype(owner.type)>(owner_type(io.owner.kind));
  owner.pid = io.owner.id != 0 ? io.owner.id : own_id(io.owner.kind);
  step = "F_SETOWN_EX";
  if (const int r = retry_eintr([&] { return sys.fcntl_ptr(fd, F_SETOWN_EX, &owner); }); r < 0) {
    (void)sys.fcntl(fd, F_SETFL, flags);
    (void)sys.fcntl_ptr(fd, F_SETOWN_EX, &old_owner);
    (void)sys.fcntl(fd, F_SETSIG, old_signal);
    return sys_error(-r);
  }
  return {};
}

}  // namespace

void Queue::enable_signal_io(const SignalIo& io) {
  if (!fd_) detail::raise({errc::not_open, "enable signal-driven I/O on", name_, {}});
  std::string_view step;
  const std::error_code ec = enable_signal_io_on(fd_.sys(), fd_.get(), io, step);
  if (!ec) return;
  // A hint only where the failed call tells the cause: the signal was refused, the owner not
  // found.
  std::string hint;
  if (step == "F_SETSIG" && detail::is_errno(ec, EINVAL)) {
    hint = fmt::format("signal {} is not a signal number (0..64)", io.signal);
  } else if (step == "F_SETOWN_EX" && detail::is_errno(ec, ESRCH)) {
    const pid_t id = io.owner.id != 0 ? io.owner.id : own_id(io.owner.kind);
    hint = fmt::format("no {} with id {}", kind_name(io.owner.kind), id);
  }
  detail::raise({ec, "enable signal-driven I/O on", name_, hint});
}

void Queue::enable_signal_io(const SignalIo& io, std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = errc::not_open;
    return;
  }
  std::string_view step;
  ec = enable_signal_io_on(fd_.sys(), fd_.get(), io, step);
}

void Queue::disable_signal_io() {
  std::error_code ec;
  disable_signal_io(ec);
  if (ec) detail::raise({ec, "disable signal-driven I/O on", name_, {}});
}

void Queue::disable_signal_io(std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = errc::not_open;
    return;
  }
  sys::Syscalls& sys = fd_.sys();
  const int fd = fd_.get();
  const int flags = retry_eintr([&] { return sys.fcntl(fd, F_GETFL, 0); });
  if (flags < 0) {
    ec = sys_error(-flags);
    return;
  }
  if (const int r = retry_eintr([&] { return sys.fcntl(fd, F_SETFL, flags & ~O_ASYNC); }); r < 0) {
    ec = sys_error(-r);
    return;
  }
  if (const int r = retry_eintr([&] { return sys.fcntl(fd, F_SETSIG, 0); }); r < 0) {
    ec = sys_error(-r);
  }
}

bool Queue::signal_io_enabled() const {
  if (!fd_) detail::raise({errc::not_open, "F_GETFL", name_, {}});
  const int flags = retry_eintr([&] { return fd_.sys().fcntl(fd_.get(), F_GETFL, 0); });
  if (flags < 0) detail::raise({sys_error(-flags), "F_GETFL", name_, {}});
  return (flags & O_ASYNC) != 0;
}

}  // namespace tunkit
