#include "tunkit/netns.hpp"

#include <fcntl.h>
#include <sched.h>

#include <fmt/format.h>

#include <cerrno>
#include <thread>

#include "detail/eintr.hpp"
#include "detail/failure.hpp"
#include "tunkit/device.hpp"

namespace tunkit {
namespace {

using detail::sys_error;

constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";
constexpr std::string_view kNamedDir = "/run/netns/";

std::string open_hint(std::error_code ec, std::string_view name) {
  if (ec == std::errc::no_such_file_or_directory && !name.empty()) {
    return fmt::format("no namespace named \"{}\": create it with `ip netns add {}`", name, name);
  }
  if (ec == std::errc::permission_denied) return "needs permission to read the namespace file";
  return {};
}

std::string_view setns_hint(std::error_code ec) noexcept {
  if (ec == std::errc::operation_not_permitted) {
    return "needs CAP_SYS_ADMIN in the calling user namespace and over the target's";
  }
  if (ec == std::errc::invalid_argument) return "not a network namespace descriptor";
  return {};
}

std::error_code check_name(std::string_view name) noexcept {
  // ip-netns(8) names become file names under /run/netns.
  if (name.empty() || name == "." || name == ".." || name.size() > 255 ||
      name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return errc::invalid_netns_name;
  }
  return {};
}

}  // namespace

NetNs::NetNs(sys::Syscalls& sys, int fd, std::string description) noexcept
    : fd_(fd, sys), description_(std::move(description)) {}

NetNs NetNs::open_path(const std::string& path, std::error_code& ec, sys::Syscalls& sys) noexcept {
  ec.clear();
  const int fd = detail::retry_eintr([&] { return sys.open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) {
    ec = sys_error(-fd);
    return {};
  }
  try {
    return NetNs(sys, fd, path);
  } catch (...) {  // the description's copy: std::bad_alloc
    (void)sys.close(fd);
    ec = sys_error(ENOMEM);
    return {};
  }
}

NetNs NetNs::open_path(const std::string& path, sys::Syscalls& sys) {
  std::error_code ec;
  NetNs ns = open_path(path, ec, sys);
  if (ec) throw make_error(ec, "open network namespace", path, open_hint(ec, {}));
  return ns;
}

NetNs NetNs::open_named(std::string_view name, std::error_code& ec, sys::Syscalls& sys) noexcept {
  ec = check_name(name);
  if (ec) return {};
  try {
    return open_path(std::string(kNamedDir) + std::string(name), ec, sys);
  } catch (const std::bad_alloc&) {
    ec = sys_error(ENOMEM);
    return {};
  }
}

NetNs NetNs::open_named(std::string_view name, sys::Syscalls& sys) {
  if (const std::error_code bad = check_name(name)) {
    // Quoted even when empty (make_error leaves an empty name out).
    throw Error(bad, fmt::format("tunkit: open network namespace \"{}\": {} (a file name under "
                                 "/run/netns: not empty, no '/', not \".\" or \"..\")",
                                 name, bad.message()));
  }
  const std::string path = std::string(kNamedDir) + std::string(name);
  std::error_code ec;
  NetNs ns = open_path(path, ec, sys);
  if (ec) throw make_error(ec, "open network namespace", path, open_hint(ec, name));
  return ns;
}

NetNs NetNs::current(std::error_code& ec, sys::Syscalls& sys) noexcept {
  try {
    return open_path(kThreadNetns, ec, sys);
  } catch (const std::bad_alloc&) {
    ec = sys_error(ENOMEM);
    return {};
  }
}

NetNs NetNs::current(sys::Syscalls& sys) {
  std::error_code ec;
  NetNs ns = current(ec, sys);
  if (ec) {
    throw make_error(ec, "open network namespace", kThreadNetns,
                     ec == std::errc::no_such_file_or_directory
                         ? "is /proc mounted? /proc/thread-self needs Linux 3.17"
                         : "");
  }
  return ns;
}

NetNs NetNs::from_fd(int fd, sys::Syscalls& sys) {
  const int copy = sys.fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    throw make_error(sys_error(-copy), fmt::format("duplicate network namespace fd {}", fd));
  }
  return adopt(copy, sys);
}

NetNs NetNs::adopt(int fd, sys::Syscalls& sys) noexcept {
  NetNs ns(sys, fd, {});
  try {
    ns.description_ = fmt::format("fd {}", fd);
  } catch (...) {  // only the description is lost
  }
  return ns;
}

namespace detail {

void run_in_netns(const NetNs& ns, void (*body)(void*), void* context) {
  if (!ns.is_open()) raise({errc::not_open, "enter network namespace", {}});
  // A thread of our own enters the namespace and ends with the work: setns(2) moves only the
  // calling thread, so no other thread ever sees a namespace change, and an ended thread cannot
  // leak one. What the body creates keeps its namespace (sockets and devices are bound to the
  // namespace they were made in), so descriptors stay valid after the thread is gone.
  int entered = 0;
  std::exception_ptr failure;
  std::thread worker([&]() noexcept {
    entered = retry_eintr([&] { return ns.syscalls().setns(ns.native_handle(), CLONE_NEWNET); });
    if (entered < 0) return;
    try {
      body(context);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  if (entered < 0) {
    const std::error_code ec = sys_error(-entered);
    throw make_error(ec, "enter network namespace", ns.description(), setns_hint(ec));
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace detail

TunDevice open_in_netns(const NetNs& ns, const Options& options) {
  return in_netns(ns, [&] { return TunDevice(options, ns.syscalls()); });
}

TunDevice open_in_netns(const NetNs& ns, const Options& options, std::error_code& ec) noexcept {
  ec.clear();
  try {
    return in_netns(ns, [&] {
      TunDevice dev;
      dev.open(options, ec, ns.syscalls());
      return dev;
    });
  } catch (const std::system_error& e) {  // tunkit::Error from setns, or no thread
    ec = e.code();
  } catch (const std::bad_alloc&) {
    ec = sys_error(ENOMEM);
  }
  return {};
}

}  // namespace tunkit
