// Helpers shared by tunkit's examples (and the tunkit tool): the command line and main()'s exit
// statuses, stopping on SIGINT/SIGTERM, deadlines, an owned descriptor. Header-only, like the
// others of this folder: to reuse an example, copy it with the headers of common/ it includes.
#pragma once

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <tunkit/tunkit.hpp>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

namespace example {

// ---------------------------------------------------------------------------------------------
// The command line and main()

/// A mistake on the command line: run_main prints "NAME: MESSAGE" and "Try 'NAME --help'.", exit 2.
struct UsageError {
  std::string message;
};

/// A program, as main() speaks of it.
struct Program {
  std::string_view name;   ///< the first word of every error line
  std::string_view usage;  ///< what --help prints (print_usage adds the exit statuses)
  /// Put before the text of an exception that is not a tunkit::Error.
  std::string_view other_errors = "unexpected error: ";
};

/// The last line of every example's --help: the same exit statuses for all of them.
inline constexpr std::string_view kExitStatuses =
    "Exit status: 0 done, 1 runtime failure, 2 usage error.\n";

/// --help: the program's usage, then the exit statuses.
inline void print_usage(const Program& program) {
  fmt::print("{}\n{}", program.usage, kExitStatuses);
}

/// A usage error as every example reports it: "NAME: MESSAGE" and "Try 'NAME --help'.".
inline void print_usage_error(const Program& program, std::string_view message) {
  fmt::print(stderr, "{}: {}\nTry '{} --help'.\n", program.name, message, program.name);
}

/// ADDRESS/LENGTH of the family `want` (4, 6, or 0 for either), the length written out: a bare
/// address is refused rather than taken as a /32 or /128, a prefix of one address that routes
/// nothing else to the device (so nothing would reach the program). The UsageError names `opt`.
inline tunkit::IpPrefix parse_prefix(std::string_view opt, std::string_view text, int want = 0) {
  const std::string_view family = want == 4 ? "an IPv4 " : want == 6 ? "an IPv6 " : "an ";
  const std::string_view example = want == 6 ? "fd00::1/64" : "10.0.0.1/24";
  const auto p = tunkit::IpPrefix::try_parse(text);
  if (!p || (want == 4 && !p->address.is_v4()) || (want == 6 && p->address.is_v4())) {
    throw UsageError{
        fmt::format("{}: \"{}\" is not {}ADDRESS/LENGTH (e.g. {})", opt, text, family, example)};
  }
  if (text.find('/') == std::string_view::npos) {
    throw UsageError{fmt::format(
        "{}: \"{}\" has no prefix length: write ADDRESS/LENGTH (e.g. {}/{}), the subnet routed "
        "to the device",
        opt, text, text, p->address.is_v4() ? 24 : 64)};
  }
  return *p;
}

/// A decimal number of at most `max_digits` digits (no sign, no space), or nullopt.
/// std::from_chars reports a value that does not fit `unsigned long` (32 bits on some targets)
/// instead of wrapping it, whatever `max_digits` allows.
inline std::optional<unsigned long> to_number(std::string_view text, std::size_t max_digits = 9) {
  if (text.empty() || text.size() > max_digits || text.front() < '0' || text.front() > '9') {
    return std::nullopt;
  }
  unsigned long v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, 10);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return v;
}

/// argv, one argument at a time; an option's value that is missing or wrong is a UsageError.
class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv) {}
  [[nodiscard]] bool done() const { return at_ >= argc_; }
  std::string_view next() { return argv_[at_++]; }
  /// The value of option `opt`: the next argument.
  std::string_view value(std::string_view opt) {
    if (done()) throw UsageError{fmt::format("option {} needs a value", opt)};
    return next();
  }
  /// A value of at most 9 digits.
  unsigned long number(std::string_view opt) {
    const std::string_view text = value(opt);
    const auto v = to_number(text);
    if (!v) throw UsageError{fmt::format("{}: \"{}\" is not a number", opt, text)};
    return *v;
  }
  /// A value ADDRESS/LENGTH of the family `want` (4, 6, or 0 for either): parse_prefix.
  tunkit::IpPrefix prefix(std::string_view opt, int want = 0) {
    return parse_prefix(opt, value(opt), want);
  }
  /// Refuses argument `a`, which the program does not take: the same words in every example.
  [[noreturn]] static void unknown(std::string_view a) {
    if (a.starts_with('-')) throw UsageError{fmt::format("unknown option \"{}\"", a)};
    throw UsageError{fmt::format("unexpected argument \"{}\"", a)};
  }

 private:
  int argc_;
  char** argv_;
  int at_ = 1;
};

/// Runs `body` for its exit status; an exception is printed as "NAME: what" on stderr, exit 1.
/// The "tunkit: " that starts tunkit's own messages is left out: one prefix, the program's.
template <class Body>
int report_errors(const Program& program, Body&& body) {
  try {
    return body();
  } catch (const tunkit::Error& e) {
    std::string_view what = e.what();
    if (what.starts_with("tunkit: ")) what.remove_prefix(8);
    fmt::print(stderr, "{}: {}\n", program.name, what);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: {}{}\n", program.name, program.other_errors, e.what());
  }
  return 1;
}

