// tunkit_stress: the reliability figures, reproducible (`./dev stress [SECONDS]`).
//
// Five parts, each run in a child process of its own (this program again, with --part), so that a
// crash is reported as a crash and a hang as a hang, and each inside a network namespace that it
// makes first (tunkit::testing::NetNsSandbox): the host's interfaces are never touched.
//
//   storm      create/destroy cycles (TUN and TAP, persistent or not, multi-queue up to 256
//              queues): no descriptor and no device left behind
//   load       a 256-queue TUN device served by 8 threads while UDP datagrams go through the
//              kernel into it and are echoed back: no failed call, no corrupted datagram
//   link-del   `ip link del` under readers blocked in every way (read, readv, wait_readable,
//              BatchIo loop and io_uring, Asio): each returns promptly with the documented error
//   malformed  random and mutated packets through every write path (write, writev, BatchIo
//              write_batch and write_packets on both backends), with and without a virtio-net
//              header and packet information: every call answers, nothing leaks
//   events     LinkEvents with a tiny receive buffer while devices come and go: the kernel drops
//              notifications (ENOBUFS), and the view it ends with must equal `ip -j link`
//
// The run's SECONDS are shared among the selected parts by weight; every loop is bounded by its
// part's time share and by a count proportional to it. The seed (printed) makes the random
// choices of a run repeatable: --seed N.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "stress.hpp"
#include "tunkit/testing/netns_sandbox.hpp"

namespace {

using tunkit::stress::Clock;
using tunkit::stress::Report;
using tunkit::stress::Settings;

struct Part {
  const char* name;
  double weight;  // share of the run's seconds
  void (*run)(const Settings&, Report&);
  const char* what;
};

constexpr Part kParts[] = {
    {"storm", 0.15, tunkit::stress::run_storm, "create/destroy storm"},
    {"load", 0.30, tunkit::stress::run_load, "256 queues, 8 threads, UDP echo"},
    {"link-del", 0.15, tunkit::stress::run_link_del, "ip link del under blocked readers"},
    {"malformed", 0.25, tunkit::stress::run_malformed, "malformed writes on every write path"},
    {"events", 0.15, tunkit::stress::run_events, "LinkEvents overflow storm"},
};

constexpr const char* kUsage =
    "usage: tunkit_stress [--seconds N] [--seed N] [--max-latency-ms N] [PART...]\n"
    "  PART: storm load link-del malformed events (default: all, in this order)\n"
    "  --seconds N         the whole run's time, shared among the parts (default 60)\n"
    "  --seed N            the random seed (default: a new one, printed)\n"
    "  --max-latency-ms N  link-del: a reader returning later than this fails (default 1000)\n"
    "Needs root (or unprivileged user namespaces); exit 0 when every part passed, 1 when one\n"
    "failed, crashed or hung, 77 when namespaces are unavailable (1 with CI=true).\n";

bool ci() {
  const char* v = std::getenv("CI");
  return v != nullptr && std::strcmp(v, "true") == 0;
}

const Part* find_part(const std::string& name) {
  for (const Part& p : kParts) {
    if (name == p.name) return &p;
  }
  return nullptr;
}

// The child: one part, in a namespace of its own.
int run_child(const Part& part, const Settings& settings) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Report report(part.name);
  try {
    tunkit::testing::NetNsSandbox sandbox;
    part.run(settings, report);
  } catch (const std::exception& e) {
    report.fail(fmt::format("uncaught exception: {}", e.what()));
  }
  return report.failures() == 0 ? 0 : 1;
}

