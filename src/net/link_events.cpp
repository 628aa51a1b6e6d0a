#include "tunkit/link_events.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <fmt/format.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <deque>
#include <map>
#include <utility>
#include <vector>

#include "detail/eintr.hpp"
#include "detail/netlink/address.hpp"
#include "detail/netlink/link.hpp"
#include "detail/netlink/no_throw.hpp"
#include "detail/netlink/socket.hpp"
#include "net/convert.hpp"
#include "tunkit/error.hpp"

namespace tunkit {
namespace {

namespace nl = detail::netlink;
using detail::is_errno;
using detail::sys_error;

constexpr std::uint32_t kGroups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
// Datagrams read per call before the queued events are handed out: keeps a flood of
// notifications from starving the caller.
constexpr int kMaxDatagramsPerRead = 256;

// What LinkEvents last saw of one interface.
struct Known {
  std::string name;
  unsigned flags = 0;
  unsigned mtu = 0;
  std::vector<AddressInfo> addresses;
};
using Snapshot = std::map<unsigned, Known>;

// The same address: local address, prefix length and peer (flags change with DAD and such).
bool same_address(const AddressInfo& a, const AddressInfo& b) noexcept {
  return a.prefix == b.prefix && a.peer == b.peer;
}

LinkEvent make_event(LinkEventType type, unsigned ifindex, const Known& k) {
  LinkEvent e;
  e.type = type;
  e.ifindex = ifindex;
  e.name = k.name;
  e.mtu = k.mtu;
  e.flags = k.flags;
  return e;
}

LinkEvent address_event(LinkEventType type, unsigned ifindex, const Known& k,
                        const AddressInfo& address) {
  LinkEvent e = make_event(type, ifindex, k);
  e.address = address;
  return e;
}

// Appends the events that turn `before` into `after` (one interface, both known).
void diff_link(unsigned ifindex, const Known& before, const Known& after,
               std::deque<LinkEvent>& out) {
  if (after.name != before.name) out.push_back(make_event(LinkEventType::renamed, ifindex, after));
  const unsigned changed = before.flags ^ after.flags;
  if ((changed & IFF_UP) != 0) {
    out.push_back(make_event((after.flags & IFF_UP) != 0 ? LinkEventType::up : LinkEventType::down,
                             ifindex, after));
  }
  if ((changed & IFF_RUNNING) != 0) {
    out.push_back(make_event(
        (after.flags & IFF_RUNNING) != 0 ? LinkEventType::running : LinkEventType::not_running,
        ifindex, after));
  }
  if (after.mtu != before.mtu) {
    out.push_back(make_event(LinkEventType::mtu_changed, ifindex, after));
  }
}

// Appends an event of `type` for each address in `from` that `other` lacks.
void missing_addresses(LinkEventType type, unsigned ifindex, const std::vector<AddressInfo>& from,
                       const std::vector<AddressInfo>& other, const Known& k,
                       std::deque<LinkEvent>& out) {
  for (const AddressInfo& a : from) {
    const bool found = std::any_of(other.begin(), other.end(),
                                   [&](const AddressInfo& b) { return same_address(a, b); });
    if (!found) out.push_back(address_event(type, ifindex, k, a));
  }
}

void diff_addresses(unsigned ifindex, const Known& before, const Known& after,
                    std::deque<LinkEvent>& out) {
  missing_addresses(LinkEventType::address_removed, ifindex, before.addresses, after.addresses,
                    after, out);
  missing_addresses(LinkEventType::address_added, ifindex, after.addresses, before.addresses, after,
                    out);
}

// Reads the current state (of `only`, or of every interface) on a socket of its own: the
// subscription's socket must not mix answers with notifications (netlink pairs answers by
// sequence number and would drop the notifications in between).
std::error_code snapshot(sys::Syscalls& sys, std::optional<unsigned> only, Snapshot& out) {
  out.clear();
  std::error_code ec;
  nl::Socket socket = nl::Socket::open(sys, ec);
  if (ec) return ec;
  auto on_link = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWLINK) return {};
    nl::LinkMessage m;
    if (auto decode_ec = nl::decode_link(message, m)) return decode_ec;
    if (only && m.ifindex != *only) return {};
    out[m.ifindex] = Known{std::move(m.name), m.flags, m.mtu.value_or(0), {}};
    return {};
  };
  if (only) {
    auto request = nl::get_link(*only);
    ec = socket.transact(request, on_link);
    if (is_errno(ec, ENODEV)) ec = errc::link_not_found;
  } else {
    auto request = nl::dump_links();
    ec = socket.dump(request, on_link, [&] { out.clear(); });
  }
  if (ec) return ec;
  auto on_address = [&](const nl::AddressMessage& a) -> std::error_code {
    const auto it = out.find(a.ifindex);
    if (it != out.end()) it->second.addresses.push_back(detail::to_address_info(a));
    return {};
  };
  return nl::for_each_address(socket, only.value_or(0), on_address, [&] {
    for (auto& [index, known] : out)
      known.addresses.clear();
  });
}

}  // namespace

