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
// Datagrams read per call while a resync is due, whose reading must reach an empty queue (see
// resync): the kernel queues nothing while the socket is congested, so this is only reached when
// notifications keep arriving as fast as they are read; the call then fails with ENOBUFS and the
// next one carries on.
constexpr int kMaxDatagramsPerResync = 65536;
// Times the state is read again in one call when notifications keep being lost while it is
// read; and when subscribing, before giving up (ENOBUFS).
constexpr int kMaxResyncsPerRead = 4;
constexpr int kSubscribeAttempts = 4;

// What LinkEvents last saw of one interface.
struct Known {
  std::string name;
  unsigned flags = 0;
  unsigned mtu = 0;
  std::vector<AddressInfo> addresses;
};
using Snapshot = std::map<unsigned, Known>;
using Events = std::deque<LinkEvent>;

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
void diff_link(unsigned ifindex, const Known& before, const Known& after, Events& out) {
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
                       const std::vector<AddressInfo>& other, const Known& k, Events& out) {
  for (const AddressInfo& a : from) {
    const bool found = std::any_of(other.begin(), other.end(),
                                   [&](const AddressInfo& b) { return same_address(a, b); });
    if (!found) out.push_back(address_event(type, ifindex, k, a));
  }
}

void diff_addresses(unsigned ifindex, const Known& before, const Known& after, Events& out) {
  missing_addresses(LinkEventType::address_removed, ifindex, before.addresses, after.addresses,
                    after, out);
  missing_addresses(LinkEventType::address_added, ifindex, after.addresses, before.addresses, after,
                    out);
}

// Appends the events that turn `before` into `after` (every interface): first the interfaces
// that went (their addresses, then themselves), then the changes of those that stayed, then the
// ones that came (themselves, then their addresses); each group by index. Removals come first so
// that a name or address freed by one is not seen twice.
void diff(const Snapshot& before, const Snapshot& after, Events& out) {
  for (const auto& [index, gone] : before) {
    if (after.contains(index)) continue;
    missing_addresses(LinkEventType::address_removed, index, gone.addresses, {}, gone, out);
    out.push_back(make_event(LinkEventType::removed, index, gone));
  }
  for (const auto& [index, now] : after) {
    const auto it = before.find(index);
    if (it == before.end()) continue;
    diff_link(index, it->second, now, out);
    diff_addresses(index, it->second, now, out);
  }
  for (const auto& [index, came] : after) {
    if (before.contains(index)) continue;
    out.push_back(make_event(LinkEventType::added, index, came));
    missing_addresses(LinkEventType::address_added, index, came.addresses, {}, came, out);
  }
}

// Applies one link notification to `links`, appending the events it makes to `out` when given.
void apply_link(Snapshot& links, nl::LinkMessage&& m, Events* out) {
  const auto it = links.find(m.ifindex);
  if (m.message_type == RTM_DELLINK) {
    if (it == links.end()) return;
    Known gone = std::move(it->second);
    links.erase(it);
    if (!m.name.empty()) gone.name = std::move(m.name);
    gone.flags = m.flags;
    if (out != nullptr) out->push_back(make_event(LinkEventType::removed, m.ifindex, gone));
    return;
  }
  if (it == links.end()) {
    Known& k = links[m.ifindex] = Known{std::move(m.name), m.flags, m.mtu.value_or(0), {}};
    if (out != nullptr) out->push_back(make_event(LinkEventType::added, m.ifindex, k));
    return;
  }
  Known after = it->second;  // addresses travel in their own messages
  if (!m.name.empty()) after.name = std::move(m.name);
  after.flags = m.flags;
  if (m.mtu) after.mtu = *m.mtu;
  if (out != nullptr) diff_link(m.ifindex, it->second, after, *out);
  it->second = std::move(after);
}

