#pragma once
// A bounded TCP transfer between two network namespaces, for tests of programs that carry
// packets (tunnels, forwarders): a server thread in one namespace receives what a client thread
// in the other sends, both hash the bytes, and the test compares. Every socket operation has a
// timeout; the whole transfer is bounded by `budget`.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "subprocess.hpp"

namespace tunkit::test {

/// What a transfer achieved.
struct TransferResult {
  std::uint64_t sent_bytes = 0;
  std::uint64_t received_bytes = 0;
  std::uint64_t sent_hash = 0;      ///< FNV-1a 64 of the bytes sent
  std::uint64_t received_hash = 0;  ///< FNV-1a 64 of the bytes received
  std::string error;                ///< empty on success
  double seconds = 0;
};

namespace detail {

inline std::uint64_t fnv1a(std::uint64_t h, const unsigned char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}
constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ULL;

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

inline void set_timeouts(int fd, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>(t.count() % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

inline std::string errno_text(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace detail

/// Sends `bytes` pseudo-random bytes over TCP from a thread in `client_ns` to a server thread in
/// `server_ns` listening on `server_ipv4:port`. Bounded by `budget`.
inline TransferResult tcp_transfer(const Netns& server_ns, const Netns& client_ns,
                                   const std::string& server_ipv4, std::uint16_t port,
                                   std::size_t bytes,
                                   std::chrono::milliseconds budget = std::chrono::seconds(20)) {
  using detail::Socket;
  TransferResult result;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, server_ipv4.c_str(), &addr.sin_addr) != 1) {
    result.error = "bad server address";
    return result;
  }
  std::string server_error;
  std::string client_error;
  int listening = 0;  // 1: listening, -1: failed; guarded by the handshake below
  std::mutex mu;
  std::condition_variable cv;
  const auto start = std::chrono::steady_clock::now();

  std::thread server([&] {
    auto fail = [&](std::string e) {
      std::lock_guard lock(mu);
      server_error = std::move(e);
      if (listening == 0) listening = -1;
      cv.notify_all();
    };
    try {
      enter(server_ns);
    } catch (const std::exception& e) {
      return fail(e.what());
    }
    Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int one = 1;
    ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      return fail(detail::errno_text("bind"));
    }
    if (::listen(s.get(), 1) != 0) return fail(detail::errno_text("listen"));
    {
      std::lock_guard lock(mu);
      listening = 1;
      cv.notify_all();
    }
    pollfd pfd{s.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(budget.count())) != 1) return fail("accept: timeout");
    Socket c(::accept4(s.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (c.get() < 0) return fail(detail::errno_text("accept"));
    detail::set_timeouts(c.get(), budget);
    std::vector<unsigned char> buf(1 << 16);
    std::uint64_t h = detail::kFnvBasis;
    for (;;) {
      if (std::chrono::steady_clock::now() - start > budget) return fail("receive: over budget");
      const ssize_t n = ::recv(c.get(), buf.data(), buf.size(), 0);
      if (n == 0) break;
      if (n < 0) return fail(detail::errno_text("recv"));
      h = detail::fnv1a(h, buf.data(), static_cast<std::size_t>(n));
      result.received_bytes += static_cast<std::uint64_t>(n);
    }
    result.received_hash = h;
    const char done = 'k';  // tells the client that everything arrived
    (void)::send(c.get(), &done, 1, MSG_NOSIGNAL);
  });

  std::thread client([&] {
    {
      std::unique_lock lock(mu);
      if (!cv.wait_for(lock, budget, [&] { return listening != 0; }) || listening < 0) return;
    }
    try {
      enter(client_ns);
    } catch (const std::exception& e) {
      client_error = e.what();
      return;
    }
    Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    detail::set_timeouts(s.get(), budget);
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      client_error = detail::errno_text("connect");
      return;
    }
    std::vector<unsigned char> chunk(1 << 16);
    std::uint64_t x = 0x9E3779B97F4A7C15ULL;  // xorshift64: reproducible, not compressible
    std::uint64_t h = detail::kFnvBasis;
    std::size_t left = bytes;
    while (left > 0) {
      if (std::chrono::steady_clock::now() - start > budget) {
        client_error = "send: over budget";
        return;
      }
      const std::size_t n = std::min(left, chunk.size());
      for (std::size_t i = 0; i < n; ++i) {
        x ^= x << 13U;
        x ^= x >> 7U;
        x ^= x << 17U;
        chunk[i] = static_cast<unsigned char>(x);
      }
      std::size_t off = 0;
      while (off < n) {
        const ssize_t w = ::send(s.get(), chunk.data() + off, n - off, MSG_NOSIGNAL);
        if (w <= 0) {
          client_error = detail::errno_text("send");
          return;
        }
        off += static_cast<std::size_t>(w);
      }
      h = detail::fnv1a(h, chunk.data(), n);
      result.sent_bytes += n;
      left -= n;
    }
    result.sent_hash = h;
    ::shutdown(s.get(), SHUT_WR);
    char done = 0;
    if (::recv(s.get(), &done, 1, 0) != 1) client_error = detail::errno_text("recv (final)");
  });

  server.join();
  client.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!server_error.empty()) result.error = "server: " + server_error;
  if (!client_error.empty())
    result.error += (result.error.empty() ? "" : "; ") + ("client: " + client_error);
  return result;
}

}  // namespace tunkit::test
