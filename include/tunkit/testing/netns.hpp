#pragma once
/// @file
/// `tunkit::testing::NetnsSandbox`: run test code inside a fresh, private network namespace.

#include <optional>
#include <string>

namespace tunkit::testing {

/// Owns a fresh network namespace that the calling thread has entered, and the way back: the
/// constructor unshares a new network namespace on the calling thread (only that thread moves;
/// threads and child processes it starts afterwards inherit it) and brings its loopback up; the
/// destructor returns the thread to the namespace it came from. The namespace disappears with
/// its last user, taking every interface made in it along. The host's interfaces are never
/// touched.
///
/// Privileges: as root (CAP_SYS_ADMIN) it just works. As a normal user, call
/// `prepare_process()` first thing in main(), before any thread starts: it moves the process into
/// a new user namespace (your uid mapped to 0) where the kernel allows unprivileged user
/// namespaces, after which sandboxes can be made. Opening /dev/net/tun still needs its file mode
/// to allow your user.
///
/// @code
/// if (auto why = tunkit::testing::NetnsSandbox::unavailable_reason()) skip(*why);
/// tunkit::testing::NetnsSandbox sandbox;   // this thread is now in an empty namespace
/// tunkit::TunDevice dev({.name = "tun0"}); // created inside it
/// @endcode
class NetnsSandbox {
 public:
  /// Enters a fresh network namespace with loopback up.
  /// @throws tunkit::Error naming the step that failed (unshare, setns, loopback up).
  NetnsSandbox();
  /// Returns the calling thread to its previous namespace. Must run on the constructing thread.
  ~NetnsSandbox();
  NetnsSandbox(const NetnsSandbox&) = delete;
  NetnsSandbox& operator=(const NetnsSandbox&) = delete;

  /// A descriptor of the sandbox's namespace (owned by the sandbox), e.g. for setns(2).
  [[nodiscard]] int netns_fd() const noexcept { return ns_fd_; }

  /// When not root: unshares a user + network namespace for the whole process (your uid and gid
  /// mapped to 0) so that sandboxes can be made without privileges. Call it before any thread is
  /// started. Returns nullopt on success (or when nothing needed doing), else the reason.
  static std::optional<std::string> prepare_process();
  /// Why a sandbox cannot be made here (e.g. "unshare(CLONE_NEWNET): operation not permitted
  /// (needs root or unprivileged user namespaces)", "/dev/net/tun: permission denied"), or nullopt
  /// when it can. Tries it for real, and leaves nothing behind.
  static std::optional<std::string> unavailable_reason();

 private:
  int original_fd_ = -1;
  int ns_fd_ = -1;
};

}  // namespace tunkit::testing
