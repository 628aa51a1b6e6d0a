// Shared by the three examples that answer pings on every queue of a multi-queue TUN device
// (multiqueue_echo, epoll_loop, asio_echo): their options, the reply to an echo request, and the
// table of which queue served which flow.
#pragma once

#include <fmt/format.h>
#include <tunkit/format.hpp>
#include <tunkit/packet.hpp>
#include <tunkit/tunkit.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "helpers.hpp"

namespace example {

/// The options of the echo examples.
struct EchoConfig {
  std::string name;
  unsigned queues = 4;
  unsigned threads = 2;  ///< asio_echo only: threads running the io_context
  tunkit::IpPrefix v4;
  tunkit::IpPrefix v6;
  unsigned long count = 0;
  unsigned long timeout_s = 0;
};

/// Parses -n -q -j (with `with_threads`) -4 -6 -c -t over `config`, the defaults: nullopt for
/// --help, a UsageError for a mistake (run_main reports both, as for every example).
inline std::optional<EchoConfig> parse_echo_args(int argc, char** argv, EchoConfig config,
                                                 bool with_threads = false) {
  for (Args args(argc, argv); !args.done();) {
    const std::string_view a = args.next();
    if (a == "-h" || a == "--help") return std::nullopt;
    if (a == "-n" || a == "--name") {
      config.name = args.value(a);
    } else if (a == "-q" || a == "--queues") {
      const unsigned long q = args.number(a);
      if (q < 1 || q > tunkit::max_queues) throw UsageError{"--queues must be 1..256"};
      config.queues = static_cast<unsigned>(q);
    } else if (with_threads && (a == "-j" || a == "--threads")) {
      const unsigned long t = args.number(a);
      if (t < 1 || t > 64) throw UsageError{"--threads must be 1..64"};
      config.threads = static_cast<unsigned>(t);
    } else if (a == "-4" || a == "--ipv4") {
      config.v4 = args.prefix(a, 4);
    } else if (a == "-6" || a == "--ipv6") {
      config.v6 = args.prefix(a, 6);
    } else if (a == "-c" || a == "--count") {
      config.count = args.number(a);
    } else if (a == "-t" || a == "--timeout") {
      config.timeout_s = args.number(a);
    } else {
      Args::unknown(a);
    }
  }
  return config;
}

/// All of main(): parse_echo_args over `defaults`, then `run(config)`, through run_main.
template <class Run>
int echo_main(int argc, char** argv, const Program& program, EchoConfig defaults, Run run,
              bool with_threads = false) {
  return run_main(
      program, argc, argv,
      [&](int c, char** v) { return parse_echo_args(c, v, std::move(defaults), with_threads); },
      [&](const EchoConfig& cfg) { return run(cfg); });
}

/// A flow: source, destination and ICMP identifier of the requests.
using FlowKey = std::tuple<std::string, std::string, unsigned>;

/// An echo reply, built in the buffer of its request.
struct EchoReply {
  std::size_t length;
  FlowKey flow;
  unsigned seq;
};

/// When the `n` bytes read into `buf` are an ICMP or ICMPv6 echo request to an address of the
/// prefixes other than the device's own (the kernel answers those), turns it into its reply.
inline std::optional<EchoReply> echo_reply(std::span<std::byte> buf, std::size_t n,
                                           const EchoConfig& cfg) {
  const auto pkt = tunkit::parse_ip(std::span<const std::byte>(buf).first(n));
  if (!pkt) return std::nullopt;
  unsigned id = 0;
  unsigned seq = 0;
  if (const auto* icmp = pkt->icmp(); icmp != nullptr) {
    if (icmp->type() != tunkit::IcmpType::echo_request) return std::nullopt;
    id = icmp->identifier();
    seq = icmp->sequence();
  } else if (const auto* icmp6 = pkt->icmpv6(); icmp6 != nullptr) {
    if (icmp6->type() != tunkit::Icmpv6Type::echo_request) return std::nullopt;
    id = icmp6->identifier();
    seq = icmp6->sequence();
  } else {
    return std::nullopt;
  }
  if (pkt->dst() == cfg.v4.address || pkt->dst() == cfg.v6.address) return std::nullopt;
  FlowKey flow{pkt->src().to_string(), pkt->dst().to_string(), id};
  const auto len = tunkit::build_echo_reply(*pkt, buf);  // in place
  if (!len) return std::nullopt;
  return EchoReply{*len, std::move(flow), seq};
}

/// Which queue served each flow, and how often.
class FlowTable {
 public:
  /// Counts a reply and prints "queue 2: SRC > DST echo id=7 seq=1: replied".
  void replied(std::size_t queue, const EchoReply& r) {
    ++flows_[r.flow][queue];
    fmt::print("queue {}: {} > {} echo id={} seq={}: replied\n", queue, std::get<0>(r.flow),
               std::get<1>(r.flow), std::get<2>(r.flow), r.seq);
    std::fflush(stdout);
  }

  /// The table, and how many of the `queue_count` queues served a flow.
  void print(unsigned long replies, std::size_t queue_count) const {
    fmt::print("flows ({} replies):\n", replies);
    std::map<std::size_t, unsigned> per_queue;
    for (const auto& [flow, queues] : flows_) {
      for (const auto& [q, n] : queues) {
        fmt::print("  {} > {} id {}: queue {} ({} replies)\n", std::get<0>(flow), std::get<1>(flow),
                   std::get<2>(flow), q, n);
        per_queue[q] += n;
      }
    }
    fmt::print("queues used: {} of {}\n", per_queue.size(), queue_count);
  }

 private:
  std::map<FlowKey, std::map<std::size_t, unsigned>> flows_;
};

}  // namespace example
