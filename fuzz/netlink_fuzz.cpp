// Fuzzes tunkit's netlink reply parsing: the datagram walk of Socket (ACKs, errors, dump ends,
// sequence and port filtering, truncation), the decoders of links (IFLA_XDP included),
// addresses and routes, the link-event decoder, and the generic-netlink replies of the ethtool
// family (family resolution, link settings, the compact and verbose bitsets of the message level
// and the features, rx-frames), all through the public API (Link, list_tun_devices, LinkEvents,
// Ethtool) over a scripted syscall seam whose netlink socket answers with the fuzzer's datagrams.
//
// Input: one byte choosing the operation, one byte of flags (bit 0: leave the messages'
// sequence numbers and ports as given instead of matching them to the request), then datagrams,
// each as a 2-byte little-endian length and that many bytes. When the datagrams run out the
// socket answers EAGAIN.
//
// Properties checked beyond "no crash, no sanitizer report": every operation terminates (a
// bounded number of receives), and a failed operation reports an error with a message.

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <span>
#include <system_error>
#include <vector>

#include "tunkit/ethtool.hpp"
#include "tunkit/link.hpp"
#include "tunkit/link_events.hpp"
#include "tunkit/sys.hpp"
#include "tunkit/tun_info.hpp"

#include "fuzz_check.hpp"

namespace {

constexpr int kSocketFd = 7;
constexpr int kEventFd = 8;
constexpr std::uint32_t kPort = 4242;
constexpr int kMaxReceives = 4096;

// A kernel with one NETLINK_ROUTE socket that answers every receive with the next datagram.
class ScriptedNetlink final : public tunkit::sys::Syscalls {
 public:
  ScriptedNetlink(std::span<const std::uint8_t> datagrams, bool keep_ids)
      : input_(datagrams), keep_ids_(keep_ids) {}

  int receives = 0;

  int open(const char*, int) noexcept override { return -ENOENT; }
  int close(int) noexcept override { return 0; }
  int ioctl(int, unsigned long, void*) noexcept override { return -ENOTTY; }
  ssize_t read(int, void*, std::size_t) noexcept override { return -EAGAIN; }
  ssize_t write(int, const void*, std::size_t count) noexcept override {
    return static_cast<ssize_t>(count);
  }
  ssize_t readv(int, const iovec*, int) noexcept override { return -EAGAIN; }
  ssize_t writev(int, const iovec*, int) noexcept override { return -EINVAL; }
  int poll(pollfd* fds, nfds_t nfds, int) noexcept override {
    int ready = 0;
    for (nfds_t i = 0; i < nfds; ++i) {
      fds[i].revents = 0;
      if (fds[i].fd == kSocketFd && !input_.empty()) {
        fds[i].revents = POLLIN;
        ++ready;
      }
    }
    return ready;
  }
  int eventfd(unsigned int, int) noexcept override { return kEventFd; }
  int fcntl(int, int, int) noexcept override { return 0; }
  int socket(int domain, int, int) noexcept override {
    return domain == AF_NETLINK ? kSocketFd : -EAFNOSUPPORT;
  }
  int bind(int, const sockaddr*, socklen_t) noexcept override { return 0; }
  int getsockname(int, sockaddr* addr, socklen_t* len) noexcept override {
    sockaddr_nl nl{};
    nl.nl_family = AF_NETLINK;
    nl.nl_pid = kPort;
    std::memcpy(addr, &nl, std::min<std::size_t>(*len, sizeof nl));
    *len = sizeof nl;
    return 0;
  }
  int setsockopt(int, int, int, const void*, socklen_t) noexcept override { return 0; }
  ssize_t sendto(int, const void* buf, std::size_t len, int, const sockaddr*,
                 socklen_t) noexcept override {
    if (len >= sizeof(nlmsghdr)) {
      nlmsghdr h{};
      std::memcpy(&h, buf, sizeof h);
      seq_ = h.nlmsg_seq;
    }
    return static_cast<ssize_t>(len);
  }
  ssize_t recvfrom(int, void* buf, std::size_t len, int, sockaddr* addr,
                   socklen_t* addrlen) noexcept override {
    if (++receives > kMaxReceives) std::abort();  // an operation that never ends
    if (input_.size() < 2) return -EAGAIN;
    const std::size_t size = std::min<std::size_t>(
        input_[0] | static_cast<std::size_t>(input_[1]) << 8U, input_.size() - 2);
    const auto datagram = input_.subspan(2, size);
    input_ = input_.subspan(2 + size);
    auto* out = static_cast<std::uint8_t*>(buf);
    const std::size_t copied = std::min(len, datagram.size());
    std::memcpy(out, datagram.data(), copied);
    if (!keep_ids_) match_ids(out, copied);
    if (addr != nullptr && addrlen != nullptr) {
      sockaddr_nl from{};
      from.nl_family = AF_NETLINK;  // from the kernel (port 0)
      std::memcpy(addr, &from, std::min<std::size_t>(*addrlen, sizeof from));
      *addrlen = sizeof from;
    }
    return static_cast<ssize_t>(datagram.size());  // MSG_TRUNC: the real length
  }
  int setns(int, int) noexcept override { return -EINVAL; }

