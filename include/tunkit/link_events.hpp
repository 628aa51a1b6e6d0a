#pragma once
/// @file
/// `tunkit::LinkEvents`: a subscription to interface changes (up/down, running, MTU, name,
/// addresses) from the kernel's rtnetlink multicast groups.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "tunkit/export.hpp"
#include "tunkit/link.hpp"
#include "tunkit/sys.hpp"

namespace tunkit {

/// What changed.
enum class LinkEventType : std::uint8_t {
  added,            ///< an interface appeared (or moved into this namespace)
  removed,          ///< an interface went away (deleted, or moved to another namespace)
  up,               ///< administratively up (IFF_UP set)
  down,             ///< administratively down (IFF_UP cleared)
  running,          ///< operationally up (IFF_RUNNING set: up with carrier, e.g. a reader)
  not_running,      ///< operationally down (IFF_RUNNING cleared)
  mtu_changed,      ///< the MTU changed (`LinkEvent::mtu` is the new one)
  renamed,          ///< the name changed (`LinkEvent::name` is the new one)
  address_added,    ///< an address was added (`LinkEvent::address`)
  address_removed,  ///< an address was removed (`LinkEvent::address`)
};

/// "up", "address_added", ...
[[nodiscard]] TUNKIT_EXPORT std::string_view to_string(LinkEventType type) noexcept;

/// One change of one interface.
struct LinkEvent {
  LinkEventType type = LinkEventType::added;  ///< what changed
  unsigned ifindex = 0;                       ///< the interface
  std::string name;                           ///< its name (after a rename: the new one)
  unsigned mtu = 0;                           ///< its MTU when the change happened
  unsigned flags = 0;                         ///< its IFF_* flags when the change happened
  std::optional<AddressInfo> address;         ///< the address, for address events
};

/// A subscription to the kernel's interface notifications (a NETLINK_ROUTE socket bound to
/// RTMGRP_LINK, RTMGRP_IPV4_IFADDR and RTMGRP_IPV6_IFADDR), turned into typed events: of one
/// interface, or of every interface in the namespace. The kernel announces a link's whole state
/// on each change; LinkEvents compares it with what it saw before and reports each difference as
/// its own event, in order. It reads the current state when it is made (what changes while it
/// does so is part of that state), so only changes after that are reported. Repeated
/// announcements that change nothing are not reported.
///
/// Waiting: `next_event(timeout)`, or poll `native_handle()` for POLLIN (in an event loop) and
/// call `dispatch(handler)`.
///
/// Lost notifications: the kernel drops the notifications that do not fit in the socket's
/// receive buffer (SO_RCVBUF: `setsockopt` on `native_handle()` changes it) and reports that
/// once (ENOBUFS; `overflows()` counts these). LinkEvents then recovers, and guarantees:
/// - Order. First come the events of the notifications the kernel had queued before it dropped
///   any, as usual: they are older than the loss. Then LinkEvents reads the current state and
///   reports how it differs from what the events said so far: the interfaces that went
///   (`address_removed` for each of their addresses, then `removed`), then the changes of the
///   others (`renamed`, `up` or `down`, `running` or `not_running`, `mtu_changed`,
///   `address_removed`, `address_added`), then the interfaces that came (`added`, then
///   `address_added` for each of their addresses); within each group by interface index. Then
///   the events of later notifications, as usual.
/// - No step back. No notification older than that reading of the state is applied after it:
///   those the kernel queued while it was being read are part of it, so a change made meanwhile
///   is reported once, in the step to the current state, never replayed after it.
/// - Final state. After those events, the interfaces present and their names, flags, MTUs and
///   addresses are the kernel's as of the reading: an interface that is gone is never left
///   reported present, nor one that is present reported gone. (One exception: a dump that the
///   kernel still marks inconsistent, NLM_F_DUMP_INTR, after 4 attempts is taken as it is, as
///   `ip` takes it; an interface or address it skipped is reported gone until it next changes.)
/// - What is lost is the detail within the gap: an up then down in it is not reported, nor an
///   interface made and deleted in it.
/// If notifications are lost again while the state is read, it is read again; a call may then
/// return without events while the descriptor stays readable, and the next call carries on.
///
/// Move-only; not thread-safe (one thread reads events). The socket is made in the calling
/// thread's network namespace and reports that namespace's interfaces.
///
/// @code
/// tunkit::LinkEvents events(dev.ifindex());
/// link.set_up();
/// while (auto e = events.next_event(std::chrono::seconds(1))) {
///   if (e->type == tunkit::LinkEventType::running) break;  // a reader is attached and it is up
/// }
/// @endcode
class TUNKIT_EXPORT LinkEvents {
 public:
  /// No subscription (`is_open() == false`); see `open`.
  LinkEvents() noexcept;
  /// Subscribes to the changes of every interface in the calling thread's namespace.
  /// @throws tunkit::Error when the socket cannot be opened or the state not read.
  [[nodiscard]] static LinkEvents all(sys::Syscalls& sys = sys::real());
  /// Subscribes to the changes of the interface with index `ifindex`.
  /// @throws tunkit::Error: `errc::link_not_found` when there is no such interface.
  explicit LinkEvents(unsigned ifindex, sys::Syscalls& sys = sys::real());
  /// Takes over `other`'s subscription; `other` is left closed.
  LinkEvents(LinkEvents&& other) noexcept;
  /// Closes this subscription, then takes over `other`'s.
  LinkEvents& operator=(LinkEvents&& other) noexcept;
  LinkEvents(const LinkEvents&) = delete;
  LinkEvents& operator=(const LinkEvents&) = delete;
  /// Closes the socket.
  ~LinkEvents();

  /// Subscribes (to one interface when `ifindex` is set, else to all); on failure `ec` is set and
  /// the object stays closed.
  void open(std::optional<unsigned> ifindex, std::error_code& ec,
            sys::Syscalls& sys = sys::real()) noexcept;
  /// True when subscribed.
  [[nodiscard]] bool is_open() const noexcept;
  /// The socket's descriptor (still owned): POLLIN when notifications wait. After POLLIN,
  /// `dispatch` or `next_event(0ms)` reads them.
  [[nodiscard]] int native_handle() const noexcept;

  /// The next event, waiting up to `timeout` for one (0: do not wait; negative: wait forever).
  /// nullopt when the time passed without an event.
  /// @throws tunkit::Error
  [[nodiscard]] std::optional<LinkEvent> next_event(std::chrono::milliseconds timeout);
  /// As above; on failure `ec` is set and the result is nullopt.
  [[nodiscard]] std::optional<LinkEvent> next_event(std::chrono::milliseconds timeout,
                                                    std::error_code& ec) noexcept;
  /// Reads what the kernel has announced so far, without waiting, and calls `handler` for each
  /// event, in order. Returns the number of events handled. An exception from `handler` stops
  /// the dispatch; the events after it stay queued.
  /// @throws tunkit::Error
  std::size_t dispatch(const std::function<void(const LinkEvent&)>& handler);

  /// How many times the kernel reported that it dropped notifications of this subscription
  /// because they were not read fast enough (ENOBUFS); each time, LinkEvents read the state
  /// again (see above). 0 when closed.
  [[nodiscard]] std::uint64_t overflows() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tunkit