/// All of main(): stdout line-buffered, then `parse(argc, argv)` gives the configuration
/// (nullopt for --help: the usage, exit 0) or throws UsageError (exit 2), and `run(config)` the
/// exit status (report_errors: 1 for an exception).
template <class Parse, class Run>
int run_main(const Program& program, int argc, char** argv, Parse parse, Run run) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // one log line at a time, even into a pipe
  decltype(parse(argc, argv)) config;
  try {
    config = parse(argc, argv);
  } catch (const UsageError& e) {
    print_usage_error(program, e.message);
    return 2;
  }
  if (!config) {
    print_usage(program);
    return 0;
  }
  return report_errors(program, [&] { return run(*config); });
}

// ---------------------------------------------------------------------------------------------
// Stopping: SIGINT/SIGTERM, deadlines

inline std::atomic<bool> g_stop{false};
inline std::array<std::atomic<tunkit::TunDevice*>, 2> g_stop_devices{};
// How many request_stop() calls are running now, on any thread (a signal handler runs on
// whichever thread the kernel picks): ~StopOnSignal waits for them before its devices may go.
inline std::atomic<int> g_stop_in_flight{0};
static_assert(std::atomic<tunkit::TunDevice*>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

/// True once SIGINT or SIGTERM arrived, or request_stop() was called.
inline bool stop_requested() noexcept {
  return g_stop.load();
}

/// Sets the stop flag and interrupts the devices a StopOnSignal holds, so that their blocked
/// waits return. Async-signal-safe: lock-free atomics, and TunDevice::interrupt() is one write
/// to an eventfd.
inline void request_stop() noexcept {
  // Counted before the devices are read: a ~StopOnSignal that cleared them after this point
  // waits for the decrement, and one that cleared them before it makes the loads see null
  // (sequentially consistent order), so interrupt() never reaches a destroyed device.
  g_stop_in_flight.fetch_add(1);
  g_stop.store(true);
  for (auto& d : g_stop_devices) {
    if (tunkit::TunDevice* dev = d.load()) dev->interrupt();
  }
  g_stop_in_flight.fetch_sub(1);
}

extern "C" inline void example_on_stop_signal(int /*signo*/) {
  request_stop();
}

/// While it lives, SIGINT and SIGTERM call request_stop() for `a` (and `b`). Declare it after
/// the devices: it goes first, on every exit path (a return or an exception), and once it is
/// gone no handler still running or yet to come touches them. The handler stays installed and
/// then only sets the stop flag.
class StopOnSignal {
 public:
  explicit StopOnSignal(tunkit::TunDevice& a, tunkit::TunDevice* b = nullptr) {
    g_stop_devices[0].store(&a);
    g_stop_devices[1].store(b);
    std::signal(SIGINT, example_on_stop_signal);
    std::signal(SIGTERM, example_on_stop_signal);
  }
  ~StopOnSignal() {
    for (auto& d : g_stop_devices)
      d.store(nullptr);
    // A handler on another thread may have read a device just before: let it finish (one
    // eventfd write). A handler interrupting this thread finishes before the loop resumes.
    while (g_stop_in_flight.load() != 0)
      std::this_thread::yield();
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;
};

/// An owned descriptor, closed once (close is never retried on EINTR).
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) (void)::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

/// Blocks SIGINT and SIGTERM (never delivered the default way then) and opens a signalfd(2)
/// that reads them, for a poll or epoll loop. -1 on failure, errno set, `failed` the call's name.
inline int open_signal_fd(const char*& failed) noexcept {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  failed = "sigprocmask";
  if (::sigprocmask(SIG_BLOCK, &mask, nullptr) != 0) return -1;
  failed = "signalfd";
  return ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

/// A point `budget` from now, or none when `budget` is zero.
class Deadline {
 public:
  explicit Deadline(std::chrono::milliseconds budget) {
    if (budget.count() != 0) at_ = std::chrono::steady_clock::now() + budget;
  }
  /// The time left: -1 ms (wait forever) without a deadline, nullopt once it has passed.
  [[nodiscard]] std::optional<std::chrono::milliseconds> left() const {
    if (!at_) return std::chrono::milliseconds(-1);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        *at_ - std::chrono::steady_clock::now());
    if (ms.count() <= 0) return std::nullopt;
    return ms;
  }

 private:
  std::optional<std::chrono::steady_clock::time_point> at_;
};

/// Waits until `dev` is readable, at most until `deadline`, and reads one packet into `buf`: its
/// length, with `ec` as the read set it (EAGAIN, packet_truncated, ...); nullopt to stop: the
/// deadline has passed, or a signal interrupted the device.
inline std::optional<std::size_t> read_until(tunkit::TunDevice& dev, const Deadline& deadline,
                                             std::span<std::byte> buf, std::error_code& ec) {
  const auto wait = deadline.left();  // -1 ms: forever
  if (!wait) return std::nullopt;
  if (dev.wait_readable(*wait) != tunkit::WaitResult::ready) return std::nullopt;
  const std::size_t n = dev.read(buf, ec);
  if (ec == tunkit::errc::interrupted) return std::nullopt;
  return n;
}

/// Waits until stop_requested() or the deadline has passed, then request_stop().
inline void stop_at(const Deadline& deadline) {
  while (!stop_requested() && deadline.left())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  request_stop();
}

}  // namespace example
