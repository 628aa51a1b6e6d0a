#pragma once
// tunkit_stress: what the parts share. Each part runs in a child process of its own (main.cpp),
// inside a network namespace it makes first, and reports through one `Report`: named counts,
// printed in the order they were first counted, and failures, printed as they happen. A part
// fails when it records a failure; a crash or a hang is the parent's to see.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tunkit/fwd.hpp"

namespace tunkit::stress {

using Clock = std::chrono::steady_clock;

/// What the parent hands a part: its share of the time, the run's seed, and the settings.
struct Settings {
  double seconds = 0;            ///< this part's share of the run
  std::uint64_t seed = 0;        ///< the run's seed (random packets, choices)
  double max_latency_ms = 1000;  ///< link-del: slower than this after `ip link del` fails
  bool ci = false;               ///< CI=true: a part of the run that cannot run is a failure
};

/// A part's loops run while there is time left in its share and fewer than `max` iterations
/// were made (a count bound proportional to the share, so a longer run does more).
class Budget {
 public:
  Budget(double seconds, double per_second)
      : deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(seconds))),
        max_(static_cast<std::uint64_t>(seconds * per_second) + 1) {}
  /// Whether iteration number `done` (from 0) may start.
  [[nodiscard]] bool more(std::uint64_t done) const { return done < max_ && !expired(); }
  /// Whether the time share has passed.
  [[nodiscard]] bool expired() const { return Clock::now() >= deadline_; }
  /// The count bound.
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }
  /// When the time share ends.
  [[nodiscard]] Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  Clock::time_point deadline_;
  std::uint64_t max_;
};

/// Counts and failures of one part; safe to use from several threads.
class Report {
 public:
  explicit Report(std::string part) : part_(std::move(part)) {}
  /// Adds `n` to the counter `what`.
  void count(const std::string& what, std::uint64_t n = 1);
  /// Adds every counter of `counts`.
  void merge(const std::map<std::string, std::uint64_t>& counts);
  /// The counter `what` (0 when never counted).
  [[nodiscard]] std::uint64_t get(const std::string& what) const;
  /// Records and prints a failure ("PART: FAIL: what"); prints at most 20 of them.
  void fail(const std::string& what);
  /// Prints a line ("PART: text").
  void note(const std::string& text) const;
  /// Prints the counters whose names start with `prefix` on one line, "PART: title: a 1, b 2".
  void print_counts(std::string_view title, std::string_view prefix) const;
  /// Failures so far.
  [[nodiscard]] std::size_t failures() const;

 private:
  std::string part_;
  mutable std::mutex mutex_;
  std::vector<std::string> order_;
  std::map<std::string, std::uint64_t> counts_;
  std::size_t failures_ = 0;
};

/// Descriptors open in this process (entries of /proc/self/fd, the directory's own included).
[[nodiscard]] std::size_t open_fds();
/// The TUN/TAP devices of the calling thread's namespace, by name (rtnetlink).
[[nodiscard]] std::set<std::string> tun_devices();
/// This process's resident memory in KiB (VmRSS).
[[nodiscard]] long rss_kib();

/// Descriptors and devices at one moment; `check_same` fails the report when they differ later.
struct Baseline {
  std::size_t fds = 0;
  std::set<std::string> devices;
  /// Now.
  [[nodiscard]] static Baseline take();
  /// Fails `report` (naming `when`) when the descriptors or devices now differ from this one.
  bool check_same(Report& report, std::string_view when) const;
};

/// Runs a program (PATH lookup) and waits for it; its output goes to /dev/null. Returns its exit
/// status, or -1 when it could not run or was killed.
int run_program(const std::vector<std::string>& argv);
/// Runs a command through the shell and returns what it printed on stdout.
[[nodiscard]] std::string capture(const std::string& command);

/// "EINVAL" for an errno, "tunkit: <message>" for tunkit's codes, "ok" for none.
[[nodiscard]] std::string error_name(const std::error_code& ec);

/// Swaps source and destination (IPv4 addresses, UDP ports) in place: the reply, with both
/// checksums still valid. False when `p` is not IPv4 UDP with a whole header.
bool turn_around_udp4(std::span<std::byte> p);

/// Latencies of one kind, in microseconds.
struct Latencies {
  std::vector<double> us;
  /// "n N, p50 A ms, p99 B ms, max C ms" (or "none").
  [[nodiscard]] std::string summary() const;
  /// The worst, in ms (0 when none).
  [[nodiscard]] double worst_ms() const;
};

// The parts. Each is called on the main thread of its child process, inside a fresh network
// namespace, and reports through `report`.
void run_storm(const Settings& settings, Report& report);
void run_load(const Settings& settings, Report& report);
void run_link_del(const Settings& settings, Report& report);
void run_malformed(const Settings& settings, Report& report);
void run_events(const Settings& settings, Report& report);

#if TUNKIT_STRESS_ASIO
/// Reads one packet from `queue` with `tunkit::AsyncQueue` in an io_context of its own, adding 1
/// to `entered` once the read is started; returns the read's error (link_del_asio.cpp).
std::error_code asio_read(tunkit::Queue& queue, std::atomic<int>& entered);
#endif

}  // namespace tunkit::stress
