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

/// Prints "NAME: what" and the usage on stderr, and exits 2.
[[noreturn]] inline void usage_exit(const Program& program, std::string_view what) {
  fmt::print(stderr, "{}: {}\n{}", program.name, what, program.usage);
  std::exit(2);
}

/// Parses -n -q -4 -6 -c -t -h (and -j with `with_threads`) over `config`, the defaults. A
/// mistake prints "NAME: what" and the usage and exits 2; --help prints the usage and exits 0.
inline EchoConfig parse_echo_args(int argc, char** argv, const Program& program, EchoConfig config,
                                  bool with_threads = false) {
  // Digits only, at most 9 (std::strtoul took "-1" as ULONG_MAX and saturated on overflow).
  auto to_number = [&](std::string_view opt, const char* text) {
    const auto v = example::to_number(text);
    if (!v) usage_exit(program, fmt::format("{} needs a number, not \"{}\"", opt, text));
    return *v;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_exit(program, fmt::format("{} needs a value", a));
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      fmt::print("{}", program.usage);
      std::exit(0);
    } else if (a == "-n" || a == "--name") {
      config.name = value();
    } else if (a == "-q" || a == "--queues") {
      const unsigned long q = to_number(a, value());
      if (q < 1 || q > tunkit::max_queues) usage_exit(program, "--queues must be 1..256");
      config.queues = static_cast<unsigned>(q);
    } else if (with_threads && (a == "-j" || a == "--threads")) {
      const unsigned long t = to_number(a, value());
      if (t < 1 || t > 64) usage_exit(program, "--threads must be 1..64");
      config.threads = static_cast<unsigned>(t);
    } else if (a == "-4" || a == "--ipv4" || a == "-6" || a == "--ipv6") {
      const char* text = value();
      const auto p = tunkit::IpPrefix::try_parse(text);
      const bool want_v4 = a == "-4" || a == "--ipv4";
      if (!p || p->address.is_v4() != want_v4) {
        usage_exit(program,
                   fmt::format("{} needs an IPv{} ADDR/LEN, not \"{}\"", a, want_v4 ? 4 : 6, text));
      }
      (want_v4 ? config.v4 : config.v6) = *p;
    } else if (a == "-c" || a == "--count") {
      config.count = to_number(a, value());
    } else if (a == "-t" || a == "--timeout") {
      config.timeout_s = to_number(a, value());
    } else {
      usage_exit(program, fmt::format("unknown option \"{}\"", a));
    }
  }
  return config;
}

/// All of main(): parse_echo_args over `defaults`, then `run(config)` under report_errors.
template <class Run>
int echo_main(int argc, char** argv, const Program& program, EchoConfig defaults, Run run,
              bool with_threads = false) {
  const EchoConfig cfg = parse_echo_args(argc, argv, program, std::move(defaults), with_threads);
  return report_errors(program, [&] { return run(cfg); });
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
