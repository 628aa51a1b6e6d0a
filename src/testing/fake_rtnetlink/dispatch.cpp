// The request plumbing of the fake rtnetlink: a datagram in, each message decoded, recorded,
// scripted (fail_next, edit_next_reply) and dispatched to its family's handler, the answers
// queued; and what every answer shares (ACKs, errors, dump datagrams, NLMSG_DONE).
#include "testing/fake_rtnetlink/internal.hpp"

#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

namespace tunkit::testing {
namespace fake_rtnl {
namespace {

// The kernel fills a dump datagram up to about a page before the reader offers a larger buffer.
constexpr std::size_t kDumpDatagram = 4096;
// sendmsg refuses datagrams larger than the default send buffer allows (EMSGSIZE).
constexpr std::size_t kMaxSend = 212992 - 32;

void append(Datagram& d, const Datagram& message) {
  d.insert(d.end(), message.begin(), message.end());
}

// Decodes a request's family header and attributes; false when they are malformed. Stricter
// than the kernel, which only warns about bytes left over after the attributes: here that is
// EINVAL, so that marshalling bugs surface in tests.
bool decode(const nlmsghdr* nlh, FakeRtnetlink::Request& r, std::size_t header_size) {
  const std::size_t payload = mnl_nlmsg_get_payload_len(nlh);
  if (payload < header_size) return false;
  const auto* p = static_cast<const std::uint8_t*>(mnl_nlmsg_get_payload(nlh));
  if (nlh->nlmsg_type == RTM_NEWLINK || nlh->nlmsg_type == RTM_DELLINK ||
      nlh->nlmsg_type == RTM_GETLINK || nlh->nlmsg_type == RTM_SETLINK) {
    ifinfomsg ifi{};
    std::memcpy(&ifi, p, sizeof ifi);
    r.family = ifi.ifi_family;
    r.ifindex = static_cast<std::uint32_t>(ifi.ifi_index);
    r.ifi_flags = ifi.ifi_flags;
    r.ifi_change = ifi.ifi_change;
  } else if (nlh->nlmsg_type == RTM_NEWROUTE || nlh->nlmsg_type == RTM_DELROUTE ||
             nlh->nlmsg_type == RTM_GETROUTE) {
    rtmsg rtm{};
    std::memcpy(&rtm, p, sizeof rtm);
    r.family = rtm.rtm_family;
    r.prefix_length = rtm.rtm_dst_len;
    r.table = rtm.rtm_table;
    r.protocol = rtm.rtm_protocol;
    r.scope = rtm.rtm_scope;
    r.route_type = rtm.rtm_type;
  } else {
    ifaddrmsg ifa{};
    std::memcpy(&ifa, p, sizeof ifa);
    r.family = ifa.ifa_family;
    r.ifindex = ifa.ifa_index;
    r.prefix_length = ifa.ifa_prefixlen;
    r.ifa_flags = ifa.ifa_flags;
    r.scope = ifa.ifa_scope;
  }
  std::size_t offset = align(header_size);
  while (offset < align(payload)) {
    if (payload - std::min(payload, offset) < sizeof(nlattr)) return false;
    nlattr a{};
    std::memcpy(&a, p + offset, sizeof a);
    if (a.nla_len < sizeof(nlattr) || offset + a.nla_len > payload) return false;
    FakeRtnetlink::Attribute attr;
    attr.type = static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK);
    attr.payload.assign(p + offset + kAttrHeaderLen, p + offset + a.nla_len);
    r.attributes.push_back(std::move(attr));
    offset += align(a.nla_len);
  }
  return true;
}

std::size_t family_header_size(std::uint16_t type) {
  switch (type) {
    case RTM_NEWLINK:
    case RTM_DELLINK:
    case RTM_GETLINK:
    case RTM_SETLINK:
      return sizeof(ifinfomsg);
    case RTM_NEWADDR:
    case RTM_DELADDR:
    case RTM_GETADDR:
      return sizeof(ifaddrmsg);
    case RTM_NEWROUTE:
    case RTM_DELROUTE:
    case RTM_GETROUTE:
      return sizeof(rtmsg);
    default:
      return 0;
  }
}

}  // namespace

// Adds `message` to the multi-part answer `out`, starting a new datagram when the current one
// is full, as the kernel's dump does.
void append_multi(std::vector<Datagram>& out, const Datagram& message) {
  if (out.empty() || out.back().size() + message.size() > kDumpDatagram) out.emplace_back();
  append(out.back(), message);
}

Datagram done_message(std::uint32_t seq, std::uint32_t port, int status) {
  Builder b(NLMSG_DONE, NLM_F_MULTI, seq, port);
  b.raw(&status, sizeof status);
  return b.take();
}

std::optional<IpAddress> to_address(std::uint8_t family, const std::vector<std::uint8_t>& b) {
  if (family == AF_INET && b.size() == 4) return IpAddress::v4({b[0], b[1], b[2], b[3]});
  if (family == AF_INET6 && b.size() == 16) {
    std::array<std::uint8_t, 16> a{};
    std::copy(b.begin(), b.end(), a.begin());
    return IpAddress::v6(a);
  }
  return std::nullopt;
}

}  // namespace fake_rtnl

