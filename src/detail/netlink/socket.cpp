#include "detail/netlink/socket.hpp"

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "detail/eintr.hpp"
#include "detail/netlink/message.hpp"
#include "detail/netlink/parse.hpp"
#include "tunkit/error.hpp"

// Older kernel headers than the running kernel: define what they may lack.
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace tunkit::detail::netlink {
namespace {

// A receive buffer, allocated per call: configuration is not a hot path, and a 32 KiB stack
// frame in a library function is unfriendly to small thread stacks. The zeroed slack after the
// datagram keeps attribute parsing in bounds when the last message's length is not 4-byte
// aligned (parsing runs to the aligned end). Null when out of memory.
std::unique_ptr<std::byte[]> receive_buffer() noexcept {
  constexpr std::size_t kSlack = 8;
  return std::unique_ptr<std::byte[]>(new (std::nothrow)
                                          std::byte[Socket::kReceiveBufferSize + kSlack]());
}

}  // namespace

Socket Socket::open(sys::Syscalls& sys, std::error_code& ec, std::uint32_t groups,
                    int protocol) noexcept {
  ec.clear();
  const int fd =
      retry_eintr([&] { return sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol); });
  if (fd < 0) {
    ec = sys_error(-fd);
    return {};
  }
  Socket s(sys, fd);  // owns fd from here: every early return closes it through the seam
  s.protocol_ = protocol;

  // Optional refinements: old kernels refuse them (ENOPROTOOPT) and work without.
  //  - NETLINK_CAP_ACK: error answers carry only the request's header, not the whole request.
  //  - NETLINK_GET_STRICT_CHK (4.20+): the kernel validates GET requests strictly and honours
  //    the ifindex filter of address dumps, instead of dumping every interface.
  //  - NETLINK_EXT_ACK (4.12+): error answers carry the kernel's message text (see extack()).
  const int one = 1;
  (void)sys.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  (void)sys.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)sys.setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);

  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = groups;  // nl_pid 0: the kernel assigns the port id
  if (int r = sys.bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local); r < 0) {
    ec = sys_error(-r);
    return {};
  }
  sockaddr_nl bound{};
  socklen_t len = sizeof bound;
  if (int r = sys.getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len); r < 0) {
    ec = sys_error(-r);
    return {};
  }
  if (len < sizeof bound || bound.nl_family != AF_NETLINK) {
    ec = protocol_error();
    return {};
  }
  s.port_id_ = bound.nl_pid;
  return s;
}

std::error_code Socket::send(Request& request) noexcept {
  if (!fd_) return errc::not_open;
  if (!request.ok()) return sys_error(EMSGSIZE);
  // Sequence numbers pair answers with requests; 0 is what notifications carry, so skip it.
  if (++seq_ == 0) ++seq_;
  request.header().nlmsg_seq = seq_;
  request.header().nlmsg_pid = 0;  // the kernel ignores it for requests sent to it
  const auto bytes = request.bytes();
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  const ssize_t r = retry_eintr([&] {
    return fd_.sys().sendto(fd_.get(), bytes.data(), bytes.size(), 0,
                            reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel);
  });
  if (r < 0) return sys_error(static_cast<int>(-r));
  // A netlink datagram is taken whole or not at all; anything else is not the kernel.
  if (static_cast<std::size_t>(r) != bytes.size()) return protocol_error();
  return {};
}

std::error_code Socket::transact(Request& request, MessageHandler on_message) noexcept {
  // Only NLM_F_ACK is added. (NLM_F_DUMP's bits are NLM_F_REPLACE | NLM_F_EXCL on NEW
  // requests, so they must be left alone.)
  request.header().nlmsg_flags =
      static_cast<std::uint16_t>(request.header().nlmsg_flags | NLM_F_REQUEST | NLM_F_ACK);
  bool interrupted = false;
  return exchange(request, on_message, interrupted);
}

std::error_code Socket::dump(Request& request, MessageHandler on_message,
                             FunctionRef<void()> restart) noexcept {
  // No NLM_F_ACK: a dump ends with NLMSG_DONE, and the kernel never acknowledges one anyway.
  request.header().nlmsg_flags = static_cast<std::uint16_t>(
      (request.header().nlmsg_flags & ~NLM_F_ACK) | NLM_F_REQUEST | NLM_F_DUMP);
  for (int attempt = 1;; ++attempt) {
    bool interrupted = false;
    const std::error_code ec = exchange(request, on_message, interrupted);
    if (ec || !interrupted || attempt == kDumpAttempts) return ec;
    if (restart) restart();
  }
}

std::error_code Socket::receive(MessageHandler on_message) noexcept {
  if (!fd_) return errc::not_open;
  const std::unique_ptr<std::byte[]> buffer = receive_buffer();
  if (!buffer) return sys_error(ENOMEM);
  sockaddr_nl from{};
  socklen_t from_len = sizeof from;
  const ssize_t n = retry_eintr([&] {
    return fd_.sys().recvfrom(fd_.get(), buffer.get(), kReceiveBufferSize, MSG_DONTWAIT | MSG_TRUNC,
                              reinterpret_cast<sockaddr*>(&from), &from_len);
  });
  if (n < 0) return sys_error(static_cast<int>(-n));
  if (static_cast<std::size_t>(n) > kReceiveBufferSize) return protocol_error();
  // Notifications come from the kernel (port 0); anything else was sent by another process.
  if (from_len >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid != 0) return {};

  std::error_code handler_error;
  MessageWalk walk(buffer.get(), static_cast<std::size_t>(n));
  while (const nlmsghdr* h = walk.next()) {
    if (h->nlmsg_type < NLMSG_MIN_TYPE) continue;  // NOOP, ERROR, DONE, OVERRUN: not events
    if (!handler_error && on_message) handler_error = on_message(*h);
  }
  if (!walk.complete() && !handler_error) return protocol_error();
  return handler_error;
}

