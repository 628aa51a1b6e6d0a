#pragma once
// Running programs from namespace tests the way a user would: a command with its output, a
// background program whose output is read line by line, and namespaces to run them in. Every
// wait is bounded; a program still running when its Child is destroyed is killed.
//
// A child process inherits the network namespace of the thread that forks it, so a test inside a
// NetNsSandbox runs its commands there; `Netns` adds namespaces that a child enters with setns(2)
// before exec (as `ip netns exec` does), so that one test can use several.

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tunkit/testing/netns_sandbox.hpp"

namespace tunkit::test {

/// A network namespace kept alive by a descriptor (not entered by any thread).
class Netns {
 public:
  /// A fresh namespace with loopback up.
  Netns() {
    const testing::NetNsSandbox sandbox;  // enters it; the destructor comes back
    fd_ = ::fcntl(sandbox.netns_fd(), F_DUPFD_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error("dup of a namespace descriptor failed");
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns() { ::close(fd_); }

  [[nodiscard]] int fd() const noexcept { return fd_; }
  /// A path naming the namespace for other programs, e.g. `ip link set DEV netns PATH`.
  [[nodiscard]] std::string path() const {
    return "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_);
  }

 private:
  int fd_ = -1;
};

/// Moves the calling thread into `ns` for the rest of its life (for worker threads of a test).
inline void enter(const Netns& ns) {
  if (::setns(ns.fd(), CLONE_NEWNET) != 0) throw std::runtime_error("setns failed");
}

/// The words of TUNKIT_TEST_LAUNCHER (split at spaces), e.g. "valgrind --leak-check=full
/// --error-exitcode=1": `./dev valgrind` runs every program the tests start (examples, the CLI)
/// under it. Empty when unset.
inline std::vector<std::string> launcher() {
  std::vector<std::string> words;
  const char* env = std::getenv("TUNKIT_TEST_LAUNCHER");
  if (env == nullptr) return words;
  const std::string_view s(env);
  for (std::size_t at = 0; at < s.size();) {
    const std::size_t end = std::min(s.find(' ', at), s.size());
    if (end > at) words.emplace_back(s.substr(at, end - at));
    at = end + 1;
  }
  return words;
}

/// `launcher()` as a shell command prefix ("" or "valgrind ... ").
inline std::string launcher_prefix() {
  std::string out;
  for (const auto& w : launcher())
    out += w + " ";
  return out;
}

/// A program running in the background with stdout and stderr in one pipe.
class Child {
 public:
  /// Starts `argv` (argv[0] is a path) in the calling thread's namespace, or in `ns`. A program
  /// other than the shell starts under `launcher()` when TUNKIT_TEST_LAUNCHER is set.
  explicit Child(const std::vector<std::string>& argv, const Netns* ns = nullptr) {
    std::vector<std::string> full = argv[0] == "/bin/sh" ? std::vector<std::string>{} : launcher();
    full.insert(full.end(), argv.begin(), argv.end());
    std::vector<char*> args;
    for (const auto& a : full)
      args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int ns_fd = ns != nullptr ? ns->fd() : -1;
    std::array<int, 2> p{};
    if (::pipe2(p.data(), O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {  // only async-signal-safe calls from here
      if (ns_fd >= 0 && ::setns(ns_fd, CLONE_NEWNET) != 0) ::_exit(126);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, STDIN_FILENO);
      ::dup2(p[1], STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copies
      ::dup2(p[1], STDERR_FILENO);
      ::execvp(args[0], args.data());  // a path, or the launcher looked up in PATH
      ::_exit(127);
    }
    ::close(p[1]);
    out_ = p[0];
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
  }

  /// Reads output until a line containing `text` arrives or `budget` passes; returns the line.
  std::optional<std::string> wait_for_line(std::string_view text,
                                           std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
      for (std::size_t at = 0, nl; (nl = text_.find('\n', at)) != std::string::npos; at = nl + 1) {
        const std::string_view line = std::string_view(text_).substr(at, nl - at);
        if (line.find(text) != std::string_view::npos) return std::string(line);
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return std::nullopt;
    }
  }

  /// Sends `signo` to the program.
  void signal(int signo) const {
    if (pid_ > 0) ::kill(pid_, signo);
  }

  /// Waits up to `budget` for the program to exit; returns its exit status (128 + signal when
  /// killed), or nullopt when it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        while (read_some(1000)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      (void)read_some(20);  // keep the pipe drained, so that the program never blocks on it
    }
  }

  /// The program's process id (-1 once it has been waited for).
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Everything the program printed so far.
  [[nodiscard]] const std::string& output() const noexcept { return text_; }

 private:
  bool read_some(int timeout_ms) {
    pollfd pfd{out_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
    std::array<char, 4096> buf{};
    const ssize_t n = ::read(out_, buf.data(), buf.size());
    if (n <= 0) return false;
    text_.append(buf.data(), static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string text_;
};

/// What a command printed (stdout and stderr) and its exit status.
struct Result {
  int status = -1;  ///< exit status; -1 when it had to be killed after the budget
  std::string output;
};

/// Runs a shell command in the calling thread's namespace (or in `ns`), at most `budget` long.
inline Result run(const std::string& command, const Netns* ns = nullptr,
                  std::chrono::milliseconds budget = std::chrono::seconds(30)) {
  Child child({"/bin/sh", "-c", command}, ns);
  const auto status = child.wait_exit(budget);
  return {status.value_or(-1), child.output()};
}

/// Runs a program with arguments (no shell), at most `budget` long.
inline Result run_program(const std::vector<std::string>& argv, const Netns* ns = nullptr,
                          std::chrono::milliseconds budget = std::chrono::seconds(30)) {
  Child child(argv, ns);
  const auto status = child.wait_exit(budget);
  return {status.value_or(-1), child.output()};
}

/// Number of lines of `text` that contain `needle`.
inline std::size_t count_lines_with(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = 0, nl; (nl = text.find('\n', at)) != std::string_view::npos; at = nl + 1) {
    if (text.substr(at, nl - at).find(needle) != std::string_view::npos) ++n;
  }
  return n;
}

}  // namespace tunkit::test
