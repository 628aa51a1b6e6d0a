// tunkit_stress, part "link-del": `ip link del` under readers blocked in every way tunkit offers
// (Queue::read in both forms, Queue::readv, Queue::wait_readable, BatchIo::read_batch with the
// loop and with io_uring, tunkit::AsyncQueue::async_read). Rounds alternate between a
// multi-queue device with one reader of each kind on a queue of its own, all deleted at once,
// and a single-queue device with one reader, TUN and TAP in turn. Every reader must return
// within --max-latency-ms of the start of `ip link del` with the documented error: EBADFD, "device
// removed or not attached (the interface was deleted)" (wait_readable reports the descriptor
// ready, and the read after it fails so). The latency is measured from the moment `ip` is
// started, so it includes starting it.
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "stress.hpp"
#include "tunkit/batch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"

namespace tunkit::stress {
namespace {

enum class Kind { read, read_throwing, readv, wait, batch_loop, batch_uring, asio };

const char* name(Kind k) {
  switch (k) {
    case Kind::read:
      return "read";
    case Kind::read_throwing:
      return "read(throwing)";
    case Kind::readv:
      return "readv";
    case Kind::wait:
      return "wait_readable";
    case Kind::batch_loop:
      return "BatchIo(loop)";
    case Kind::batch_uring:
      return "BatchIo(io_uring)";
    case Kind::asio:
      return "AsyncQueue";
  }
  return "?";
}

const std::error_code kDeleted(EBADFD, std::system_category());
constexpr const char* kDeletedText = "device removed or not attached (the interface was deleted)";

struct Outcome {
  std::error_code ec;   // the blocked call's error
  std::string message;  // the throwing form's message
  WaitResult wait = WaitResult::timeout;
  std::error_code after_wait;  // the read after wait_readable
  std::atomic<Clock::rep> returned{0};
};

void blocked_reader(Kind kind, Queue& q, std::atomic<int>& entered, Outcome& out) {
  std::array<std::byte, 2048> buf{};
  switch (kind) {
    case Kind::read:
      ++entered;
      (void)q.read(buf, out.ec);
      break;
    case Kind::read_throwing:
      ++entered;
      try {
        (void)q.read(buf);
      } catch (const tunkit::Error& e) {
        out.ec = e.code();
        out.message = e.what();
      }
      break;
    case Kind::readv: {
      const std::array<std::span<std::byte>, 2> parts{std::span(buf).first(100),
                                                      std::span(buf).subspan(100)};
      ++entered;
      (void)q.readv(parts, out.ec);
      break;
    }
    case Kind::wait:
      ++entered;
      out.wait = q.wait_readable(std::chrono::milliseconds(-1), out.ec);
      if (!out.ec && out.wait == WaitResult::ready) (void)q.read(buf, out.after_wait);
      break;
    case Kind::batch_loop:
    case Kind::batch_uring: {
      PacketBuffers buffers(4, 2048);
      BatchIo io;
      io.open(q, {.backend = kind == Kind::batch_uring ? BatchBackend::uring : BatchBackend::loop},
              out.ec);
      ++entered;
      if (!out.ec) (void)io.read_batch(buffers.batch(), out.ec);
      break;
    }
    case Kind::asio:
#if TUNKIT_STRESS_ASIO
      out.ec = asio_read(q, entered);
#endif
      break;
  }
  out.returned.store(Clock::now().time_since_epoch().count());
}

}  // namespace

void run_link_del(const Settings& settings, Report& report) {
  const Baseline start = Baseline::take();
  std::vector<Kind> kinds{Kind::read, Kind::read_throwing, Kind::readv, Kind::wait,
                          Kind::batch_loop};
  if (BatchIo::uring_available()) {
    kinds.push_back(Kind::batch_uring);
  } else if (settings.ci) {
    report.fail(
        "io_uring is unavailable here (not built in, or refused by the kernel) and CI=true");
  } else {
    report.note("io_uring unavailable (not built with liburing, or refused): its reader skipped");
  }
#if TUNKIT_STRESS_ASIO
  kinds.push_back(Kind::asio);
#else
  report.note("tunkit::asio not built (no standalone Asio): the AsyncQueue reader skipped");
#endif

  std::map<Kind, Latencies> latency;
  std::set<std::string> reported;  // wrong answers already printed
  Latencies all;
  const Budget budget(settings.seconds, 20);
  const auto limit = std::chrono::duration<double, std::milli>(settings.max_latency_ms);
  std::uint64_t round = 0;
  for (; budget.more(round); ++round) {
    const bool multi = round % 2 == 0;
    const Mode mode = (round / 2) % 2 == 0 ? Mode::tun : Mode::tap;
    std::vector<Kind> these;
    if (multi) {
      these = kinds;
    } else {
      these.push_back(kinds[(round / 2) % kinds.size()]);
    }
    const std::string dev_name = "tkdel0";
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = dev_name,
              .mode = mode,
              .multi_queue = multi,
              .queues = static_cast<unsigned>(these.size())},
             ec);
    if (ec) {
      report.fail(fmt::format("open {}: {}", dev_name, ec.message()));
      break;
    }
    std::atomic<int> entered{0};
    std::vector<Outcome> outcomes(these.size());
    std::vector<std::thread> readers;
    for (std::size_t i = 0; i < these.size(); ++i) {
      readers.emplace_back(blocked_reader, these[i], std::ref(dev.queue(i)), std::ref(entered),
                           std::ref(outcomes[i]));
    }
    const auto wait_until = Clock::now() + std::chrono::seconds(5);
    while (entered.load() < static_cast<int>(these.size()) && Clock::now() < wait_until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    // Time to reach poll(2), epoll or io_uring_enter; a reader that is not blocked yet when the
    // device goes still gets the same error (and a shorter latency), so this is not critical.
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    for (std::size_t i = 0; i < these.size(); ++i) {
      if (outcomes[i].returned.load() != 0) {
        report.fail(fmt::format("{} on a {} returned before the delete: {}", name(these[i]),
                                multi ? "multi-queue device" : "device", outcomes[i].ec.message()));
      }
    }
    const auto deleted_at = Clock::now();
    const int rc = run_program({"ip", "link", "del", "dev", dev_name});
    if (rc != 0) report.fail(fmt::format("ip link del dev {} exited {}", dev_name, rc));
    const auto give_up = Clock::now() + std::chrono::seconds(5);
    auto all_back = [&] {
      for (const Outcome& o : outcomes) {
        if (o.returned.load() == 0) return false;
      }
      return true;
    };
    while (!all_back() && Clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (!all_back()) {
      for (std::size_t i = 0; i < these.size(); ++i) {
        if (outcomes[i].returned.load() == 0) {
          report.fail(fmt::format("{} still blocked 5 s after ip link del", name(these[i])));
          report.count("hung");
        }
      }
      dev.interrupt();  // never leave a thread behind
      if (!all_back()) {
        report.fail("interrupt() did not wake them either: giving up (the child exits)");
        std::fflush(stdout);
        std::_Exit(1);
      }
    }
    for (auto& t : readers)
      t.join();
    for (std::size_t i = 0; i < these.size(); ++i) {
      const Kind k = these[i];
      const Outcome& o = outcomes[i];
      const auto back = Clock::time_point(Clock::duration(o.returned.load()));
      const double us = std::chrono::duration<double, std::micro>(back - deleted_at).count();
      latency[k].us.push_back(us);
      all.us.push_back(us);
      report.count(fmt::format("readers {}", name(k)));
      if (std::chrono::duration<double, std::micro>(us) > limit) {
        report.fail(fmt::format("{} returned {:.1f} ms after ip link del (limit {} ms)", name(k),
                                us / 1000, settings.max_latency_ms));
      }
      std::string wrong;
      if (k == Kind::wait) {
        if (o.ec || o.wait != WaitResult::ready || o.after_wait != kDeleted) {
          wrong = fmt::format("wait_readable gave {} ({}), the read after it {}",
                              o.wait == WaitResult::ready     ? "ready"
                              : o.wait == WaitResult::timeout ? "timeout"
                                                              : "interrupted",
                              error_name(o.ec), error_name(o.after_wait));
        }
      } else if (o.ec != kDeleted) {
        wrong = fmt::format(
            "returned {} (\"{}\", category {}), not EBADFD in std::system_category() as "
            "Queue::read does",
            error_name(o.ec), o.ec.message(), o.ec.category().name());
      } else if (k == Kind::read_throwing && o.message.find(kDeletedText) == std::string::npos) {
        wrong = fmt::format("read threw \"{}\", without \"{}\"", o.message, kDeletedText);
      }
      if (!wrong.empty()) {
        // Each kind of wrong answer once (it repeats every round); the count says how often.
        const std::string what = fmt::format("{}: {}", name(k), wrong);
        if (reported.insert(what).second) report.fail(what);
        report.count("wrong errors");
      }
      report.count("returned " + error_name(k == Kind::wait ? o.after_wait : o.ec));
    }
    dev.close();
  }
  report.note(
      fmt::format("{} rounds (bound: {:.0f} s or {}), {} blocked readers woken by ip link "
                  "del, {} with the wrong error, {} hung",
                  round, settings.seconds, budget.max(), all.us.size(), report.get("wrong errors"),
                  report.get("hung")));
  report.print_counts("readers by kind", "readers ");
  report.print_counts("errors returned", "returned ");
  for (const auto& [k, l] : latency)
    report.note(fmt::format("latency {}: {}", name(k), l.summary()));
  report.note(fmt::format("worst latency from `ip link del` started: {:.2f} ms (limit {} ms)",
                          all.worst_ms(), settings.max_latency_ms));
  if (round == 0) report.fail("no round ran");
  start.check_same(report, "at the end");
}

}  // namespace tunkit::stress