// Applies one address notification to `links`, appending its event to `out` when given.
void apply_address(Snapshot& links, const nl::AddressMessage& a, Events* out) {
  const auto it = links.find(a.ifindex);
  if (it == links.end()) return;  // a link not (yet) seen: its own message comes first
  auto& list = it->second.addresses;
  const AddressInfo info = detail::to_address_info(a);
  const auto found = std::find_if(list.begin(), list.end(),
                                  [&](const AddressInfo& b) { return same_address(info, b); });
  if (a.message_type == RTM_DELADDR) {
    if (found == list.end()) return;
    list.erase(found);
    if (out != nullptr) {
      out->push_back(address_event(LinkEventType::address_removed, a.ifindex, it->second, info));
    }
  } else if (found != list.end()) {
    *found = info;  // an update (DAD done, lifetimes): not a new address
  } else {
    list.push_back(info);
    if (out != nullptr) {
      out->push_back(address_event(LinkEventType::address_added, a.ifindex, it->second, info));
    }
  }
}

// Applies one notification (of interface `only`, or of any) to `links`; events to `out` when
// given.
std::error_code apply(Snapshot& links, const nlmsghdr& message, std::optional<unsigned> only,
                      Events* out) {
  switch (message.nlmsg_type) {
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      nl::LinkMessage m;
      if (auto ec = nl::decode_link(message, m)) return ec;
      if (only && m.ifindex != *only) return {};
      apply_link(links, std::move(m), out);
      return {};
    }
    case RTM_NEWADDR:
    case RTM_DELADDR: {
      nl::AddressMessage a;
      const std::error_code ec = nl::decode_address(message, a);
      if (is_errno(ec, EAFNOSUPPORT)) return {};
      if (ec) return ec;
      if (only && a.ifindex != *only) return {};
      apply_address(links, a, out);
      return {};
    }
    default:
      return {};  // other groups' messages, should the socket get any
  }
}

// Reads the current state (of `only`, or of every interface) on a socket of its own: the
// subscription's socket must not mix answers with notifications (netlink pairs answers by
// sequence number and would drop the notifications in between). The one interface being gone
// is an empty state, not an error.
std::error_code snapshot(sys::Syscalls& sys, std::optional<unsigned> only, Snapshot& out) {
  out.clear();
  std::error_code ec;
  nl::Socket socket = nl::Socket::open(sys, ec);
  if (ec) return ec;
  auto on_link = [&](const nlmsghdr& message) -> std::error_code {
    if (message.nlmsg_type != RTM_NEWLINK) return {};
    return nl::no_throw([&] {
      nl::LinkMessage m;
      if (auto decode_ec = nl::decode_link(message, m)) return decode_ec;
      if (only && m.ifindex != *only) return std::error_code{};
      out[m.ifindex] = Known{std::move(m.name), m.flags, m.mtu.value_or(0), {}};
      return std::error_code{};
    });
  };
  if (only) {
    auto request = nl::get_link(*only);
    ec = socket.transact(request, on_link);
    if (is_errno(ec, ENODEV)) return {};
  } else {
    auto request = nl::dump_links();
    ec = socket.dump(request, on_link, [&] { out.clear(); });
  }
  if (ec) return ec;
  auto on_address = [&](const nl::AddressMessage& a) -> std::error_code {
    const auto it = out.find(a.ifindex);
    if (it == out.end()) return {};
    return nl::no_throw([&] { it->second.addresses.push_back(detail::to_address_info(a)); });
  };
  return nl::for_each_address(socket, only.value_or(0), on_address, [&] {
    for (auto& [index, known] : out)
      known.addresses.clear();
  });
}

}  // namespace

// The subscription. `links` is what the events handed out so far (and those in `pending`) say;
// it follows the kernel through the notifications, read in the order the kernel queued them,
// except when the kernel dropped some (ENOBUFS): then `resync_due` is set until the state has
// been read again (`resync`).
struct LinkEvents::State {
  sys::Syscalls* sys = nullptr;
  nl::Socket socket;
  std::optional<unsigned> only;
  Snapshot links;
  Events pending;
  bool resync_due = false;
  std::uint64_t overflows = 0;

  // Reads one datagram, applying its notifications to `target` (events to `out` when given).
  // EAGAIN when the queue is empty; ENOBUFS (counted) when the kernel dropped notifications.
  std::error_code receive(Snapshot& target, Events* out) {
    const std::error_code ec = socket.receive([&](const nlmsghdr& message) {
      return nl::no_throw([&] { return apply(target, message, only, out); });
    });
    if (is_errno(ec, ENOBUFS)) ++overflows;
    return ec;
  }

