#include "detail/netlink.hpp"

#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <utility>

#include "detail/errors.hpp"
#include "tunkit/error.hpp"

// Older kernel headers than the running kernel: define what they may lack.
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace tunkit::detail::netlink {
namespace {

// Retries a seam call while it fails with EINTR; returns the result or -errno.
template <typename F>
auto retry_eintr(F&& f) noexcept {
  for (;;) {
    auto r = f();
    if (r != -EINTR) return r;
  }
}

// Netlink's 4-byte alignment (NLMSG_ALIGN / NLA_ALIGN), without the macros' int arithmetic.
constexpr std::size_t align(std::size_t n) noexcept {
  return (n + 3U) & ~std::size_t{3};
}
constexpr std::size_t kHeaderLen = align(sizeof(nlmsghdr));
constexpr std::size_t kAttrHeaderLen = align(sizeof(nlattr));

std::error_code protocol_error() noexcept {
  return errc::netlink_protocol;
}

// The netlink header sits at the start of a suitably aligned byte buffer (see Request::buffer_);
// libmnl's API works on nlmsghdr pointers into such buffers.
// Whether a whole message starts at `h` with `left` bytes to the end of the datagram.
// mnl_nlmsg_ok() compares `(int)nlmsg_len`, so a length of 2^31 or more passes it and the walk
// then runs far beyond the datagram (found by fuzz/netlink_fuzz.cpp): compare unsigned.
bool message_ok(const nlmsghdr* h, int left) noexcept {
  return left >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) &&
         h->nlmsg_len <= static_cast<unsigned>(left);
}

nlmsghdr* as_header(std::byte* p) noexcept {
  return reinterpret_cast<nlmsghdr*>(p);  // NOLINT(cppcoreguidelines-pro-type-reinterpret-cast)
}

}  // namespace

// --- Request ---------------------------------------------------------------------------------

Request::Request(std::uint16_t type, std::uint16_t flags) noexcept {
  nlmsghdr* h = mnl_nlmsg_put_header(buffer_.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
}

nlmsghdr& Request::header() noexcept {
  return *as_header(buffer_.data());
}

const nlmsghdr& Request::header() const noexcept {
  return *reinterpret_cast<const nlmsghdr*>(buffer_.data());  // NOLINT: see as_header
}

std::span<const std::byte> Request::bytes() const noexcept {
  return {buffer_.data(), std::min<std::size_t>(header().nlmsg_len, buffer_.size())};
}

void Request::put_header_bytes(const void* data, std::size_t size) noexcept {
  // mnl_nlmsg_put_extra_header does not check the room left, so check here.
  if (overflow_ || header().nlmsg_len + align(size) > buffer_.size()) {
    overflow_ = true;
    return;
  }
  void* extra = mnl_nlmsg_put_extra_header(&header(), size);
  std::memcpy(extra, data, size);
}

void Request::put_u32(std::uint16_t type, std::uint32_t value) noexcept {
  if (!overflow_) overflow_ = !mnl_attr_put_u32_check(&header(), buffer_.size(), type, value);
}

void Request::put_string(std::uint16_t type, std::string_view value) noexcept {
  if (overflow_) return;
  // mnl_attr_put_strz wants a C string, and a string_view need not be one: put the text, then
  // extend the attribute by its NUL in place.
  const std::size_t start = header().nlmsg_len;
  const std::size_t length = kAttrHeaderLen + value.size() + 1;  // nla_len with the NUL
  if (length > UINT16_MAX || start + align(length) > buffer_.size()) {
    overflow_ = true;
    return;
  }
  mnl_attr_put(&header(), type, value.size(), value.data());
  buffer_[start + kAttrHeaderLen + value.size()] = std::byte{0};
  auto* attr = reinterpret_cast<nlattr*>(buffer_.data() + start);  // NOLINT: 4-byte aligned
  attr->nla_len = static_cast<std::uint16_t>(length);
  header().nlmsg_len = static_cast<std::uint32_t>(start + align(length));
}

void Request::put_bytes(std::uint16_t type, std::span<const std::uint8_t> value) noexcept {
  if (!overflow_) {
    overflow_ = !mnl_attr_put_check(&header(), buffer_.size(), type, value.size(), value.data());
  }
}

std::size_t Request::begin_nested(std::uint16_t type) noexcept {
  const std::size_t offset = header().nlmsg_len;
  if (!overflow_) overflow_ = mnl_attr_nest_start_check(&header(), buffer_.size(), type) == nullptr;
  return offset;
}

void Request::end_nested(std::size_t offset) noexcept {
  if (overflow_ || offset + kAttrHeaderLen > header().nlmsg_len) return;
  mnl_attr_nest_end(&header(),
                    reinterpret_cast<nlattr*>(buffer_.data() + offset));  // NOLINT: aligned
}

// --- Parsing ---------------------------------------------------------------------------------

std::error_code parse_message(const nlmsghdr& message, void* header, std::size_t header_size,
                              std::span<const nlattr*> table) noexcept {
  std::fill(table.begin(), table.end(), nullptr);
  if (message.nlmsg_len < kHeaderLen || mnl_nlmsg_get_payload_len(&message) < header_size) {
    return protocol_error();
  }
  std::memcpy(header, mnl_nlmsg_get_payload(&message), header_size);

  struct Context {
    std::span<const nlattr*> table;
    const char* end = nullptr;  // where the last well-formed attribute ends (aligned)
  } context{table, nullptr};
  // mnl_attr_parse stops quietly at the first attribute that overruns the message; the end
  // pointer lets us tell "no more attributes" from "a truncated attribute".
  auto on_attribute = [](const nlattr* attr, void* data) -> int {
    auto& ctx = *static_cast<Context*>(data);
    const std::uint16_t type = mnl_attr_get_type(attr);
    if (type < ctx.table.size()) ctx.table[type] = attr;
    ctx.end = reinterpret_cast<const char*>(attr) + align(mnl_attr_get_len(attr));  // NOLINT
    return MNL_CB_OK;
  };
  (void)mnl_attr_parse(&message, static_cast<unsigned>(header_size), on_attribute, &context);

  const char* first = static_cast<const char*>(
      mnl_nlmsg_get_payload_offset(&message, header_size));  // first attribute, if any
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(&message));
  const char* end = context.end != nullptr ? context.end : first;
  if (tail > end && tail - end >= static_cast<std::ptrdiff_t>(sizeof(nlattr))) {
    return protocol_error();  // bytes that should have been an attribute but are not one
  }
  return {};
}