// Runs one part in a child process; returns its verdict ("passed", "FAILED", "CRASHED (SIGSEGV)",
// "HUNG") and whether it passed.
std::pair<std::string, bool> run_part(const Part& part, double seconds, std::uint64_t seed,
                                      double max_latency_ms) {
  std::fflush(stdout);
  const std::string s_seconds = fmt::format("{:.3f}", seconds);
  const std::string s_seed = std::to_string(seed);
  const std::string s_latency = fmt::format("{}", max_latency_ms);
  const pid_t pid = ::fork();
  if (pid < 0) return {"FAILED (fork)", false};
  if (pid == 0) {
    const char* args[] = {"tunkit_stress",   "--part", part.name,      "--seconds",
                          s_seconds.c_str(), "--seed", s_seed.c_str(), "--max-latency-ms",
                          s_latency.c_str(), nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(args));
    std::perror("tunkit_stress: exec /proc/self/exe");
    ::_exit(127);
  }
  // A part ends on its own soon after its share (its loops check the time); one that runs past
  // twice its share plus 60 s is stuck.
  const auto limit = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(2 * seconds + 60));
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return {"FAILED (waitpid)", false};
    if (Clock::now() > limit) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return {fmt::format("HUNG (killed after {:.0f} s)", 2 * seconds + 60), false};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return {fmt::format("CRASHED (SIG{})", name != nullptr ? name : "?"), false};
  }
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) return {"passed", true};
  return {fmt::format("FAILED (exit {})", code), false};
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60;
  double max_latency_ms = 1000;
  std::uint64_t seed = std::random_device{}();
  std::vector<const Part*> selected;
  const Part* child = nullptr;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--seconds") {
        seconds = std::stod(value());
        if (!(seconds > 0)) throw std::invalid_argument("--seconds must be positive");
      } else if (a == "--seed") {
        seed = std::stoull(value());
      } else if (a == "--max-latency-ms") {
        max_latency_ms = std::stod(value());
      } else if (a == "--part") {
        child = find_part(value());
        if (child == nullptr) throw std::invalid_argument("unknown part");
      } else if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (const Part* p = find_part(a)) {
        selected.push_back(p);
      } else {
        throw std::invalid_argument("unknown argument '" + a + "'");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tunkit_stress: %s\n%s", e.what(), kUsage);
    return 2;
  }
  if (child != nullptr) {
    return run_child(
        *child,
        Settings{.seconds = seconds, .seed = seed, .max_latency_ms = max_latency_ms, .ci = ci()});
  }
  if (selected.empty()) {
    for (const Part& p : kParts)
      selected.push_back(&p);
  }

  // Root, or a user namespace where the kernel allows one (made for the whole process before
  // any thread; the parts inherit it). Without either, say why and skip (fail under CI).
  auto why = tunkit::testing::NetNsSandbox::prepare_process();
  if (!why) why = tunkit::testing::NetNsSandbox::unavailable_reason();
  if (why) {
    if (ci()) {
      std::fprintf(stderr, "tunkit_stress: FAILED: cannot run under CI: %s\n", why->c_str());
      return 1;
    }
    std::printf("tunkit_stress: skipped: %s\n", why->c_str());
    return 77;
  }

  double weights = 0;
  for (const Part* p : selected)
    weights += p->weight;
  std::string names;
  for (const Part* p : selected)
    names += std::string(" ") + p->name;
  std::printf("== tunkit stress: %.0f s in all, seed %llu, parts:%s ==\n", seconds,
              static_cast<unsigned long long>(seed), names.c_str());
  const auto start = Clock::now();
  std::vector<std::string> summary;
  bool all_passed = true;
  for (const Part* p : selected) {
    const double share = seconds * p->weight / weights;
    std::printf("-- %s: %s (%.0f s)\n", p->name, p->what, share);
    const auto t0 = Clock::now();
    const auto [verdict, passed] = run_part(*p, share, seed, max_latency_ms);
    const double took = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("-- %s: %s in %.1f s\n", p->name, verdict.c_str(), took);
    summary.push_back(fmt::format("  {:<10} {:<28} {:6.1f} s", p->name, verdict, took));
    all_passed = all_passed && passed;
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("== tunkit stress: %s in %.1f s (seed %llu) ==\n",
              all_passed ? "every part passed" : "FAILED", total,
              static_cast<unsigned long long>(seed));
  for (const std::string& line : summary)
    std::printf("%s\n", line.c_str());
  return all_passed ? 0 : 1;
}
