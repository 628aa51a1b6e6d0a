#include "tunkit/testing/netns.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "detail/errors.hpp"

// The namespace syscalls (unshare, setns) and the few calls around them are made directly, not
// through tunkit::sys: this is test support that must work whatever fake a test installs, and
// there is nothing in it worth scripting.

namespace tunkit::testing {
namespace {

using detail::sys_error;

constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";
constexpr const char* kTunPath = "/dev/net/tun";
constexpr std::string_view kUsernsHint =
    "needs root, or unprivileged user namespaces: see /proc/sys/kernel/unprivileged_userns_clone "
    "and /proc/sys/user/max_user_namespaces";

// A step that failed: what was being done, the errno, and the fix where it is known.
struct Failure {
  std::error_code ec;
  std::string_view step;
  std::string hint;
};

// "STEP: cause (hint)": the form unavailable_reason() and prepare_process() return.
std::string reason(const Failure& f) {
  std::string out = fmt::format("{}: {}", f.step, detail::cause(f.ec));
  if (!f.hint.empty()) fmt::format_to(std::back_inserter(out), " ({})", f.hint);
  return out;
}

int open_retry(const char* path, int flags) noexcept {
  for (;;) {
    const int fd = ::open(path, flags);  // NOLINT(cppcoreguidelines-pro-type-vararg)
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

void close_fd(int& fd) noexcept {
  // Never retried on EINTR: on Linux the descriptor is released either way (see close(2)).
  if (fd >= 0) (void)::close(std::exchange(fd, -1));
}

pid_t current_tid() noexcept {
  return static_cast<pid_t>(::gettid());
}

// Sets IFF_UP on "lo" with SIOCSIFFLAGS on a socket made in the current (new) namespace. An ioctl
// rather than tunkit::Link keeps the sandbox independent of the library code it is used to test.
std::error_code loopback_up() noexcept {
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return sys_error(errno);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  std::error_code ec;
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
    ec = sys_error(errno);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) ec = sys_error(errno);
  }
  (void)::close(sock);
  return ec;
}

std::string unshare_hint(int err) {
  switch (err) {
    case EPERM:
      return geteuid() == 0
                 ? "needs CAP_SYS_ADMIN, which this root process lacks (a container?)"
                 : "needs root, or NetnsSandbox::prepare_process() first where unprivileged user "
                   "namespaces are allowed: see /proc/sys/kernel/unprivileged_userns_clone";
    case ENOSPC:
      return "the limit in /proc/sys/user/max_net_namespaces is reached";
    case EINVAL:
      return "kernel built without CONFIG_NET_NS";
    default:
      return {};
  }
}

// Enters a fresh network namespace with loopback up. On success `original` and `ns` hold the
// namespace descriptors; on failure the thread is back where it was and both are closed.
std::optional<Failure> enter(int& original, int& ns) {
  original = open_retry(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    const int err = errno;
    return Failure{sys_error(err), "open /proc/thread-self/ns/net",
                   err == ENOENT ? "is /proc mounted? /proc/thread-self needs Linux 3.17" : ""};
  }
  // Probe the way back before leaving. setns(2) needs CAP_SYS_ADMIN over the user namespace that
  // owns the target; a thread privileged only in a child user namespace (`unshare -U -r` without
  // -n) could unshare but never return. A move into the namespace the thread is already in
  // changes nothing but runs the same check.
  if (::setns(original, CLONE_NEWNET) < 0) {
    const int err = errno;
    close_fd(original);
    // Without privileges at all the probe fails just as unshare would: report it as that.
    if (err == EPERM && geteuid() != 0) {
      return Failure{sys_error(err), "unshare(CLONE_NEWNET)", unshare_hint(err)};
    }
    return Failure{sys_error(err), "setns(CLONE_NEWNET) to the current namespace (the way back)",
                   err == EPERM ? "this namespace belongs to a parent user namespace: run in a "
                                  "network namespace of your own user namespace (unshare -U -r -n)"
                                : ""};
  }
  if (::unshare(CLONE_NEWNET) < 0) {
    const int err = errno;
    close_fd(original);
    return Failure{sys_error(err), "unshare(CLONE_NEWNET)", unshare_hint(err)};
  }
  auto back_out = [&](std::error_code ec, std::string_view step) {
    // Back to the original namespace first, so that a failed constructor leaves the thread as it
    // was (the probe above showed that this setns is permitted).
    if (::setns(original, CLONE_NEWNET) < 0) {
      std::fprintf(stderr, "tunkit: NetnsSandbox: setns back to the original namespace: %s\n",
                   std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
    }
    close_fd(ns);
    close_fd(original);
    return Failure{ec, step, {}};
  };
  ns = open_retry(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (ns < 0) return back_out(sys_error(errno), "open /proc/thread-self/ns/net (new namespace)");
  if (const std::error_code ec = loopback_up()) return back_out(ec, "set loopback \"lo\" up");
  return std::nullopt;
}

void leave(int& original, int& ns) noexcept {
  if (original >= 0 && ::setns(original, CLONE_NEWNET) < 0) {
    // A destructor cannot throw; say it, since the thread now stays in the sandbox.
    std::fprintf(stderr, "tunkit: NetnsSandbox: setns back to the original namespace: %s\n",
                 std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
  }
  close_fd(ns);
  close_fd(original);
}

// Writes all of `text` to a /proc file in one write(2), as the kernel wants for uid_map & co.
std::optional<Failure> write_proc(const char* path, std::string_view step, std::string_view text) {
  const int fd = open_retry(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Failure{sys_error(errno), step, {}};
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int err = errno;
  (void)::close(fd);
  if (n < 0) return Failure{sys_error(err), step, {}};
  if (static_cast<std::size_t>(n) != text.size())
    return Failure{sys_error(EIO), step, "short write"};
  return std::nullopt;
}

std::string tun_node_hint(int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return "no TUN/TAP support: load it with 'modprobe tun', or create the node";
    case EACCES:
    case EPERM: {
      struct stat st {};
      if (::stat(kTunPath, &st) != 0) return "needs root or a node this user can read and write";
      // Inside a user namespace a host owner that is not mapped shows as the overflow uid.
      const std::string owner = st.st_uid == 0       ? std::string("owner root")
                                : st.st_uid == 65534 ? std::string("owner outside this userns")
                                                     : fmt::format("owner uid {}", st.st_uid);
      return fmt::format("mode {:04o}, {}; needs root, or a node this user can read and write",
                         st.st_mode & 07777U, owner);
    }
    default:
      return {};
  }
}

// Inside a sandbox: can /dev/net/tun be opened, and can a TUN device be made with it?
std::optional<Failure> probe_tun() {
  int fd = open_retry(kTunPath, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Failure{sys_error(err), kTunPath, tun_node_hint(err)};
  }
  ifreq ifr{};  // empty name: the kernel picks "tunN"; the device goes when fd closes
  ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI);
  std::optional<Failure> f;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    f = Failure{sys_error(err), "TUNSETIFF in a new network namespace",
                err == EPERM ? "needs CAP_NET_ADMIN" : ""};
  }
  close_fd(fd);
  return f;
}

}  // namespace

NetnsSandbox::NetnsSandbox() : thread_(current_tid()) {
  if (auto f = enter(original_fd_, ns_fd_)) detail::throw_error(f->ec, f->step, {}, f->hint);
}

NetnsSandbox::~NetnsSandbox() {
  if (current_tid() != thread_) {
    // Moving this (other) thread would be wrong; the constructing thread stays in the sandbox.
    close_fd(ns_fd_);
    close_fd(original_fd_);
    return;
  }
  leave(original_fd_, ns_fd_);
}

std::optional<std::string> NetnsSandbox::prepare_process() {
  if (geteuid() == 0) return std::nullopt;
  const uid_t uid = geteuid();
  const gid_t gid = getegid();
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
    const int err = errno;
    std::string hint;
    if (err == EPERM) hint = kUsernsHint;
    if (err == EINVAL) hint = "the process is multi-threaded: call it before starting any thread";
    if (err == ENOSPC) hint = "the limit in /proc/sys/user/max_user_namespaces is reached";
    return reason({sys_error(err), "unshare(CLONE_NEWUSER|CLONE_NEWNET)", hint});
  }
  // setgroups must be denied before an unprivileged process may write gid_map
  // (user_namespaces(7), "Interaction with system calls that change process UIDs or GIDs").
  if (auto f = write_proc("/proc/self/setgroups", "write /proc/self/setgroups", "deny")) {
    // Kernels before 3.19 have no setgroups file; gid_map then works without it.
    if (f->ec != std::errc::no_such_file_or_directory) return reason(*f);
  }
  if (auto f = write_proc("/proc/self/uid_map", "write /proc/self/uid_map",
                          fmt::format("0 {} 1", uid))) {
    return reason(*f);
  }
  if (auto f = write_proc("/proc/self/gid_map", "write /proc/self/gid_map",
                          fmt::format("0 {} 1", gid))) {
    return reason(*f);
  }
  return std::nullopt;
}

std::optional<std::string> NetnsSandbox::unavailable_reason() {
  int original = -1;
  int ns = -1;
  if (auto f = enter(original, ns)) return reason(*f);
  std::optional<std::string> why;
  try {
    if (auto f = probe_tun()) why = reason(*f);
  } catch (...) {
    leave(original, ns);
    throw;
  }
  leave(original, ns);
  return why;
}

}  // namespace tunkit::testing