std::error_code Socket::exchange(Request& request, MessageHandler on_message,
                                 bool& dump_interrupted) noexcept {
  extack_len_ = 0;
  if (const std::error_code ec = send(request)) return ec;
  const std::uint32_t seq = seq_;
  const std::unique_ptr<std::byte[]> buffer = receive_buffer();
  if (!buffer) return sys_error(ENOMEM);

  std::error_code handler_error;  // the first error a handler reported
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    // MSG_TRUNC makes the kernel report a datagram's real length even when it did not fit.
    const ssize_t n = retry_eintr([&] {
      return fd_.sys().recvfrom(fd_.get(), buffer.get(), kReceiveBufferSize, MSG_TRUNC,
                                reinterpret_cast<sockaddr*>(&from), &from_len);
    });
    if (n < 0) return sys_error(static_cast<int>(-n));
    if (static_cast<std::size_t>(n) > kReceiveBufferSize) return protocol_error();
    // Only the kernel (port 0) answers requests; a datagram from another process is not ours.
    if (from_len >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid != 0) continue;

    MessageWalk walk(buffer.get(), static_cast<std::size_t>(n));
    while (const nlmsghdr* h = walk.next()) {
      // Answers to abandoned requests and notifications carry other sequence numbers or ports.
      if (h->nlmsg_seq != seq || (port_id_ != 0 && h->nlmsg_pid != port_id_)) continue;
      if ((h->nlmsg_flags & NLM_F_DUMP_INTR) != 0) dump_interrupted = true;
      switch (h->nlmsg_type) {
        case NLMSG_NOOP:
          break;
        case NLMSG_ERROR: {
          if (mnl_nlmsg_get_payload_len(h) < sizeof(nlmsgerr)) return protocol_error();
          nlmsgerr e{};
          std::memcpy(&e, mnl_nlmsg_get_payload(h), sizeof e);
          if (e.error > 0 || e.error == INT32_MIN) return protocol_error();
          if (e.error < 0) {
            keep_extack(*h);
            return sys_error(-e.error);
          }
          return handler_error;  // the ACK
        }
        case NLMSG_DONE: {
          // The payload, when present, is the dump's final status (0 or -errno).
          int status = 0;
          if (mnl_nlmsg_get_payload_len(h) >= sizeof status) {
            std::memcpy(&status, mnl_nlmsg_get_payload(h), sizeof status);
          }
          if (status < 0 && status != INT32_MIN) {
            // (A failed dump's extack follows the status: NLM_F_ACK_TLVS on NLMSG_DONE.)
            if ((h->nlmsg_flags & NLM_F_ACK_TLVS) != 0) {
              const auto* p = static_cast<const std::byte*>(mnl_nlmsg_get_payload(h));
              keep_extack_from(
                  p + NLMSG_ALIGN(sizeof status),
                  mnl_nlmsg_get_payload_len(h) - std::min<std::size_t>(mnl_nlmsg_get_payload_len(h),
                                                                       NLMSG_ALIGN(sizeof status)));
            }
            return sys_error(-status);
          }
          return handler_error;
        }
        case NLMSG_OVERRUN:
          return protocol_error();
        default:
          if (!handler_error && on_message) handler_error = on_message(*h);
          break;
      }
    }
    // Whatever remains is shorter than a header or overruns the datagram: the stream is broken.
    if (!walk.complete()) return protocol_error();
  }
}

void Socket::keep_extack(const nlmsghdr& h) noexcept {
  // Layout of an error answer with NLM_F_ACK_TLVS: struct nlmsgerr, then (unless NLM_F_CAPPED)
  // the rest of the offending request, then attributes (NLMSGERR_ATTR_*).
  if ((h.nlmsg_flags & NLM_F_ACK_TLVS) == 0) return;
  const std::size_t payload_len = mnl_nlmsg_get_payload_len(&h);
  if (payload_len < sizeof(nlmsgerr)) return;
  nlmsgerr e{};
  std::memcpy(&e, mnl_nlmsg_get_payload(&h), sizeof e);
  std::size_t offset = sizeof(nlmsgerr);
  if ((h.nlmsg_flags & NLM_F_CAPPED) == 0 && e.msg.nlmsg_len > sizeof(nlmsghdr)) {
    offset += NLMSG_ALIGN(e.msg.nlmsg_len - sizeof(nlmsghdr));
  }
  if (offset >= payload_len) return;
  keep_extack_from(static_cast<const std::byte*>(mnl_nlmsg_get_payload(&h)) + offset,
                   payload_len - offset);
}

void Socket::keep_extack_from(const std::byte* attrs, std::size_t len) noexcept {
  std::size_t at = 0;
  while (len - at >= sizeof(nlattr)) {
    nlattr a{};
    std::memcpy(&a, attrs + at, sizeof a);
    if (a.nla_len < sizeof(nlattr) || a.nla_len > len - at) return;
    if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
      const char* text = reinterpret_cast<const char*>(attrs + at + sizeof(nlattr));
      const std::size_t max = a.nla_len - sizeof(nlattr);
      std::size_t n = 0;
      while (n < max && text[n] != '\0')
        ++n;
      n = std::min(n, kExtackCapacity);
      std::memcpy(extack_, text, n);
      extack_len_ = n;
      return;
    }
    at += NLA_ALIGN(a.nla_len);
  }
}

}  // namespace tunkit::detail::netlink