std::error_code parse_nested(const nlattr& nest, std::span<const nlattr*> table) noexcept {
  std::fill(table.begin(), table.end(), nullptr);
  if (nest.nla_len < kAttrHeaderLen) return protocol_error();  // no payload to walk
  const auto bytes = payload(nest);
  // Walked by hand rather than with mnl_attr_parse_nested, which stops quietly at the first
  // attribute that overruns the nest: here that is a protocol error.
  std::size_t at = 0;
  // `at` can pass the end by up to 3 bytes (the last attribute's padding, which a nest's length
  // may leave out), so compare without subtracting (found by the netlink fuzz target).
  while (at + kAttrHeaderLen <= bytes.size()) {
    nlattr header{};
    std::memcpy(&header, bytes.data() + at, sizeof header);
    if (header.nla_len < kAttrHeaderLen || header.nla_len > bytes.size() - at) {
      return protocol_error();
    }
    const auto type = static_cast<std::uint16_t>(header.nla_type & NLA_TYPE_MASK);
    // The nest's payload is 4-byte aligned inside the message, so each attribute in it is too.
    if (type < table.size()) {
      table[type] = reinterpret_cast<const nlattr*>(bytes.data() + at);  // NOLINT: aligned
    }
    at += align(header.nla_len);
  }
  return {};
}

std::span<const std::uint8_t> payload(const nlattr& attribute) noexcept {
  // mnl_attr_get_payload_len computes nla_len - 4 in 16 bits: a length below the header would
  // wrap to almost 64 KiB (found by the netlink fuzz target).
  if (attribute.nla_len < kAttrHeaderLen) return {};
  return {static_cast<const std::uint8_t*>(mnl_attr_get_payload(&attribute)),
          mnl_attr_get_payload_len(&attribute)};
}

std::optional<std::uint32_t> get_u32(const nlattr& attribute) noexcept {
  if (mnl_attr_get_payload_len(&attribute) != sizeof(std::uint32_t)) return std::nullopt;
  return mnl_attr_get_u32(&attribute);
}

