// asio_echo: a ping responder on Asio with C++20 coroutines (asio_echo_boost: the same on
// Boost.Asio, built from this file with ASIO_ECHO_BOOST defined). A multi-queue TUN device, one
// coroutine per queue, each on a strand of its own, over a pool of threads running one
// io_context: the queues are served in parallel, and each queue's reads and writes never run
// concurrently with each other (the strand), without a lock on the packet path.
//
//   unshare -n bash -c 'ip link set lo up; ./asio_echo --count 16 & sleep 1;
//     for i in 2 3 4 5 6 7 8 9; do ping -c 2 -W 1 10.80.0.$i & done; wait'
//
// Stops after --count replies, after --timeout seconds, or on SIGINT/SIGTERM: every queue's
// pending read is cancelled (AsyncQueue::cancel, on the queue's strand), the coroutines
// return, and io_context::run() runs out of work.
//
// Exit status: 0 done, 1 runtime error, 2 usage.

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/tunkit.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "common/echo.hpp"
#include "common/helpers.hpp"

// The same program on Boost.Asio (built as asio_echo_boost where Boost is found): only the
// namespaces and the error_code type differ.
#ifdef ASIO_ECHO_BOOST
#include <tunkit/boost_asio.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>

namespace net = boost::asio;
using AsyncQueue = tunkit::boost_asio::AsyncQueue;
using error_code = boost::system::error_code;
#define ASIO_ECHO_NAME "asio_echo_boost"
#define ASIO_ECHO_ASIO "Boost.Asio"
#else
#include <tunkit/asio.hpp>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>

namespace net = asio;
using AsyncQueue = tunkit::AsyncQueue;
using error_code = std::error_code;
#define ASIO_ECHO_NAME "asio_echo"
#define ASIO_ECHO_ASIO "Asio"
#endif

namespace {

constexpr std::string_view kUsage = "usage: " ASIO_ECHO_NAME R"( [options]

Creates a multi-queue TUN device and answers the ICMP echo requests (IPv4 and IPv6) sent to any
address of the device's prefixes except the device's own, with one )" ASIO_ECHO_ASIO
                                    R"( coroutine per queue,
each on its own strand, over a pool of threads running one io_context.

options:
  -n, --name NAME        interface name or template with one %d (default "asioecho%d")
  -q, --queues N         number of queues (and coroutines), 1..256 (default 4)
  -j, --threads N        threads running the io_context, 1..64 (default 2)
  -4, --ipv4 ADDR/LEN    the device's IPv4 prefix (default 10.80.0.1/24)
  -6, --ipv6 ADDR/LEN    the device's IPv6 prefix (default fd00:80::1/64)
  -c, --count N          exit after N replies in all (default 0: no limit)
  -t, --timeout SEC      exit after SEC seconds (default 0: no limit)
  -h, --help             show this help

Prints "ready: NAME QUEUES" once configured, one line per reply ("queue 2: ..."), and a table of
flows and the queue that served them at the end.
)";

constexpr example::Program kProgram{ASIO_ECHO_NAME, kUsage, ""};

// One queue: its strand and its asynchronous descriptor (bound to that strand).
struct Lane {
  std::size_t index;
  net::strand<net::io_context::executor_type> strand;
  AsyncQueue queue;
};

class Responder {
 public:
  Responder(const example::EchoConfig& cfg, tunkit::TunDevice& dev, net::io_context& io)
      : cfg_(cfg),
        control_(net::make_strand(io)),
        signals_(control_, SIGINT, SIGTERM),
        timer_(control_) {
    for (std::size_t i = 0; i < dev.queue_count(); ++i) {
      auto strand = net::make_strand(io);
      lanes_.push_back(std::make_unique<Lane>(Lane{i, strand, AsyncQueue(strand, dev.queue(i))}));
    }
  }