using namespace fake_rtnl;  // NOLINT(google-build-using-namespace): this fake's own helpers

// --- Request / Attribute helpers -------------------------------------------------------------

std::optional<std::uint32_t> FakeRtnetlink::Attribute::u32() const {
  if (payload.size() != 4) return std::nullopt;
  std::uint32_t v = 0;
  std::memcpy(&v, payload.data(), sizeof v);
  return v;
}

std::string FakeRtnetlink::Attribute::str() const {
  const auto nul = std::find(payload.begin(), payload.end(), std::uint8_t{0});
  return {payload.begin(), nul};
}

const FakeRtnetlink::Attribute* FakeRtnetlink::Request::find(std::uint16_t t) const {
  for (const auto& a : attributes) {
    if (a.type == t) return &a;
  }
  return nullptr;
}

// --- One request in, answers out -------------------------------------------------------------

// Answers the request; returns the datagrams to queue.
std::vector<Datagram> FakeRtnetlink::Handler::run(bool decoded, std::optional<int> scripted,
                                                  const std::string& extack) {
  std::vector<Datagram> out;
  const bool ack = (nlh_->nlmsg_flags & NLM_F_ACK) != 0;
  // netlink_rcv_skb: messages that are not requests, and control messages, are only acked.
  if ((nlh_->nlmsg_flags & NLM_F_REQUEST) == 0 || nlh_->nlmsg_type < NLMSG_MIN_TYPE) {
    if (ack) out.push_back(error_message(0));
    return out;
  }
  bool dumped = false;
  int err = 0;
  if (scripted) {
    err = *scripted;
  } else if (mnl_nlmsg_get_payload_len(nlh_) < 1) {
    err = 0;  // rtnetlink ignores messages without even a family byte
  } else if (nlh_->nlmsg_type > RTM_MAX) {
    err = EOPNOTSUPP;
  } else if ((nlh_->nlmsg_type & 3) != 2 && !fake_.net_admin_) {
    err = EPERM;  // every kind but GET needs CAP_NET_ADMIN
  } else if (family_header_size(nlh_->nlmsg_type) != 0 && !decoded) {
    err = EINVAL;
  } else {
    err = dispatch(out, dumped);
  }
  if (err != 0) {
    out.clear();
    out.push_back(error_message(err, scripted ? extack : std::string()));
  } else if (ack && !dumped) {
    out.push_back(error_message(0));  // a dump ends with NLMSG_DONE, never an ACK
  }
  return out;
}

int FakeRtnetlink::Handler::dispatch(std::vector<Datagram>& out, bool& dumped) {
  switch (nlh_->nlmsg_type) {
    case RTM_GETLINK:
      if (is_dump()) {
        dumped = true;
        return dump_links(out);
      }
      return get_link(out);
    case RTM_NEWLINK:
      return new_link();
    case RTM_NEWADDR:
      return new_address();
    case RTM_DELADDR:
      return delete_address();
    case RTM_GETADDR:
      if (!is_dump()) return EOPNOTSUPP;
      dumped = true;
      return dump_addresses(out);
    case RTM_NEWROUTE:
      return new_route();
    case RTM_DELROUTE:
      return delete_route();
    case RTM_GETROUTE:
      if (!is_dump()) return EOPNOTSUPP;  // route look-ups (ip route get) are not simulated
      dumped = true;
      return dump_routes(out);
    default:
      return EOPNOTSUPP;
  }
}

// NLMSG_ERROR: 0 is the ACK. As netlink_ack: the request's header, and on errors (without
// NETLINK_CAP_ACK) its whole payload too.
// With NETLINK_EXT_ACK and a message, NLM_F_ACK_TLVS and NLMSGERR_ATTR_MSG after the request.
Datagram FakeRtnetlink::Handler::error_message(int err, const std::string& extack) const {
  const bool full = err != 0 && !socket_.cap_ack;
  const bool tlvs = err != 0 && socket_.ext_ack && !extack.empty();
  const auto flags =
      static_cast<std::uint16_t>((full ? 0 : NLM_F_CAPPED) | (tlvs ? NLM_F_ACK_TLVS : 0));
  Builder b(NLMSG_ERROR, flags, nlh_->nlmsg_seq, socket_.port_id);
  const int error = -err;
  b.raw(&error, sizeof error);
  b.raw(nlh_, full ? nlh_->nlmsg_len : sizeof(nlmsghdr));
  if (tlvs) b.str(NLMSGERR_ATTR_MSG, extack);
  return b.take();
}