std::string_view get_string(const nlattr& attribute) noexcept {
  const auto bytes = payload(attribute);
  const auto* text = reinterpret_cast<const char*>(bytes.data());  // NOLINT: char view of bytes
  return {text, strnlen(text, bytes.size())};
}

// --- Socket ----------------------------------------------------------------------------------

Socket Socket::open(sys::Syscalls& sys, std::error_code& ec, std::uint32_t groups) noexcept {
  ec.clear();
  const int fd =
      retry_eintr([&] { return sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE); });
  if (fd < 0) {
    ec = sys_error(-fd);
    return {};
  }
  Socket s(sys, fd);  // owns fd from here: every early return closes it through the seam

  // Optional refinements: old kernels refuse them (ENOPROTOOPT) and work without.
  //  - NETLINK_CAP_ACK: error answers carry only the request's header, not the whole request.
  //  - NETLINK_GET_STRICT_CHK (4.20+): the kernel validates GET requests strictly and honours
  //    the ifindex filter of address dumps, instead of dumping every interface.
  const int one = 1;
  (void)sys.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
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

Socket::Socket(Socket&& other) noexcept
    : sys_(other.sys_),
      fd_(std::exchange(other.fd_, -1)),
      port_id_(other.port_id_),
      seq_(other.seq_) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    sys_ = other.sys_;
    fd_ = std::exchange(other.fd_, -1);
    port_id_ = other.port_id_;
    seq_ = other.seq_;
  }
  return *this;
}

Socket::~Socket() {
  close();
}

void Socket::close() noexcept {
  // Never retried: on Linux the descriptor is released even when close reports EINTR.
  if (fd_ >= 0) (void)sys_->close(std::exchange(fd_, -1));
}