  // Reads the state again after notifications were lost, called when the queue has just been
  // read empty. The order is what makes the result exact:
  //  1. (done by the caller) What was still queued when the kernel reported the loss is older
  //     than it (the kernel reports the error first, and queues nothing more on a congested
  //     socket until it has been read empty: netlink_rcv_wake): it was applied as usual, its
  //     events first.
  //  2. The state is read on a socket of its own (a dump, restarted while the kernel marks it
  //     inconsistent). Notifications keep arriving meanwhile.
  //  3. What arrived until the queue is empty again is laid over that state, without events:
  //     for an interface (or address) it names, its last notification is as new as what the
  //     dump saw or newer, since any change after the dump read it would follow it; for the
  //     others, the dump is current. Applied one by one with events instead, a notification
  //     older than what the dump saw would take the state back in time before it came forward.
  //  4. The differences between `links` and that state become the events.
  // When notifications are lost again during 2 or 3, the result is dropped and `resync_due`
  // stays set: the caller reads on (step 1 again) and calls again.
  std::error_code resync(int& reads, Events* out) {
    Snapshot now;
    if (auto ec = snapshot(*sys, only, now)) return ec;
    for (;;) {
      if (++reads > kMaxDatagramsPerResync) return sys_error(ENOBUFS);
      const std::error_code ec = receive(now, nullptr);
      if (is_errno(ec, EAGAIN) || is_errno(ec, EWOULDBLOCK)) break;
      if (is_errno(ec, ENOBUFS)) return {};  // lost again: still due
      if (ec) return ec;
    }
    return nl::no_throw([&] {
      if (out != nullptr) diff(links, now, *out);
      links = std::move(now);
      resync_due = false;
    });
  }

  // Reads queued datagrams into `pending`: until the queue is empty, or `kMaxDatagramsPerRead`
  // of them unless a resync is due (which needs an empty queue first, see above).
  std::error_code read_queued() {
    int reads = 0;
    int resyncs = 0;
    for (;;) {
      if (!resync_due && reads >= kMaxDatagramsPerRead) return {};
      if (++reads > kMaxDatagramsPerResync) return sys_error(ENOBUFS);
      std::error_code ec = receive(links, &pending);
      if (is_errno(ec, ENOBUFS)) {
        resync_due = true;  // what is still queued is older than the loss: read it first
        continue;
      }
      if (!is_errno(ec, EAGAIN) && !is_errno(ec, EWOULDBLOCK)) {
        if (ec) return ec;
        continue;
      }
      if (!resync_due) return {};
      ec = resync(reads, &pending);
      if (ec || !resync_due) return ec;
      // Lost again while reading the state: the queue was full then, so the descriptor is
      // readable and the next call carries on; this one hands out what it has.
      if (++resyncs == kMaxResyncsPerRead) return {};
    }
  }

  // The state when subscribing: steps 2 and 3 of `resync` (what is queued since the
  // subscription is part of it, not a change after it), again when notifications were lost.
  std::error_code subscribe() {
    int reads = 0;
    for (int attempt = 0; attempt < kSubscribeAttempts; ++attempt) {
      resync_due = true;
      if (auto ec = resync(reads, nullptr)) return ec;
      if (!resync_due) return {};
      // Lost: empty the queue (its content is older than the next reading of the state).
      for (;;) {
        if (++reads > kMaxDatagramsPerResync) return sys_error(ENOBUFS);
        const std::error_code ec = socket.receive({});
        if (is_errno(ec, EAGAIN) || is_errno(ec, EWOULDBLOCK)) break;
        if (ec && !is_errno(ec, ENOBUFS)) return ec;
      }
    }
    return sys_error(ENOBUFS);
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
    // Subscribe first, then read the state: a change in between is then in the queue, which
    // `subscribe` lays over the state; the other order would lose it.
    std::error_code open_ec;
    state->socket = nl::Socket::open(sys, open_ec, kGroups);
    if (open_ec) return open_ec;
    if (auto subscribe_ec = state->subscribe()) return subscribe_ec;
    if (ifindex && !state->links.contains(*ifindex)) return std::error_code(errc::link_not_found);
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

std::uint64_t LinkEvents::overflows() const noexcept {
  return state_ ? state_->overflows : 0;
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