struct LinkEvents::State {
  sys::Syscalls* sys = nullptr;
  nl::Socket socket;
  std::optional<unsigned> only;
  Snapshot links;
  std::deque<LinkEvent> pending;

  void on_link(nl::LinkMessage&& m) {
    if (only && m.ifindex != *only) return;
    const auto it = links.find(m.ifindex);
    if (m.message_type == RTM_DELLINK) {
      if (it == links.end()) return;
      Known gone = std::move(it->second);
      links.erase(it);
      if (!m.name.empty()) gone.name = std::move(m.name);
      gone.flags = m.flags;
      pending.push_back(make_event(LinkEventType::removed, m.ifindex, gone));
      return;
    }
    if (it == links.end()) {
      Known& k = links[m.ifindex] = Known{std::move(m.name), m.flags, m.mtu.value_or(0), {}};
      pending.push_back(make_event(LinkEventType::added, m.ifindex, k));
      return;
    }
    Known after = it->second;  // addresses travel in their own messages
    if (!m.name.empty()) after.name = std::move(m.name);
    after.flags = m.flags;
    if (m.mtu) after.mtu = *m.mtu;
    diff_link(m.ifindex, it->second, after, pending);
    it->second = std::move(after);
  }

  void on_address(const nl::AddressMessage& a) {
    if (only && a.ifindex != *only) return;
    const auto it = links.find(a.ifindex);
    if (it == links.end()) return;  // a link not (yet) seen: its own message comes first
    auto& list = it->second.addresses;
    const AddressInfo info = detail::to_address_info(a);
    const auto found = std::find_if(list.begin(), list.end(),
                                    [&](const AddressInfo& b) { return same_address(info, b); });
    if (a.message_type == RTM_DELADDR) {
      if (found == list.end()) return;
      list.erase(found);
      pending.push_back(address_event(LinkEventType::address_removed, a.ifindex, it->second, info));
    } else if (found != list.end()) {
      *found = info;  // an update (DAD done, lifetimes): not a new address
    } else {
      list.push_back(info);
      pending.push_back(address_event(LinkEventType::address_added, a.ifindex, it->second, info));
    }
  }

  std::error_code on_message(const nlmsghdr& message) {
    switch (message.nlmsg_type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        nl::LinkMessage m;
        if (auto ec = nl::decode_link(message, m)) return ec;
        on_link(std::move(m));
        return {};
      }
      case RTM_NEWADDR:
      case RTM_DELADDR: {
        nl::AddressMessage a;
        const std::error_code ec = nl::decode_address(message, a);
        if (is_errno(ec, EAFNOSUPPORT)) return {};
        if (ec) return ec;
        on_address(a);
        return {};
      }
      default:
        return {};  // other groups' messages, should the socket get any
    }
  }

  // The kernel dropped notifications (ENOBUFS): read the state again and report what differs.
  std::error_code resync() {
    Snapshot now;
    std::error_code ec = snapshot(*sys, only, now);
    if (ec == errc::link_not_found) {
      now.clear();  // the one interface is gone
      ec.clear();
    }
    if (ec) return ec;
    for (const auto& [index, before] : links) {
      const auto it = now.find(index);
      if (it == now.end()) {
        Known empty = before;
        empty.addresses.clear();
        diff_addresses(index, before, empty, pending);
        pending.push_back(make_event(LinkEventType::removed, index, before));
      } else {
        diff_link(index, before, it->second, pending);
        diff_addresses(index, before, it->second, pending);
      }
    }
    for (const auto& [index, after] : now) {
      if (links.contains(index)) continue;
      pending.push_back(make_event(LinkEventType::added, index, after));
      diff_addresses(index, Known{after.name, after.flags, after.mtu, {}}, after, pending);
    }
    links = std::move(now);
    return {};
  }

  // Reads every queued datagram (up to a bound) into `pending`.
  std::error_code read_queued() {
    for (int i = 0; i < kMaxDatagramsPerRead; ++i) {
      std::error_code ec = socket.receive([&](const nlmsghdr& message) {
        return nl::no_throw([&] { return on_message(message); });
      });
      if (is_errno(ec, EAGAIN) || is_errno(ec, EWOULDBLOCK)) return {};
      if (is_errno(ec, ENOBUFS)) ec = nl::no_throw([&] { return resync(); });
      if (ec) return ec;
    }
    return {};
  }
};

