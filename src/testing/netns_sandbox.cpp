#include "tunkit/testing/netns_sandbox.hpp"

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

#include "detail/eintr.hpp"
#include "detail/owned_fd.hpp"
#include "tunkit/error.hpp"
#include "tunkit/sys.hpp"

// The namespace syscalls (unshare, setns) and the few calls around them are made directly, not
// through tunkit::sys: this is test support that must work whatever fake a test installs, and
// there is nothing in it worth scripting. Descriptors are held by detail::OwnedFd over
// sys::real(), which closes them with close(2).

namespace tunkit::testing {
namespace {

using detail::OwnedFd;
using detail::sys_error;

constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";
constexpr const char* kTunPath = "/dev/net/tun";
constexpr std::string_view kUsernsHint =
    "needs root, or unprivileged user namespaces: see /proc/sys/user/max_user_namespaces (and, "
    "on Debian-patched kernels only, /proc/sys/kernel/unprivileged_userns_clone)";

// A step that failed: the errno, what was being done, and the fix where it is known. The hint is
// text of its own because one is formatted from what the step found (the mode of /dev/net/tun).
struct StepFailure {
  std::error_code code;
  std::string_view step;
  std::string hint;
};

// The exception the constructor throws: `tunkit: STEP: cause (hint)`.
Error error_of(const StepFailure& f) {
  return make_error(f.code, f.step, {}, f.hint);
}

// "STEP: cause (hint)": the form unavailable_reason() and prepare_process() return, which is the
// exception's message without its "tunkit: " prefix.
std::string reason(const StepFailure& f) {
  constexpr std::string_view kPrefix = "tunkit: ";
  const Error error = error_of(f);
  std::string_view what = error.what();
  if (what.starts_with(kPrefix)) what.remove_prefix(kPrefix.size());
  return std::string(what);
}

// open(2), retried on EINTR: the descriptor, or -errno.
int open_retry(const char* path, int flags) noexcept {
  return detail::retry_eintr([&] {
    const int fd = ::open(path, flags);  // NOLINT(cppcoreguidelines-pro-type-vararg)
    return fd >= 0 ? fd : -errno;
  });
}

OwnedFd owned(int fd) noexcept {
  return {fd, sys::real()};
}

pid_t current_tid() noexcept {
  return static_cast<pid_t>(::gettid());
}

// Sets IFF_UP on "lo" with SIOCSIFFLAGS on a socket made in the current (new) namespace. An ioctl
// rather than tunkit::Link keeps the sandbox independent of the library code it is used to test.
std::error_code loopback_up() noexcept {
  const int opened = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (opened < 0) return sys_error(errno);
  const OwnedFd sock = owned(opened);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) < 0) return sys_error(errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) < 0) return sys_error(errno);
  return {};
}

std::string unshare_hint(int err) {
  switch (err) {
    case EPERM:
      return geteuid() == 0
                 ? "needs CAP_SYS_ADMIN, which this root process lacks (a container?)"
                 : "needs root, or NetNsSandbox::prepare_process() first where unprivileged user "
                   "namespaces are allowed: see /proc/sys/user/max_user_namespaces (and, on "
                   "Debian-patched kernels only, /proc/sys/kernel/unprivileged_userns_clone)";
    case ENOSPC:
      return "the limit in /proc/sys/user/max_net_namespaces is reached";
    case EINVAL:
      return "kernel built without CONFIG_NET_NS";
    default:
      return {};
  }
}