  void start() {
    for (auto& lane : lanes_)
      net::co_spawn(lane->strand, serve(*lane), net::detached);
    signals_.async_wait([this](error_code ec, int) {
      if (!ec) stop();
    });
    if (cfg_.timeout_s != 0) {
      timer_.expires_after(std::chrono::seconds(cfg_.timeout_s));
      timer_.async_wait([this](error_code ec) {
        if (!ec) stop();
      });
    }
  }

  // Callable from any thread, once or more: cancels every queue's pending operation on that
  // queue's strand (an AsyncQueue is not thread-safe), and the signal wait and the timer on
  // theirs. Then nothing is left to run and io_context::run() returns in every thread.
  void stop() {
    if (stopping_.exchange(true)) return;
    for (auto& lane : lanes_) {
      net::post(lane->strand, [&q = lane->queue] {
        error_code ignored;
        q.cancel(ignored);
      });
    }
    net::post(control_, [this] {
      error_code ignored;
      signals_.cancel(ignored);
      timer_.cancel();
    });
  }

  void print_summary(std::size_t queue_count) { flows_.print(replies_.load(), queue_count); }

 private:
  // The coroutine of one queue: read a packet, answer it if it is an echo request, repeat.
  net::awaitable<void> serve(Lane& lane) {
    std::array<std::byte, 65536> buf{};  // in the coroutine frame
    while (!stopping_.load()) {
      error_code ec;
      const std::size_t n =
          co_await lane.queue.async_read(buf, net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec == tunkit::errc::packet_truncated) continue;  // larger than 64 KiB: not a ping
      if (ec) {
        report(lane.index, "read", ec);
        co_return;
      }
      const auto reply = example::echo_reply(buf, n, cfg_);
      if (!reply) continue;
      co_await lane.queue.async_write(std::span<const std::byte>(buf).first(reply->length),
                                      net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) {
        report(lane.index, "write", ec);
        continue;
      }
      const unsigned long total = replies_.fetch_add(1) + 1;
      {
        std::lock_guard lock(mutex_);
        flows_.replied(lane.index, *reply);
      }
      if (cfg_.count != 0 && total >= cfg_.count) stop();
    }
  }

  void report(std::size_t index, const char* op, error_code ec) {
    std::lock_guard lock(mutex_);
    fmt::print(stderr, "queue {}: {}: {}\n", index, op, ec.message());
  }

  const example::EchoConfig& cfg_;
  net::strand<net::io_context::executor_type> control_;  // the signal wait and the timer
  net::signal_set signals_;
  net::steady_timer timer_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::atomic<bool> stopping_{false};
  std::atomic<unsigned long> replies_{0};
  std::mutex mutex_;  // serialises printing and the flow table across strands
  example::FlowTable flows_;
};

int run(const example::EchoConfig& cfg) {
  tunkit::TunDevice dev({.name = cfg.name, .queues = cfg.queues});
  tunkit::Link link(dev.ifindex());
  link.add_address(cfg.v4);
  link.add_address(cfg.v6);
  link.set_up();

  net::io_context io(static_cast<int>(cfg.threads));
  {
    // The AsyncQueues hold duplicates of the queues' descriptors: the Responder goes before the
    // device, so that closing the device deletes the interface.
    Responder responder(cfg, dev, io);
    responder.start();
    fmt::print("ready: {} {} queues {} {}\n", dev.name(), dev.queue_count(), cfg.v4, cfg.v6);
    std::fflush(stdout);

    std::vector<std::thread> threads;
    for (unsigned i = 1; i < cfg.threads; ++i)
      threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : threads)
      t.join();
    responder.print_summary(dev.queue_count());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const example::EchoConfig defaults{.name = "asioecho%d",
                                     .v4 = tunkit::IpPrefix::parse("10.80.0.1/24"),
                                     .v6 = tunkit::IpPrefix::parse("fd00:80::1/64")};
  return example::echo_main(argc, argv, kProgram, defaults, run, /*with_threads=*/true);
}