Datagram FakeRtnetlink::Handler::done(int status) const {
  return done_message(nlh_->nlmsg_seq, socket_.port_id, status);
}

std::optional<TunInfo> FakeRtnetlink::Handler::tun_info(unsigned ifindex) const {
  if (!fake_.tun_info_) return std::nullopt;
  return fake_.tun_info_(ifindex);
}

ssize_t FakeRtnetlink::sendto(int fd, const void* buf, std::size_t len, int /*flags*/,
                              const sockaddr* addr, socklen_t addrlen) {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return -EBADF;
  if (addr != nullptr) {
    if (addrlen < sizeof(sockaddr_nl)) return -EINVAL;
    sockaddr_nl nl{};
    std::memcpy(&nl, addr, sizeof nl);
    if (nl.nl_family != AF_NETLINK) return -EINVAL;
    if (nl.nl_pid != 0) return -ECONNREFUSED;  // no other netlink peers in the fake
  }
  if (buf == nullptr && len > 0) return -EFAULT;
  if (len > kMaxSend) return -EMSGSIZE;
  Socket& socket = it->second;
  if (!socket.bound) autobind(socket);

  // Work on an aligned copy: the caller's buffer may be at any address.
  std::vector<std::uint32_t> words((len + 3) / 4 + 1, 0);
  if (len > 0) std::memcpy(words.data(), buf, len);
  const auto* base = reinterpret_cast<const std::byte*>(words.data());  // NOLINT: byte view

  // netlink_rcv_skb: message by message; a bad length ends the datagram silently.
  std::size_t offset = 0;
  while (len - offset >= kHeaderLen) {
    const auto* nlh = reinterpret_cast<const nlmsghdr*>(base + offset);  // NOLINT: aligned
    if (nlh->nlmsg_len < kHeaderLen || nlh->nlmsg_len > len - offset) break;

    Request request;
    request.fd = fd;
    request.type = nlh->nlmsg_type;
    request.flags = nlh->nlmsg_flags;
    request.seq = nlh->nlmsg_seq;
    request.port_id = nlh->nlmsg_pid;
    request.bytes.assign(base + offset, base + offset + nlh->nlmsg_len);
    std::vector<Datagram> answer;
    if (socket.protocol == NETLINK_GENERIC) {
      answer = genl(socket, nlh, request);  // records the request itself, decoded as genl
    } else {
      const std::size_t header_size = family_header_size(nlh->nlmsg_type);
      const bool decoded = header_size == 0 || decode(nlh, request, header_size);
      requests_.push_back(request);

      std::optional<int> scripted;
      std::string extack;
      if (const auto f = failures_.find(nlh->nlmsg_type); f != failures_.end()) {
        scripted = f->second.first;
        extack = std::move(f->second.second);
        failures_.erase(f);
      }
      answer = Handler(*this, socket, nlh, request).run(decoded, scripted, extack);
    }
    if (const auto e = editors_.find(nlh->nlmsg_type); e != editors_.end()) {
      const ReplyEditor editor = std::move(e->second);
      editors_.erase(e);
      editor(answer);
    }
    for (auto& d : answer)
      socket.queue.push_back(std::move(d));

    offset += std::min(align(nlh->nlmsg_len), len - offset);
  }
  return static_cast<ssize_t>(len);
}

// --- Scripting -----------------------------------------------------------------------------

void FakeRtnetlink::fail_next(std::uint16_t type, int err) {
  failures_.emplace(type, std::pair<int, std::string>(err, std::string()));
}

void FakeRtnetlink::fail_next(std::uint16_t type, int err, std::string extack) {
  failures_.emplace(type, std::pair<int, std::string>(err, std::move(extack)));
}

void FakeRtnetlink::fail_next_genl(std::uint8_t cmd, int err, std::string extack) {
  genl_failures_.emplace(cmd, std::pair<int, std::string>(err, std::move(extack)));
}

void FakeRtnetlink::edit_next_reply(std::uint16_t type, ReplyEditor editor) {
  editors_.emplace(type, std::move(editor));
}

}  // namespace tunkit::testing