// Moves the calling thread back into `original`; a failure is only said (a destructor cannot
// throw, nor can a constructor that is already reporting another failure), since the thread then
// stays where it is.
void return_to(const OwnedFd& original) noexcept {
  if (original && ::setns(original.get(), CLONE_NEWNET) < 0) {
    std::fprintf(stderr, "tunkit: NetNsSandbox: setns back to the original namespace: %s\n",
                 std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
  }
}

// Enters a fresh network namespace with loopback up. On success `original` and `ns` hold the
// namespace descriptors (the one left, the new one); on failure the thread is back where it was
// and nothing is left open.
std::optional<StepFailure> enter(OwnedFd& original, OwnedFd& ns) {
  const int back_fd = open_retry(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (back_fd < 0) {
    return StepFailure{
        sys_error(-back_fd), "open /proc/thread-self/ns/net",
        back_fd == -ENOENT ? "is /proc mounted? /proc/thread-self needs Linux 3.17" : ""};
  }
  OwnedFd back = owned(back_fd);
  // Probe the way back before leaving. setns(2) needs CAP_SYS_ADMIN over the user namespace that
  // owns the target; a thread privileged only in a child user namespace (`unshare -U -r` without
  // -n) could unshare but never return. A move into the namespace the thread is already in
  // changes nothing but runs the same check.
  if (::setns(back.get(), CLONE_NEWNET) < 0) {
    const int err = errno;
    // Without privileges at all the probe fails just as unshare would: report it as that.
    if (err == EPERM && geteuid() != 0) {
      return StepFailure{sys_error(err), "unshare(CLONE_NEWNET)", unshare_hint(err)};
    }
    return StepFailure{sys_error(err),
                       "setns(CLONE_NEWNET) to the current namespace (the way back)",
                       err == EPERM ? "this namespace belongs to a parent user namespace: run in "
                                      "a network namespace of your own user namespace (unshare "
                                      "-U -r -n)"
                                    : ""};
  }
  if (::unshare(CLONE_NEWNET) < 0) {
    const int err = errno;
    return StepFailure{sys_error(err), "unshare(CLONE_NEWNET)", unshare_hint(err)};
  }
  // From here a failure goes back to the original namespace first (the probe above showed that
  // this setns is permitted), so that a failed constructor leaves the thread as it was.
  auto back_out = [&](std::error_code ec, std::string_view step) {
    return_to(back);
    return StepFailure{ec, step, {}};
  };
  const int here_fd = open_retry(kThreadNetns, O_RDONLY | O_CLOEXEC);
  if (here_fd < 0) {
    return back_out(sys_error(-here_fd), "open /proc/thread-self/ns/net (new namespace)");
  }
  OwnedFd here = owned(here_fd);
  if (const std::error_code ec = loopback_up()) return back_out(ec, "set loopback \"lo\" up");
  original = std::move(back);
  ns = std::move(here);
  return std::nullopt;
}

// Writes all of `text` to a /proc file in one write(2), as the kernel wants for uid_map & co.
std::optional<StepFailure> write_proc(const char* path, std::string_view step,
                                      std::string_view text) {
  const int opened = open_retry(path, O_WRONLY | O_CLOEXEC);
  if (opened < 0) return StepFailure{sys_error(-opened), step, {}};
  const OwnedFd fd = owned(opened);
  const ssize_t n = ::write(fd.get(), text.data(), text.size());
  if (n < 0) return StepFailure{sys_error(errno), step, {}};
  if (static_cast<std::size_t>(n) != text.size()) {
    return StepFailure{sys_error(EIO), step, "short write"};
  }
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
std::optional<StepFailure> probe_tun() {
  const int opened = open_retry(kTunPath, O_RDWR | O_CLOEXEC);
  if (opened < 0) return StepFailure{sys_error(-opened), kTunPath, tun_node_hint(-opened)};
  const OwnedFd fd = owned(opened);
  ifreq ifr{};  // empty name: the kernel picks "tunN"; the device goes when fd closes
  ifr.ifr_flags = static_cast<short>(IFF_TUN | IFF_NO_PI);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) < 0) {
    const int err = errno;
    return StepFailure{sys_error(err), "TUNSETIFF in a new network namespace",
                       err == EPERM ? "needs CAP_NET_ADMIN" : ""};
  }
  return std::nullopt;
}

}  // namespace

NetNsSandbox::NetNsSandbox() : thread_(current_tid()) {
  OwnedFd original;
  OwnedFd ns;
  if (auto f = enter(original, ns)) throw error_of(*f);
  original_fd_ = original.release();
  ns_fd_ = ns.release();
}

NetNsSandbox::~NetNsSandbox() {
  const OwnedFd original = owned(original_fd_);
  const OwnedFd ns = owned(ns_fd_);
  // Moving another thread would be wrong: then only the descriptors are closed, and the
  // constructing thread stays in the sandbox.
  if (current_tid() == thread_) return_to(original);
}

std::optional<std::string> NetNsSandbox::prepare_process() {
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
    if (f->code != std::errc::no_such_file_or_directory) return reason(*f);
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

std::optional<std::string> NetNsSandbox::unavailable_reason() {
  OwnedFd original;
  OwnedFd ns;
  if (auto f = enter(original, ns)) return reason(*f);
  std::optional<StepFailure> failure;
  try {
    failure = probe_tun();
  } catch (...) {
    return_to(original);
    throw;
  }
  return_to(original);
  if (failure) return reason(*failure);
  return std::nullopt;
}

}  // namespace tunkit::testing
