// tunkit_stress, part "load": a TUN device with 256 queues (the kernel's limit), served by 8
// threads of 32 queues each, while 2 sender threads push UDP datagrams from 256 sockets (256
// flows, which the tun driver spreads over the queues by flow hash) through the kernel's stack
// into it. Each worker reads what its queues hold (read and readv in turn), turns every datagram
// around (addresses and ports swapped: both checksums stay valid) and writes it back on the queue
// it came from (write and writev in turn); the kernel delivers it to the socket that sent it,
// which checks it byte for byte. Any failed read or write, any corrupted datagram, fails the
// part; datagrams lost in the kernel's queues are counted, not failed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "stress.hpp"
#include "tunkit/address.hpp"
#include "tunkit/device.hpp"
#include "tunkit/link.hpp"

namespace tunkit::stress {
namespace {

constexpr std::size_t kQueues = 256;
constexpr std::size_t kWorkers = 8;
constexpr std::size_t kSenders = 2;
constexpr std::size_t kSocketsPerSender = 128;
constexpr std::uint16_t kFirstSourcePort = 20000;
constexpr std::uint16_t kFirstDestPort = 9000;

// The payload of datagram `seq` of socket `sock`: its identity, then bytes that depend on both.
std::size_t fill_payload(std::span<std::byte> out, std::uint32_t sock, std::uint32_t seq) {
  const std::size_t len = 16 + (seq * 7U + sock * 13U) % 1200U;
  std::memcpy(out.data(), &sock, 4);
  std::memcpy(out.data() + 4, &seq, 4);
  for (std::size_t i = 8; i < len; ++i)
    out[i] = static_cast<std::byte>((seq + sock + i) & 0xFFU);
  return len;
}

bool check_payload(std::span<const std::byte> got, std::uint32_t sock, std::uint32_t max_seq) {
  if (got.size() < 16) return false;
  std::uint32_t s = 0;
  std::uint32_t seq = 0;
  std::memcpy(&s, got.data(), 4);
  std::memcpy(&seq, got.data() + 4, 4);
  if (s != sock || seq > max_seq) return false;
  std::array<std::byte, 2048> want{};
  const std::size_t len = fill_payload(want, sock, seq);
  return got.size() == len && std::memcmp(got.data(), want.data(), len) == 0;
}

struct Shared {
  std::atomic<bool> stop_workers{false};
  std::array<std::atomic<std::uint64_t>, kQueues> reads_per_queue{};
};

void worker(TunDevice& dev, std::size_t first, std::size_t count, Shared& shared, Report& report) {
  std::map<std::string, std::uint64_t> counts;
  std::vector<pollfd> fds(count);
  for (std::size_t i = 0; i < count; ++i)
    fds[i] = pollfd{dev.queue(first + i).native_handle(), POLLIN, 0};
  std::array<std::byte, 65536> buf{};
  std::uint64_t turn = 0;
  while (!shared.stop_workers.load(std::memory_order_relaxed)) {
    const int ready = ::poll(fds.data(), fds.size(), 20);
    if (ready < 0) {
      if (errno == EINTR) continue;
      report.fail(fmt::format("poll: {}", std::strerror(errno)));
      break;
    }
    for (std::size_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      Queue& q = dev.queue(first + i);
      for (int k = 0; k < 64; ++k) {
        std::error_code ec;
        std::size_t n = 0;
        ++turn;
        if (turn % 2 == 0) {
          n = q.read(buf, ec);
        } else {
          const std::array<std::span<std::byte>, 2> parts{std::span(buf).first(20),
                                                          std::span(buf).subspan(20)};
          n = q.readv(parts, ec);
        }
        if (ec == std::errc::resource_unavailable_try_again) break;
        if (ec) {
          ++counts["read error " + error_name(ec)];
          report.fail(fmt::format("read on queue {}: {}", first + i, ec.message()));
          break;
        }
        ++counts["reads"];
        shared.reads_per_queue[first + i].fetch_add(1, std::memory_order_relaxed);
        const std::span<std::byte> packet = std::span(buf).first(n);
        if (!turn_around_udp4(packet)) {
          ++counts["other packets"];  // not ours (none expected: no IPv6 address, no routes)
          continue;
        }
        std::size_t written = 0;
        if (turn % 4 < 2) {
          written = q.write(packet, ec);
        } else {
          const std::array<std::span<const std::byte>, 2> parts{packet.first(28),
                                                                packet.subspan(28)};
          written = q.writev(parts, ec);
        }
        if (ec || written != n) {
          ++counts["write error " + error_name(ec)];
          report.fail(fmt::format("write on queue {}: {} ({} of {} bytes)", first + i, ec.message(),
                                  written, n));
          continue;
        }
        ++counts["echoed"];
      }
    }
  }
  report.merge(counts);
}

// Sends one datagram on each of its sockets, then waits (up to 20 ms) for the echoes, until the
// time share or the count bound ends.
void sender(std::size_t index, const Budget& budget, Report& report) {
  std::map<std::string, std::uint64_t> counts;
  std::vector<int> socks;
  for (std::size_t j = 0; j < kSocketsPerSender; ++j) {
    const int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(static_cast<std::uint16_t>(kFirstSourcePort + index * 1000 + j));
    const std::string self = fmt::format("10.203.{}.1", index);
    ::inet_pton(AF_INET, self.c_str(), &local.sin_addr);
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(static_cast<std::uint16_t>(kFirstDestPort + j));
    const std::string to = fmt::format("10.203.{}.{}", index, 2 + j);
    ::inet_pton(AF_INET, to.c_str(), &peer.sin_addr);
    if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        ::connect(s, reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0) {
      report.fail(fmt::format("UDP socket to {}: {}", to, std::strerror(errno)));
      if (s >= 0) ::close(s);
      for (int t : socks)
        ::close(t);
      return;
    }
    socks.push_back(s);
  }
  std::vector<pollfd> fds(socks.size());
  std::array<std::byte, 2048> out{};
  std::array<std::byte, 2048> in{};
  std::uint32_t seq = 0;
  auto receive_all = [&] {
    std::uint64_t got = 0;
    for (std::size_t j = 0; j < socks.size(); ++j) {
      for (;;) {
        const ssize_t r = ::recv(socks[j], in.data(), in.size(), MSG_DONTWAIT);
        if (r < 0) break;
        ++got;
        const auto sock_id = static_cast<std::uint32_t>(index * 1000 + j);
        if (!check_payload(std::span(in).first(static_cast<std::size_t>(r)), sock_id, seq)) {
          ++counts["corrupt"];
          report.fail(
              fmt::format("socket {}: the echo of a datagram differs from what was sent", sock_id));
        }
      }
    }
    return got;
  };
  while (budget.more(seq)) {
    std::uint64_t sent = 0;
    for (std::size_t j = 0; j < socks.size(); ++j) {
      const auto sock_id = static_cast<std::uint32_t>(index * 1000 + j);
      const std::size_t len = fill_payload(out, sock_id, seq);
      if (::send(socks[j], out.data(), len, 0) == static_cast<ssize_t>(len)) {
        ++sent;
      } else {
        ++counts[fmt::format("send failed ({})", error_name({errno, std::system_category()}))];
      }
    }
    counts["sent"] += sent;
    std::uint64_t received = 0;
    const auto until = Clock::now() + std::chrono::milliseconds(20);
    while (received < sent && Clock::now() < until) {
      for (std::size_t j = 0; j < socks.size(); ++j)
        fds[j] = pollfd{socks[j], POLLIN, 0};
      if (::poll(fds.data(), fds.size(), 5) > 0) received += receive_all();
    }
    counts["received"] += received;
    ++seq;
  }
  // Late echoes.
  const auto until = Clock::now() + std::chrono::milliseconds(300);
  while (Clock::now() < until) {
    counts["received"] += receive_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  counts["rounds"] += seq;
  for (int s : socks)
    ::close(s);
  report.merge(counts);
}

}  // namespace

void run_load(const Settings& settings, Report& report) {
  const Baseline start = Baseline::take();
  {
    TunDevice dev({.name = "tkload0", .queues = kQueues, .non_blocking = true});
    Link link(dev.ifindex());
    link.set_txqueuelen(1000);
    for (std::size_t s = 0; s < kSenders; ++s)
      link.add_address(IpPrefix::parse(fmt::format("10.203.{}.1/24", s)));
    link.set_up();
    report.note(fmt::format(
        "{} with {} queues, {} worker threads of {} queues, {} senders of {} "
        "sockets",
        dev.name(), dev.queue_count(), kWorkers, kQueues / kWorkers, kSenders, kSocketsPerSender));

    Shared shared;
    const Budget budget(settings.seconds, 1000);  // rounds of one datagram per socket
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < kWorkers; ++w) {
      workers.emplace_back(worker, std::ref(dev), w * (kQueues / kWorkers), kQueues / kWorkers,
                           std::ref(shared), std::ref(report));
    }
    std::vector<std::thread> senders;
    for (std::size_t s = 0; s < kSenders; ++s)
      senders.emplace_back(sender, s, std::cref(budget), std::ref(report));
    for (auto& t : senders)
      t.join();
    shared.stop_workers = true;
    for (auto& t : workers)
      t.join();

    std::size_t used = 0;
    std::uint64_t busiest = 0;
    for (const auto& q : shared.reads_per_queue) {
      const std::uint64_t n = q.load();
      if (n > 0) ++used;
      busiest = std::max(busiest, n);
    }
    const std::uint64_t sent = report.get("sent");
    const std::uint64_t received = report.get("received");
    report.note(fmt::format(
        "datagrams sent {}, read from the queues {}, echoed {}, received back {}, lost {} "
        "({:.3f}%), corrupt {}, other packets {}",
        sent, report.get("reads"), report.get("echoed"), received,
        sent > received ? sent - received : 0,
        sent > 0 ? 100.0 * static_cast<double>(sent - std::min(sent, received)) /
                       static_cast<double>(sent)
                 : 0.0,
        report.get("corrupt"), report.get("other packets")));
    report.note(fmt::format("queues that carried traffic {}/{} (busiest {} packets), {} rounds",
                            used, kQueues, busiest, report.get("rounds")));
    report.print_counts("read errors", "read error ");
    report.print_counts("write errors", "write error ");
    report.print_counts("send failures", "send failed ");
    if (received == 0) report.fail("no datagram came back");
    if (used < 32) report.fail(fmt::format("only {} queues carried traffic", used));
  }
  start.check_same(report, "after the device was closed");
}

}  // namespace tunkit::stress
