// The ping_responder example, run for real inside a sandbox and pinged with iputils' ping.
// TUNKIT_PING_RESPONDER (the built example's path) comes from tests/CMakeLists.txt.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "catch.hpp"
#include "tunkit/testing/netns.hpp"

#ifndef TUNKIT_PING_RESPONDER

TEST_CASE("ping_responder answers ping and ping -6", "[netns][example]") {
  WARN("ping_responder was not built (TUNKIT_BUILD_EXAMPLES=OFF): nothing to test");
}

#else

namespace {

using namespace std::chrono_literals;

// Runs a shell command (in the calling thread's namespace), returns its exit status and output.
std::pair<int, std::string> run(const std::string& command) {
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(f != nullptr);
  std::string out;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), f) != nullptr)
    out += buf.data();
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

// A child process with stdout and stderr in a pipe, killed if a test ends while it still runs.
class Child {
 public:
  explicit Child(const std::array<const char*, 6>& argv) {
    std::array<int, 2> p{};
    REQUIRE(::pipe2(p.data(), O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // dup2 clears O_CLOEXEC on the copies
      ::dup2(p[1], STDOUT_FILENO);
      ::dup2(p[1], STDERR_FILENO);
      ::execv(argv[0], const_cast<char* const*>(argv.data()));
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

  // Reads output until a line starting with `prefix` arrives or `budget` passes; returns it.
  std::optional<std::string> wait_for_line(std::string_view prefix,
                                           std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
      for (std::size_t at = 0, nl; (nl = text_.find('\n', at)) != std::string::npos; at = nl + 1) {
        if (std::string_view(text_).substr(at).starts_with(prefix)) {
          return text_.substr(at, nl - at);
        }
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || !read_some(static_cast<int>(left.count()))) return std::nullopt;
    }
  }

  // Waits up to `budget` for the child to exit; returns its exit status, or nullopt.
  std::optional<int> wait_exit(std::chrono::milliseconds budget) {
    const auto deadline = std::chrono::steady_clock::now() + budget;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      REQUIRE(r >= 0);
      if (r == pid_) {
        pid_ = -1;
        while (read_some(1000)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  [[nodiscard]] const std::string& output() const noexcept { return text_; }

 private:
  // One read after up to `timeout_ms` of waiting; false at end of output or on timeout.
  bool read_some(int timeout_ms) {
    pollfd pfd{out_, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
    std::array<char, 1024> buf{};
    const ssize_t n = ::read(out_, buf.data(), buf.size());
    if (n <= 0) return false;
    text_.append(buf.data(), static_cast<std::size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string text_;
};

std::size_t count_lines(const std::string& text, std::string_view prefix) {
  std::size_t n = 0;
  for (std::size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    if (std::string_view(text).substr(at).starts_with(prefix)) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("ping_responder answers ping and ping -6", "[netns][example]") {
  tunkit::testing::NetnsSandbox sandbox;
  if (run("command -v ping").first != 0) {
    WARN("ping (iputils-ping) is not installed: nothing to test");
    return;
  }

  // --timeout bounds the responder even if the pings never reach it.
  Child responder({TUNKIT_PING_RESPONDER, "--count", "4", "--timeout", "30", nullptr});
  const auto ready = responder.wait_for_line("ready: ", 10s);
  INFO("responder output:\n" << responder.output());
  REQUIRE(ready);
  CHECK(*ready == "ready: tunkit0 10.77.0.1/24 fd00:77::1/64");  // a fresh namespace: tunkit0

  const auto [v4_status, v4_out] = run("ping -c 2 -W 2 10.77.0.2");
  INFO("ping:\n" << v4_out);
  CHECK(v4_status == 0);
  const auto [v6_status, v6_out] = run("ping -6 -c 2 -W 2 fd00:77::2");
  INFO("ping -6:\n" << v6_out);
  CHECK(v6_status == 0);

  const auto status = responder.wait_exit(10s);
  INFO("responder output:\n" << responder.output());
  REQUIRE(status);
  CHECK(*status == 0);
  CHECK(count_lines(responder.output(), "tx ") == 4);
  CHECK(count_lines(responder.output(), "done: 4 replies") == 1);
}

#endif
