#pragma once
/// @file
/// `tunkit::testing::NetNsSandbox`: run test code inside a fresh, private network namespace.

#include <sys/types.h>

#include <optional>
#include <string>

#include "tunkit/testing/export.hpp"

namespace tunkit::testing {

/// Owns a fresh network namespace that the calling thread has entered, and the way back: the
/// constructor unshares a new network namespace on the calling thread (only that thread moves;
/// threads and child processes it starts afterwards inherit it) and brings its loopback up; the
/// destructor returns the thread to the namespace it came from. The namespace disappears with
/// its last user, taking every interface made in it along. The host's interfaces are never
/// touched.
///
/// Sandboxes nest: a sandbox made inside another one returns to it. Destroy them in reverse
/// order of construction, on the thread that made them.
///
/// What a sandboxed thread sees: sockets, ioctls, rtnetlink and `/proc/thread-self/net/` show the
/// sandbox. `/sys/class/net` does not: sysfs shows the namespace it was mounted from (the host's,
/// normally), so look interfaces up with if_nametoindex(3), `tunkit::Link` or
/// `/proc/thread-self/net/dev` instead. Note that `/proc/self/net` is the main thread's view.
///
/// Privileges: as root (CAP_SYS_ADMIN) it just works. As a normal user, call
/// `prepare_process()` first thing in main(), before any thread starts: it moves the process into
/// a new user namespace (your uid mapped to 0) where the kernel allows unprivileged user
/// namespaces, after which sandboxes can be made. Opening /dev/net/tun still needs its file mode
/// to allow your user.
///
/// @code
/// if (auto why = tunkit::testing::NetNsSandbox::unavailable_reason()) skip(*why);
/// tunkit::testing::NetNsSandbox sandbox;   // this thread is now in an empty namespace
/// tunkit::TunDevice dev({.name = "tun0"}); // created inside it
/// @endcode
class TUNKIT_TESTING_EXPORT NetNsSandbox {
 public:
  /// Enters a fresh network namespace with loopback up. On failure the calling thread is back in
  /// its original namespace and no descriptor is left open.
  /// @throws tunkit::Error naming the step that failed (open of /proc/thread-self/ns/net; a
  ///   setns(2) probe that the way back will be permitted, which fails where the thread is
  ///   privileged only in a child user namespace; unshare(CLONE_NEWNET); loopback up), e.g.
  ///   `tunkit: unshare(CLONE_NEWNET): operation not permitted (needs CAP_SYS_ADMIN: ...)`.
  NetNsSandbox();
  /// Returns the calling thread to its previous namespace (setns(2)) and closes both namespace
  /// descriptors. Never throws. Must run on the constructing thread: run on another thread it
  /// only closes the descriptors (moving that other thread would be wrong), leaving the
  /// constructing thread in the sandbox.
  ~NetNsSandbox();
  NetNsSandbox(const NetNsSandbox&) = delete;
  NetNsSandbox& operator=(const NetNsSandbox&) = delete;

  /// A descriptor of the sandbox's namespace (owned by the sandbox), e.g. for setns(2).
  [[nodiscard]] int netns_fd() const noexcept { return ns_fd_; }

  /// When not root: unshares a user + network namespace for the whole process (your uid and gid
  /// mapped to 0) so that sandboxes can be made without privileges. The network namespace is
  /// unshared too because a sandbox must be able to return to where it came from, and setns(2)
  /// back into a namespace owned by the initial user namespace needs privileges there. Call it
  /// before any thread is started (the kernel refuses CLONE_NEWUSER in a multi-threaded process).
  /// Returns nullopt on success (or when nothing needed doing: effective uid 0), else the reason,
  /// e.g. "unshare(CLONE_NEWUSER|CLONE_NEWNET): operation not permitted (...)".
  [[nodiscard]] static std::optional<std::string> prepare_process();
  /// Why a sandbox cannot be made here (e.g. "unshare(CLONE_NEWNET): operation not permitted
  /// (needs root, or unprivileged user namespaces: ...)", "/dev/net/tun: permission denied (mode
  /// 0600, owner root: ...)"), or nullopt when it can. Tries it for real on the calling thread:
  /// makes a sandbox, opens /dev/net/tun and creates a TUN device in it (TUNSETIFF), then returns
  /// to the original namespace, leaving nothing behind.
  [[nodiscard]] static std::optional<std::string> unavailable_reason();

 private:
  int original_fd_ = -1;
  int ns_fd_ = -1;
  pid_t thread_ = 0;  // the constructing thread (gettid), the only one the destructor moves back
};

/// The tunkit 0.1 name of `NetNsSandbox` (spelled as `tunkit::NetNs` now).
using NetnsSandbox [[deprecated("use NetNsSandbox")]] = NetNsSandbox;

}  // namespace tunkit::testing