std::error_code Socket::send(Request& request) noexcept {
  if (fd_ < 0) return errc::not_open;
  if (!request.ok()) return sys_error(EMSGSIZE);
  // Sequence numbers pair answers with requests; 0 is what notifications carry, so skip it.
  if (++seq_ == 0) ++seq_;
  request.header().nlmsg_seq = seq_;
  request.header().nlmsg_pid = 0;  // the kernel ignores it for requests sent to it
  const auto bytes = request.bytes();
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  const ssize_t r = retry_eintr([&] {
    return sys_->sendto(fd_, bytes.data(), bytes.size(), 0,
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
  if (fd_ < 0) return errc::not_open;
  constexpr std::size_t kSlack = 8;  // as in exchange()
  const std::unique_ptr<std::byte[]> buffer(new (std::nothrow)
                                                std::byte[kReceiveBufferSize + kSlack]());
  if (!buffer) return sys_error(ENOMEM);
  sockaddr_nl from{};
  socklen_t from_len = sizeof from;
  const ssize_t n = retry_eintr([&] {
    return sys_->recvfrom(fd_, buffer.get(), kReceiveBufferSize, MSG_DONTWAIT | MSG_TRUNC,
                          reinterpret_cast<sockaddr*>(&from), &from_len);
  });
  if (n < 0) return sys_error(static_cast<int>(-n));
  if (static_cast<std::size_t>(n) > kReceiveBufferSize) return protocol_error();
  // Notifications come from the kernel (port 0); anything else was sent by another process.
  if (from_len >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid != 0) return {};

  std::error_code handler_error;
  int left = static_cast<int>(n);
  const nlmsghdr* h = as_header(buffer.get());
  for (; message_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
    if (h->nlmsg_type < NLMSG_MIN_TYPE) continue;  // NOOP, ERROR, DONE, OVERRUN: not events
    if (!handler_error && on_message) handler_error = on_message(*h);
  }
  if (left > 0 && !handler_error) return protocol_error();
  return handler_error;
}

std::error_code Socket::exchange(Request& request, MessageHandler on_message,
                                 bool& dump_interrupted) noexcept {
  if (const std::error_code ec = send(request)) return ec;
  const std::uint32_t seq = seq_;

  // Allocated per request: configuration is not a hot path, and a 32 KiB stack frame in a
  // library function is unfriendly to small thread stacks. The zeroed slack after the datagram
  // keeps attribute parsing in bounds when the last message's length is not 4-byte aligned
  // (parsing runs to the aligned end).
  constexpr std::size_t kSlack = 8;
  const std::unique_ptr<std::byte[]> buffer(new (std::nothrow)
                                                std::byte[kReceiveBufferSize + kSlack]());
  if (!buffer) return sys_error(ENOMEM);

  std::error_code handler_error;  // the first error a handler reported
  for (;;) {
    sockaddr_nl from{};
    socklen_t from_len = sizeof from;
    // MSG_TRUNC makes the kernel report a datagram's real length even when it did not fit.
    const ssize_t n = retry_eintr([&] {
      return sys_->recvfrom(fd_, buffer.get(), kReceiveBufferSize, MSG_TRUNC,
                            reinterpret_cast<sockaddr*>(&from), &from_len);
    });
    if (n < 0) return sys_error(static_cast<int>(-n));
    if (static_cast<std::size_t>(n) > kReceiveBufferSize) return protocol_error();
    // Only the kernel (port 0) answers requests; a datagram from another process is not ours.
    if (from_len >= sizeof from && from.nl_family == AF_NETLINK && from.nl_pid != 0) continue;

    int left = static_cast<int>(n);
    const nlmsghdr* h = as_header(buffer.get());
    for (; message_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
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
          if (e.error < 0) return sys_error(-e.error);
          return handler_error;  // the ACK
        }
        case NLMSG_DONE: {
          // The payload, when present, is the dump's final status (0 or -errno).
          int status = 0;
          if (mnl_nlmsg_get_payload_len(h) >= sizeof status) {
            std::memcpy(&status, mnl_nlmsg_get_payload(h), sizeof status);
          }
          if (status < 0 && status != INT32_MIN) return sys_error(-status);
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
    if (left > 0) return protocol_error();
  }
}

// --- rtnetlink values ------------------------------------------------------------------------

namespace {

// IFLA_LINKINFO: the kind, and for "tun" the driver's own attributes (tun_fill_info).
std::error_code decode_link_info(const nlattr& info, LinkMessage& out) {
  std::array<const nlattr*, IFLA_INFO_DATA + 1> table{};
  if (auto ec = parse_nested(info, table)) return ec;
  if (table[IFLA_INFO_KIND] != nullptr) out.kind.assign(get_string(*table[IFLA_INFO_KIND]));
  if (out.kind != "tun" || table[IFLA_INFO_DATA] == nullptr) return {};

  std::array<const nlattr*, IFLA_TUN_NUM_DISABLED_QUEUES + 1> tun{};
  if (auto ec = parse_nested(*table[IFLA_INFO_DATA], tun)) return ec;
  TunLinkData data;
  // The flags are u8 attributes (nla_put_u8); the counts and ids u32.
  auto flag = [&](int type, bool& field) {
    if (const nlattr* a = tun[static_cast<std::size_t>(type)]) {
      const auto bytes = payload(*a);
      if (bytes.size() != 1) return false;
      field = bytes[0] != 0;
    }
    return true;
  };
  auto u32 = [&](int type, std::optional<std::uint32_t>& field) {
    if (const nlattr* a = tun[static_cast<std::size_t>(type)]) {
      field = get_u32(*a);
      return field.has_value();
    }
    return true;
  };
  if (const nlattr* a = tun[IFLA_TUN_TYPE]) {
    const auto bytes = payload(*a);
    if (bytes.size() != 1) return protocol_error();
    data.type = bytes[0];
  }
  if (!flag(IFLA_TUN_PI, data.packet_info) || !flag(IFLA_TUN_VNET_HDR, data.vnet_hdr) ||
      !flag(IFLA_TUN_PERSIST, data.persist) || !flag(IFLA_TUN_MULTI_QUEUE, data.multi_queue) ||
      !u32(IFLA_TUN_OWNER, data.owner) || !u32(IFLA_TUN_GROUP, data.group) ||
      !u32(IFLA_TUN_NUM_QUEUES, data.queues) ||
      !u32(IFLA_TUN_NUM_DISABLED_QUEUES, data.disabled_queues)) {
    return protocol_error();
  }
  out.tun = data;
  return {};
}

}  // namespace

std::error_code decode_link(const nlmsghdr& message, LinkMessage& out) {
  if (message.nlmsg_type != RTM_NEWLINK && message.nlmsg_type != RTM_DELLINK) {
    return protocol_error();
  }
  ifinfomsg ifi{};
  AttributeTable<IFLA_MAX_MTU + 1> attrs{};
  if (auto ec = parse_message(message, ifi, attrs)) return ec;
  out = {};
  out.message_type = message.nlmsg_type;
  out.ifindex = static_cast<std::uint32_t>(ifi.ifi_index);
  out.type = ifi.ifi_type;
  out.flags = ifi.ifi_flags;
  if (const nlattr* a = attrs[IFLA_IFNAME]) {
    const std::string_view name = get_string(*a);
    if (name.empty() || name.size() >= IFNAMSIZ) return protocol_error();
    out.name.assign(name);
  }
  auto u32 = [&](int type, std::optional<std::uint32_t>& field) {
    if (const nlattr* a = attrs[static_cast<std::size_t>(type)]) {
      field = get_u32(*a);
      return field.has_value();
    }
    return true;
  };
  if (!u32(IFLA_MTU, out.mtu) || !u32(IFLA_MIN_MTU, out.min_mtu) ||
      !u32(IFLA_MAX_MTU, out.max_mtu) || !u32(IFLA_TXQLEN, out.txqlen)) {
    return protocol_error();
  }
  // IFLA_ADDRESS is dev->addr_len bytes: 6 for Ethernet (TAP), absent for TUN (addr_len 0),
  // other sizes for other link types, which have no MAC address to report.
  if (const nlattr* a = attrs[IFLA_ADDRESS]) {
    const auto bytes = payload(*a);
    if (bytes.size() == 6) {
      std::array<std::uint8_t, 6> mac{};
      std::copy(bytes.begin(), bytes.end(), mac.begin());
      out.mac = mac;
    }
  }
  // struct rtnl_link_stats64 grows with kernel versions; its first eight counters never move.
  if (const nlattr* a = attrs[IFLA_STATS64]) {
    const auto bytes = payload(*a);
    std::array<std::uint64_t, 8> counters{};
    if (bytes.size() < sizeof counters) return protocol_error();
    std::memcpy(counters.data(), bytes.data(), sizeof counters);  // payload: 4-byte aligned
    out.stats = LinkCounters{counters[0], counters[1], counters[2], counters[3],
                             counters[4], counters[5], counters[6], counters[7]};
  }
  if (const nlattr* a = attrs[IFLA_LINKINFO]) return decode_link_info(*a, out);
  return {};
}

namespace {

// An address attribute of `family` (4 or 16 bytes), or nullopt when its size does not fit.
std::optional<IpAddress> get_address(std::uint8_t family, const nlattr& attribute) noexcept {
  const auto bytes = payload(attribute);
  if (family == AF_INET && bytes.size() == 4) {
    std::array<std::uint8_t, 4> b{};
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return IpAddress::v4(b);
  }
  if (family == AF_INET6 && bytes.size() == 16) {
    std::array<std::uint8_t, 16> b{};
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return IpAddress::v6(b);
  }
  return std::nullopt;
}

}  // namespace

std::error_code decode_address(const nlmsghdr& message, AddressMessage& out) noexcept {
  if (message.nlmsg_type != RTM_NEWADDR && message.nlmsg_type != RTM_DELADDR) {
    return protocol_error();
  }
  ifaddrmsg ifa{};
  AttributeTable<IFA_FLAGS + 1> attrs{};
  if (auto ec = parse_message(message, ifa, attrs)) return ec;
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return sys_error(EAFNOSUPPORT);
  out = {};
  out.message_type = message.nlmsg_type;
  out.ifindex = ifa.ifa_index;
  out.scope = ifa.ifa_scope;
  out.flags = ifa.ifa_flags;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point
  // configurations and equals IFA_LOCAL otherwise. IPv6 sends IFA_ADDRESS alone unless there is
  // a peer.
  const nlattr* local_attr = attrs[IFA_LOCAL] != nullptr ? attrs[IFA_LOCAL] : attrs[IFA_ADDRESS];
  if (local_attr == nullptr) return protocol_error();
  const auto local = get_address(ifa.ifa_family, *local_attr);
  if (!local) return protocol_error();
  out.prefix = {*local, ifa.ifa_prefixlen};
  if (!out.prefix.is_valid()) return protocol_error();
  if (attrs[IFA_LOCAL] != nullptr && attrs[IFA_ADDRESS] != nullptr) {
    const auto address = get_address(ifa.ifa_family, *attrs[IFA_ADDRESS]);
    if (!address) return protocol_error();
    if (*address != *local) out.peer = *address;
  }
  if (const nlattr* f = attrs[IFA_FLAGS]) {
    const auto flags = get_u32(*f);
    if (!flags) return protocol_error();
    out.flags = *flags;
  }
  return {};
}

std::error_code decode_route(const nlmsghdr& message, RouteMessage& out) noexcept {
  if (message.nlmsg_type != RTM_NEWROUTE && message.nlmsg_type != RTM_DELROUTE) {
    return protocol_error();
  }
  rtmsg rtm{};
  AttributeTable<RTA_TABLE + 1> attrs{};
  if (auto ec = parse_message(message, rtm, attrs)) return ec;
  if (rtm.rtm_family != AF_INET && rtm.rtm_family != AF_INET6) return sys_error(EAFNOSUPPORT);
  out = {};
  out.message_type = message.nlmsg_type;
  out.table = rtm.rtm_table;
  out.protocol = rtm.rtm_protocol;
  out.scope = rtm.rtm_scope;
  out.type = rtm.rtm_type;
  // Without RTA_DST the destination is the family's any-address ("default").
  out.destination.address = rtm.rtm_family == AF_INET ? IpAddress::v4({}) : IpAddress::v6({});
  out.destination.length = rtm.rtm_dst_len;
  if (!out.destination.is_valid()) return protocol_error();
  if (const nlattr* a = attrs[RTA_DST]) {
    const auto dst = get_address(rtm.rtm_family, *a);
    if (!dst) return protocol_error();
    out.destination.address = *dst;
  }
  for (const auto& [type, field] :
       {std::pair{RTA_GATEWAY, &out.gateway}, std::pair{RTA_PREFSRC, &out.source}}) {
    if (const nlattr* a = attrs[type]) {
      *field = get_address(rtm.rtm_family, *a);
      if (!*field) return protocol_error();
    }
  }
  for (const auto& [type, field] :
       {std::pair{RTA_OIF, &out.oif}, std::pair{RTA_PRIORITY, &out.priority},
        std::pair{RTA_TABLE, &out.table}}) {
    if (const nlattr* a = attrs[type]) {
      const auto value = get_u32(*a);
      if (!value) return protocol_error();
      *field = *value;
    }
  }
  return {};
}

Request get_link(std::uint32_t ifindex) noexcept {
  Request r(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = static_cast<int>(ifindex);
  r.put_header(ifi);
  return r;
}

Request get_link(std::string_view name) noexcept {
  Request r(RTM_GETLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  r.put_header(ifi);
  r.put_string(IFLA_IFNAME, name);
  return r;
}

Request dump_links(std::string_view kind) noexcept {
  Request r(RTM_GETLINK, NLM_F_DUMP);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  r.put_header(ifi);
  if (!kind.empty()) {
    const std::size_t info = r.begin_nested(IFLA_LINKINFO);
    r.put_string(IFLA_INFO_KIND, kind);
    r.end_nested(info);
  }
  return r;
}

Request set_link_flags(std::uint32_t ifindex, std::uint32_t flags, std::uint32_t change) noexcept {
  Request r(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = static_cast<int>(ifindex);
  ifi.ifi_flags = flags;
  ifi.ifi_change = change;
  r.put_header(ifi);
  return r;
}

Request set_link_mtu(std::uint32_t ifindex, std::uint32_t mtu) noexcept {
  Request r(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = static_cast<int>(ifindex);
  r.put_header(ifi);
  r.put_u32(IFLA_MTU, mtu);
  return r;
}

namespace {

// RTM_NEWLINK on an existing interface, without flag changes: attributes follow.
Request link_change(std::uint32_t ifindex) noexcept {
  Request r(RTM_NEWLINK, 0);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = static_cast<int>(ifindex);
  r.put_header(ifi);
  return r;
}

Request address_request(std::uint16_t type, std::uint16_t flags, std::uint32_t ifindex,
                        const IpPrefix& prefix, const std::optional<IpAddress>& peer) noexcept {
  Request r(type, flags);
  ifaddrmsg ifa{};
  ifa.ifa_family = prefix.address.is_v4() ? AF_INET : AF_INET6;
  ifa.ifa_prefixlen = prefix.length;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = ifindex;
  r.put_header(ifa);
  if (peer) {
    // rtnetlink(7): IFA_LOCAL is the local address, IFA_ADDRESS the point-to-point peer.
    r.put_bytes(IFA_LOCAL, prefix.address.bytes());
    r.put_bytes(IFA_ADDRESS, peer->bytes());
    return r;
  }
  if (prefix.address.is_v4()) r.put_bytes(IFA_LOCAL, prefix.address.bytes());
  r.put_bytes(IFA_ADDRESS, prefix.address.bytes());
  return r;
}

Request route_request(std::uint16_t type, std::uint16_t flags, const RouteMessage& route,
                      bool removal) noexcept {
  Request r(type, flags);
  rtmsg rtm{};
  rtm.rtm_family = route.destination.address.is_v4() ? AF_INET : AF_INET6;
  rtm.rtm_dst_len = route.destination.length;
  // Tables beyond 255 do not fit rtm_table: RTA_TABLE carries them (rtnetlink(7)).
  rtm.rtm_table =
      route.table <= 255 ? static_cast<std::uint8_t>(route.table) : std::uint8_t{RT_TABLE_UNSPEC};
  if (removal) {
    // As `ip route del`: match any protocol, scope and type.
    rtm.rtm_protocol = RTPROT_UNSPEC;
    rtm.rtm_scope = RT_SCOPE_NOWHERE;
    rtm.rtm_type = RTN_UNSPEC;
  } else {
    rtm.rtm_protocol = route.protocol;
    rtm.rtm_scope = route.scope;
    rtm.rtm_type = route.type;
  }
  r.put_header(rtm);
  if (route.table > 255) r.put_u32(RTA_TABLE, route.table);
  if (route.destination.length > 0) r.put_bytes(RTA_DST, route.destination.address.bytes());
  if (route.oif != 0) r.put_u32(RTA_OIF, route.oif);
  if (route.gateway) r.put_bytes(RTA_GATEWAY, route.gateway->bytes());
  if (route.source && !removal) r.put_bytes(RTA_PREFSRC, route.source->bytes());
  if (route.priority != 0) r.put_u32(RTA_PRIORITY, route.priority);
  return r;
}

}  // namespace

Request set_link_txqlen(std::uint32_t ifindex, std::uint32_t txqlen) noexcept {
  Request r = link_change(ifindex);
  r.put_u32(IFLA_TXQLEN, txqlen);
  return r;
}

Request set_link_address(std::uint32_t ifindex, std::span<const std::uint8_t> address) noexcept {
  Request r = link_change(ifindex);
  r.put_bytes(IFLA_ADDRESS, address);
  return r;
}

Request set_link_name(std::uint32_t ifindex, std::string_view name) noexcept {
  Request r = link_change(ifindex);
  r.put_string(IFLA_IFNAME, name);
  return r;
}

Request set_link_netns_fd(std::uint32_t ifindex, std::uint32_t fd) noexcept {
  Request r = link_change(ifindex);
  r.put_u32(IFLA_NET_NS_FD, fd);
  return r;
}

Request set_link_netns_pid(std::uint32_t ifindex, std::uint32_t pid) noexcept {
  Request r = link_change(ifindex);
  r.put_u32(IFLA_NET_NS_PID, pid);
  return r;
}

Request add_address(std::uint32_t ifindex, const IpPrefix& prefix,
                    const std::optional<IpAddress>& peer) noexcept {
  return address_request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, prefix, peer);
}

Request remove_address(std::uint32_t ifindex, const IpPrefix& prefix,
                       const std::optional<IpAddress>& peer) noexcept {
  return address_request(RTM_DELADDR, 0, ifindex, prefix, peer);
}

Request add_route(const RouteMessage& route) noexcept {
  return route_request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route, false);
}

Request remove_route(const RouteMessage& route) noexcept {
  return route_request(RTM_DELROUTE, 0, route, true);
}

Request dump_routes(std::uint8_t family) noexcept {
  Request r(RTM_GETROUTE, NLM_F_DUMP);
  rtmsg rtm{};
  rtm.rtm_family = family;
  r.put_header(rtm);
  return r;
}

Request dump_addresses(std::uint32_t ifindex) noexcept {
  Request r(RTM_GETADDR, NLM_F_DUMP);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_UNSPEC;
  ifa.ifa_index = ifindex;
  r.put_header(ifa);
  return r;
}

}  // namespace tunkit::detail::netlink