std::string_view to_string(LinkEventType type) noexcept {
  switch (type) {
    case LinkEventType::added:
      return "added";
    case LinkEventType::removed:
      return "removed";
    case LinkEventType::up:
      return "up";
    case LinkEventType::down:
      return "down";
    case LinkEventType::running:
      return "running";
    case LinkEventType::not_running:
      return "not_running";
    case LinkEventType::mtu_changed:
      return "mtu_changed";
    case LinkEventType::renamed:
      return "renamed";
    case LinkEventType::address_added:
      return "address_added";
    case LinkEventType::address_removed:
      return "address_removed";
  }
  return "?";
}

LinkEvents::LinkEvents() noexcept = default;
LinkEvents::LinkEvents(LinkEvents&& other) noexcept = default;
LinkEvents& LinkEvents::operator=(LinkEvents&& other) noexcept = default;
LinkEvents::~LinkEvents() = default;

LinkEvents LinkEvents::all(sys::Syscalls& sys) {
  LinkEvents events;
  std::error_code ec;
  events.open(std::nullopt, ec, sys);
  if (ec) throw make_error(ec, "subscribe to link events");
  return events;
}

LinkEvents::LinkEvents(unsigned ifindex, sys::Syscalls& sys) {
  std::error_code ec;
  open(ifindex, ec, sys);
  if (ec) {
    throw make_error(ec, fmt::format("subscribe to link events of interface index {}", ifindex));
  }
}

void LinkEvents::open(std::optional<unsigned> ifindex, std::error_code& ec,
                      sys::Syscalls& sys) noexcept {
  ec.clear();
  state_.reset();
  if (ifindex && (*ifindex == 0 || *ifindex > static_cast<unsigned>(INT_MAX))) {
    ec = errc::link_not_found;
    return;
  }
  ec = nl::no_throw([&] {
    auto state = std::make_unique<State>();
    state->sys = &sys;
    state->only = ifindex;
    // Subscribe first, then read the state: a change in between is then both in the state and
    // in the queue, and the comparison drops the duplicate; the other order would lose it.
    std::error_code open_ec;
    state->socket = nl::Socket::open(sys, open_ec, kGroups);
    if (open_ec) return open_ec;
    if (auto snapshot_ec = snapshot(sys, ifindex, state->links)) return snapshot_ec;
    state_ = std::move(state);
    return std::error_code{};
  });
}

bool LinkEvents::is_open() const noexcept {
  return state_ != nullptr && state_->socket.is_open();
}

int LinkEvents::native_handle() const noexcept {
  return state_ ? state_->socket.native_handle() : -1;
}

std::optional<LinkEvent> LinkEvents::next_event(std::chrono::milliseconds timeout) {
  std::error_code ec;
  auto event = next_event(timeout, ec);
  if (ec) throw make_error(ec, "read link events");
  return event;
}

std::optional<LinkEvent> LinkEvents::next_event(std::chrono::milliseconds timeout,
                                                std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) {
    ec = errc::not_open;
    return std::nullopt;
  }
  State& s = *state_;
  using Clock = std::chrono::steady_clock;
  const bool forever = timeout.count() < 0;
  const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds(0) : timeout);
  for (;;) {
    if (!s.pending.empty()) {
      LinkEvent e = std::move(s.pending.front());
      s.pending.pop_front();
      return e;
    }
    ec = s.read_queued();
    if (ec) return std::nullopt;
    if (!s.pending.empty()) continue;
    int wait_ms = -1;
    if (!forever) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      wait_ms = static_cast<int>(std::min<long long>(left, INT_MAX));
    }
    pollfd p{s.socket.native_handle(), POLLIN, 0};
    const int r = s.sys->poll(&p, 1, wait_ms);
    if (r == -EINTR) continue;
    if (r < 0) {
      ec = sys_error(-r);
      return std::nullopt;
    }
    if (r == 0 && !forever) return std::nullopt;  // the time passed without a notification
  }
}

std::size_t LinkEvents::dispatch(const std::function<void(const LinkEvent&)>& handler) {
  if (!is_open()) throw make_error(errc::not_open, "read link events");
  State& s = *state_;
  if (const std::error_code ec = s.read_queued()) throw make_error(ec, "read link events");
  std::size_t handled = 0;
  while (!s.pending.empty()) {
    const LinkEvent e = std::move(s.pending.front());
    s.pending.pop_front();
    handler(e);
    ++handled;
  }
  return handled;
}

}  // namespace tunkit