 private:
  // Gives every whole message the current request's sequence number and our port, so that the
  // fuzzer need not guess them.
  void match_ids(std::uint8_t* p, std::size_t n) const noexcept {
    std::size_t at = 0;
    while (n - at >= sizeof(nlmsghdr)) {
      nlmsghdr h{};
      std::memcpy(&h, p + at, sizeof h);
      if (h.nlmsg_len < sizeof h || h.nlmsg_len > n - at) return;
      h.nlmsg_seq = seq_;
      h.nlmsg_pid = kPort;
      std::memcpy(p + at, &h, sizeof h);
      at += NLMSG_ALIGN(h.nlmsg_len);
      if (at > n) return;
    }
  }

  std::span<const std::uint8_t> input_;
  bool keep_ids_ = false;
  std::uint32_t seq_ = 0;
};

void check_error(const std::error_code& ec) {
  if (ec) TUNKIT_FUZZ_CHECK(!ec.message().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t op = data[0];
  ScriptedNetlink kernel(std::span(data + 2, size - 2), (data[1] & 1U) != 0);
  try {
    switch (op % 9) {
      case 0: {  // Link(ifindex): RTM_GETLINK, then state()
        tunkit::Link link(1, kernel);
        std::error_code ec;
        (void)link.state(ec);
        check_error(ec);
        break;
      }
      case 1: {
        tunkit::Link link(1, kernel);
        std::error_code ec;
        (void)link.addresses(ec);
        check_error(ec);
        break;
      }
      case 2: {
        tunkit::Link link(1, kernel);
        std::error_code ec;
        (void)link.address_details(ec);
        check_error(ec);
        break;
      }
      case 3: {
        tunkit::Link link(1, kernel);
        std::error_code ec;
        (void)link.routes(ec);
        check_error(ec);
        break;
      }
      case 4: {
        tunkit::Link link(1, kernel);
        std::error_code ec;
        (void)link.statistics(ec);
        check_error(ec);
        (void)link.txqueuelen(ec);
        check_error(ec);
        break;
      }
      case 5: {  // RTM_GETLINK dump of every TUN/TAP device
        std::error_code ec;
        const auto devices = tunkit::list_tun_devices(ec, kernel);
        check_error(ec);
        if (ec) TUNKIT_FUZZ_CHECK(devices.empty());
        break;
      }
      case 7: {  // Link::xdp: IFLA_XDP of an RTM_NEWLINK answer
        tunkit::Link link(1, kernel);
        std::error_code ec;
        (void)link.xdp(ec);
        check_error(ec);
        break;
      }
      case 8: {  // Ethtool: the family's id from the controller, then each reading
        tunkit::Ethtool ethtool(1, kernel);
        std::error_code ec;
        (void)ethtool.link_settings(ec);
        check_error(ec);
        (void)ethtool.message_level(ec);
        check_error(ec);
        (void)ethtool.rx_frames(ec);
        check_error(ec);
        const auto features = ethtool.features(ec);
        check_error(ec);
        if (ec) TUNKIT_FUZZ_CHECK(features.empty());
        break;
      }
      default: {  // 6: link events: every datagram is a multicast notification
        tunkit::LinkEvents events;
        std::error_code ec;
        events.open(std::nullopt, ec, kernel);
        check_error(ec);
        for (int i = 0; i < 64 && events.is_open(); ++i) {
          const auto event = events.next_event(std::chrono::milliseconds(0), ec);
          check_error(ec);
          if (!event && !ec) break;
        }
        break;
      }
    }
  } catch (const std::system_error& e) {  // the throwing constructors
    TUNKIT_FUZZ_CHECK(std::strlen(e.what()) > 0);
  }
  return 0;
}
