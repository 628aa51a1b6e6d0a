// `tunkit run`'s hand-over: starting a command with a device's queues as inherited descriptors
// under the LISTEN_FDS convention, without privileges.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace tunkit_cli {

/// Who the command runs as.
struct Identity {
  std::optional<uid_t> uid;  ///< setresuid to this user (unset: the caller's)
  std::optional<gid_t> gid;  ///< setresgid to this group (unset: the caller's)
};

/// The step of the child's preparation that failed, reported to the parent over a pipe.
enum class RunStep : int {
  descriptors,
  environment,
  groups,
  gid,
  uid,
  capabilities,
  no_new_privs,
  exec
};

/// The words for a step in `tunkit run`'s message.
inline const char* step_name(RunStep s) {
  switch (s) {
    case RunStep::descriptors:
      return "passing the queue descriptors";
    case RunStep::environment:
      return "setting LISTEN_FDS";
    case RunStep::groups:
      return "setgroups";
    case RunStep::gid:
      return "setresgid";
    case RunStep::uid:
      return "setresuid";
    case RunStep::capabilities:
      return "dropping capabilities";
    case RunStep::no_new_privs:
      return "PR_SET_NO_NEW_PRIVS";
    case RunStep::exec:
      return "exec";
  }
  return "?";
}

/// What the child writes to the parent when a step fails: the step and errno.
struct ChildFailure {
  int step = 0;
  int err = 0;
};

namespace run_detail {

// Writes the failure to `pipe_fd` and ends the child: 127 when the command was not found, 126
// when it could not be executed (as a shell does), 1 otherwise.
[[noreturn]] inline void child_fail(int pipe_fd, RunStep step, int err) noexcept {
  const ChildFailure f{static_cast<int>(step), err};
  (void)!::write(pipe_fd, &f, sizeof f);
  if (step == RunStep::exec) ::_exit(err == ENOENT ? 127 : 126);
  ::_exit(1);
}

// Drops the bounding set (needs CAP_SETPCAP, which root has; without it the bounding set stays,
// and no_new_privs still keeps exec from granting anything) and the ambient set: before the uid
// changes, while the capabilities to do so are still there.
inline int drop_bounding_and_ambient() noexcept {
  int last = 63;
  if (const int fd = ::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC); fd >= 0) {
    std::array<char, 16> buf{};
    const ssize_t n = ::read(fd, buf.data(), buf.size() - 1);
    ::close(fd);
    if (n > 0) last = std::atoi(buf.data());
  }
  for (int cap = 0; cap <= last; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM) {
      return errno;
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return errno;
  }
  return 0;
}

// Clears the effective, permitted and inheritable sets (a uid change from root to another user
// has cleared the first two already; without one, this is what takes them).
inline int clear_capabilities() noexcept {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::syscall(SYS_capset, &header, data.data()) != 0) return errno;
  return 0;
}

}  // namespace run_detail

/// In the child, after fork: makes `queues` descriptors 3, 4, ... (inheritable, every other
/// descriptor close-on-exec), sets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES (`name` for each),
/// takes on `who` with no supplementary groups, drops every capability, sets no_new_privs and
/// executes `argv`. Never returns: a failed step is written to `pipe_fd` (close-on-exec, so the
/// parent reads nothing when exec succeeds).
[[noreturn]] inline void exec_with_queues(const std::vector<int>& queues, const std::string& name,
                                          const Identity& who, char* const* argv,
                                          int pipe_fd) noexcept {
  // Signals as a fresh program expects them.
  sigset_t none;
  sigemptyset(&none);
  (void)::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
    (void)::signal(sig, SIG_DFL);

  const int n = static_cast<int>(queues.size());
  // Out of the way first (the pipe and the queues may sit on 3, 4, ...), then into place: dup2
  // clears FD_CLOEXEC on the copy.
  int pipe_high = ::fcntl(pipe_fd, F_DUPFD_CLOEXEC, 3 + n);
  if (pipe_high < 0) run_detail::child_fail(pipe_fd, RunStep::descriptors, errno);
  pipe_fd = pipe_high;
  std::vector<int> high(queues.size());
  for (std::size_t i = 0; i < queues.size(); ++i) {
    high[i] = ::fcntl(queues[i], F_DUPFD_CLOEXEC, 3 + n);
    if (high[i] < 0) run_detail::child_fail(pipe_fd, RunStep::descriptors, errno);
  }
  for (int i = 0; i < n; ++i) {
    if (::dup2(high[static_cast<std::size_t>(i)], 3 + i) < 0) {
      run_detail::child_fail(pipe_fd, RunStep::descriptors, errno);
    }
  }
  // Everything else this process holds stays behind at exec.
  if (::syscall(SYS_close_range, 3 + n, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3 + n; fd < 4096; ++fd) {
      if (fd != pipe_fd) (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }

  std::string names;
  for (int i = 0; i < n; ++i)
    names += (i == 0 ? "" : ":") + name;
  if (::setenv("LISTEN_FDS", std::to_string(n).c_str(), 1) != 0 ||
      ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1) != 0 ||
      ::setenv("LISTEN_FDNAMES", names.c_str(), 1) != 0) {
    run_detail::child_fail(pipe_fd, RunStep::environment, errno);
  }

  if (who.uid || who.gid) {
    if (::setgroups(0, nullptr) != 0) run_detail::child_fail(pipe_fd, RunStep::groups, errno);
  }
  if (who.gid && ::setresgid(*who.gid, *who.gid, *who.gid) != 0) {
    run_detail::child_fail(pipe_fd, RunStep::gid, errno);
  }
  // The bounding set needs CAP_SETPCAP: dropped before the uid change takes it away.
  if (const int err = run_detail::drop_bounding_and_ambient(); err != 0) {
    run_detail::child_fail(pipe_fd, RunStep::capabilities, err);
  }
  if (who.uid && ::setresuid(*who.uid, *who.uid, *who.uid) != 0) {
    run_detail::child_fail(pipe_fd, RunStep::uid, errno);
  }
  if (const int err = run_detail::clear_capabilities(); err != 0) {
    run_detail::child_fail(pipe_fd, RunStep::capabilities, err);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    run_detail::child_fail(pipe_fd, RunStep::no_new_privs, errno);
  }
  ::execvp(argv[0], argv);
  run_detail::child_fail(pipe_fd, RunStep::exec, errno);
}

/// Waits for `child` to end, forwarding to it every signal of `forwarded` (blocked by the caller)
/// but SIGCHLD, which tells that a child changed state; returns its waitpid status.
inline int forward_until_exit(pid_t child, const sigset_t& forwarded) {
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child || (done < 0 && errno != EINTR)) return done == child ? status : 0;
    siginfo_t info{};
    const int sig = ::sigwaitinfo(&forwarded, &info);
    if (sig > 0 && sig != SIGCHLD) (void)::kill(child, sig);
  }
}

/// The exit status a shell reports for `status` from waitpid: the code, or 128 + the signal.
inline int shell_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace tunkit_cli
