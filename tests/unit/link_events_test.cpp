// Unit tests of LinkEvents against the fake kernel, whose rtnetlink notifies subscribed sockets
// as the kernel does.
#include "tunkit/link_events.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "forwarding_syscalls.hpp"
#include "tunkit/link.hpp"
#include "tunkit/netns.hpp"

using namespace std::chrono_literals;
using test::sys;
using test::thrown_by;
using test::World;
using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::LinkEvent;
using tunkit::LinkEvents;
using tunkit::LinkEventType;
using tunkit::testing::FakeKernel;
using tunkit::testing::FakeRtnetlink;
using Type = LinkEventType;

namespace {

// Every event queued now, without waiting.
std::vector<LinkEvent> drain(LinkEvents& events) {
  std::vector<LinkEvent> out;
  for (int i = 0; i < 100; ++i) {  // bounded: a fake never produces that many here
    auto e = events.next_event(0ms);
    if (!e) break;
    out.push_back(std::move(*e));
  }
  return out;
}

std::vector<Type> types(const std::vector<LinkEvent>& events) {
  std::vector<Type> out;
  for (const auto& e : events)
    out.push_back(e.type);
  return out;
}

// What a user who follows the events believes about the links: by index, name and MTU.
struct Believed {
  std::string name;
  unsigned mtu = 0;
  friend bool operator==(const Believed&, const Believed&) = default;
};
using Beliefs = std::map<unsigned, Believed>;

// Replays `events` over `before`, as a user keeping a table of the links does.
Beliefs replay(Beliefs before, const std::vector<LinkEvent>& events) {
  for (const auto& e : events) {
    if (e.type == Type::removed) {
      before.erase(e.ifindex);
    } else if (e.type == Type::added || e.type == Type::renamed || e.type == Type::mtu_changed) {
      before[e.ifindex] = Believed{e.name, e.mtu};
    }
  }
  return before;
}

// The links of the fake's initial namespace, as the kernel knows them.
Beliefs truth(const FakeRtnetlink& rtnl) {
  Beliefs out;
  for (const auto& link : rtnl.links()) {
    if (link.netns.empty()) out[link.ifindex] = Believed{link.name, link.mtu};
  }
  return out;
}

// A seam over the fake kernel that runs `before_dump` (once) just before the next RTM_GETLINK
// dump request is sent on another socket than `subscription`: changes made there reach the
// subscription as notifications queued while the state is being read, and the dump shows them.
class DumpHook final : public test::ForwardingSyscalls {
 public:
  explicit DumpHook(FakeKernel& kernel) : ForwardingSyscalls(kernel) {}
  int subscription = -1;
  std::function<void()> before_dump;

  ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* addr,
                 socklen_t addrlen) noexcept override {
    nlmsghdr h{};
    if (len >= sizeof h) std::memcpy(&h, buf, sizeof h);
    if (before_dump && fd != subscription && h.nlmsg_type == RTM_GETLINK &&
        (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP) {
      std::exchange(before_dump, nullptr)();
    }
    return ForwardingSyscalls::sendto(fd, buf, len, flags, addr, addrlen);
  }
};

}  // namespace

TEST_CASE("LinkEvents subscribes to the link and address groups", "[events]") {
  World w;
  LinkEvents events(w.ifindex(), w.kernel);
  CHECK(events.is_open());
  CHECK(events.native_handle() >= 0);
  // Nothing happened since the subscription: nothing to report, and no waiting.
  CHECK_FALSE(events.next_event(0ms).has_value());
  CHECK_FALSE(events.next_event(50ms).has_value());  // the fake's poll does not sleep

  Link link(w.ifindex(), w.kernel);
  link.set_up();  // with a reader: up, then running, then the link-local address
  const auto got = drain(events);
  REQUIRE(types(got) == std::vector<Type>{Type::up, Type::running, Type::address_added});
  CHECK(got[0].ifindex == w.ifindex());
  CHECK(got[0].name == "tun0");
  CHECK(got[0].mtu == 1500);
  CHECK((got[0].flags & IFF_UP) != 0);
  REQUIRE(got[2].address.has_value());
  CHECK(got[2].address->scope == tunkit::AddressScope::link);
}

TEST_CASE("LinkEvents reports MTU, addresses, rename, down and removal", "[events]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  LinkEvents events(w.ifindex(), w.kernel);

  link.set_mtu(1400);
  auto got = drain(events);
  REQUIRE(types(got) == std::vector<Type>{Type::mtu_changed});
  CHECK(got[0].mtu == 1400);

  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.add_address(tunkit::IpAddress::parse("10.1.0.1"), IpPrefix::parse("10.1.0.2/32"));
  link.remove_address(IpPrefix::parse("10.0.0.1/24"));
  got = drain(events);
  REQUIRE(types(got) ==
          std::vector<Type>{Type::address_added, Type::address_added, Type::address_removed});
  CHECK(got[0].address->prefix == IpPrefix::parse("10.0.0.1/24"));
  CHECK(got[1].address->peer == tunkit::IpAddress::parse("10.1.0.2"));
  CHECK(got[2].address->prefix == IpPrefix::parse("10.0.0.1/24"));

  link.rename("wan0");
  got = drain(events);
  REQUIRE(types(got) == std::vector<Type>{Type::renamed});
  CHECK(got[0].name == "wan0");

  link.set_up();
  (void)drain(events);
  link.set_down();
  got = drain(events);
  // Down: not running any more, and the IPv6 link-local address goes.
  CHECK(types(got) == std::vector<Type>{Type::down, Type::not_running, Type::address_removed});

  w.dev.close();  // the last descriptor of a non-persistent device: it goes
  got = drain(events);
  REQUIRE_FALSE(got.empty());
  CHECK(got.back().type == Type::removed);
  CHECK(got.back().name == "wan0");
  CHECK(types(got) == std::vector<Type>{Type::address_removed, Type::removed});
}

TEST_CASE("Carrier changes are reported as running / not running", "[events]") {
  FakeKernel kernel;
  const unsigned index = kernel.add_persistent_device("tun7", tunkit::Mode::tun);
  Link link(index, kernel);
  link.set_up();  // up, but no reader: no carrier
  LinkEvents events(index, kernel);
  {
    tunkit::Options o;
    o.name = "tun7";
    tunkit::TunDevice reader(o, kernel);  // a reader attaches: carrier on
    auto got = drain(events);
    CHECK(types(got) == std::vector<Type>{Type::running, Type::address_added});
  }
  CHECK(types(drain(events)) == std::vector<Type>{Type::not_running});
}

TEST_CASE("A subscription to one link ignores the others; all() sees every link", "[events]") {
  World w;
  LinkEvents mine(w.ifindex(), w.kernel);
  LinkEvents every = LinkEvents::all(w.kernel);

  tunkit::Options o;
  o.name = "tun1";
  tunkit::TunDevice other(o, w.kernel);
  Link(other.ifindex(), w.kernel).set_mtu(1300);

  CHECK(drain(mine).empty());
  const auto got = drain(every);
  REQUIRE(types(got) == std::vector<Type>{Type::added, Type::mtu_changed});
  CHECK(got[0].name == "tun1");
  CHECK(got[0].ifindex == other.ifindex());
}

TEST_CASE("dispatch() hands every queued event to the callback", "[events]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  LinkEvents events(w.ifindex(), w.kernel);
  pollfd p{events.native_handle(), POLLIN, 0};
  CHECK(w.kernel.poll(&p, 1, 0) == 0);  // nothing queued: not readable

  link.set_mtu(1400);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  CHECK(w.kernel.poll(&p, 1, 0) == 1);  // readable: the fd works in an event loop
  std::vector<LinkEvent> seen;
  CHECK(events.dispatch([&](const LinkEvent& e) { seen.push_back(e); }) == 2);
  CHECK(types(seen) == std::vector<Type>{Type::mtu_changed, Type::address_added});
  CHECK(events.dispatch([](const LinkEvent&) { FAIL("no more events"); }) == 0);
}

TEST_CASE("next_event with a negative timeout waits for another thread's change", "[events]") {
  World w;
  LinkEvents events(w.ifindex(), w.kernel);
  std::thread changer([&] {
    Link link(w.ifindex(), w.kernel);
    link.set_mtu(1280);
  });
  const auto e = events.next_event(-1ms);  // the fake's blocking poll gives up after 5 s
  changer.join();
  REQUIRE(e.has_value());
  CHECK(e->type == Type::mtu_changed);
  CHECK(e->mtu == 1280);
}

TEST_CASE("Lost notifications (ENOBUFS) are recovered by reading the state again", "[events]") {
  World w;
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  LinkEvents events(w.ifindex(), w.kernel);
  link.set_mtu(1400);
  link.remove_address(IpPrefix::parse("10.0.0.1/24"));
  link.add_address(IpPrefix::parse("10.0.0.2/24"));
  // The kernel could not queue more: the next read says ENOBUFS, and the queue is gone.
  w.kernel.fail_next(FakeKernel::Call::recvfrom, ENOBUFS);
  while (w.rtnl.pending(events.native_handle()) > 0) {
    std::byte buf[8192];
    (void)w.rtnl.recvfrom(events.native_handle(), buf, sizeof buf, 0, nullptr, nullptr);
  }
  const auto got = drain(events);
  REQUIRE(types(got) ==
          std::vector<Type>{Type::mtu_changed, Type::address_removed, Type::address_added});
  CHECK(got[1].address->prefix == IpPrefix::parse("10.0.0.1/24"));
  CHECK(got[2].address->prefix == IpPrefix::parse("10.0.0.2/24"));
}

TEST_CASE("After an overflow, notifications queued before it are read before the state",
          "[events][overflow]") {
  // The kernel reports ENOBUFS before the notifications still queued, which are older than the
  // loss. Applied over the state read after the loss, they bring back what is gone.
  World w;
  LinkEvents events = LinkEvents::all(w.kernel);
  const int fd = events.native_handle();
  const Beliefs start = truth(w.rtnl);  // what the subscription read
  REQUIRE(drain(events).empty());

  SECTION("a device created (queued) then deleted (lost) is not left behind") {
    tunkit::Options o;
    o.name = "tun1";
    std::optional<tunkit::TunDevice> other(std::in_place, o, w.kernel);
    const unsigned gone = other->ifindex();
    // From here the socket's queue is full: the removal's notifications are lost.
    REQUIRE(w.rtnl.set_receive_limit(fd, w.rtnl.pending(fd)) == 0);
    other.reset();  // the last descriptor of a non-persistent device: it goes
    REQUIRE(w.rtnl.dropped(fd) > 0);
    REQUIRE_FALSE(w.rtnl.link(gone).has_value());

    const auto got = drain(events);
    CHECK(replay(start, got) == truth(w.rtnl));
    REQUIRE_FALSE(got.empty());
    CHECK(got.back().type == Type::removed);  // what was queued (added), then the loss (removed)
    CHECK(got.back().ifindex == gone);
    CHECK(events.overflows() == 1);
  }

  SECTION("a deletion (queued) is not applied to the device that took its index (lost)") {
    w.rtnl.add_link(50, "old0");
    const auto added = drain(events);
    REQUIRE(types(added) == std::vector<Type>{Type::added});
    w.rtnl.remove_link(50);
    REQUIRE(w.rtnl.set_receive_limit(fd, w.rtnl.pending(fd)) == 0);
    w.rtnl.add_link(50, "new0", 1400);
    REQUIRE(w.rtnl.dropped(fd) > 0);

    const auto got = drain(events);
    CHECK(replay(replay(start, added), got) == truth(w.rtnl));
    CHECK(types(got) == std::vector<Type>{Type::removed, Type::added});
    REQUIRE(got.size() == 2);
    CHECK(got[0].name == "old0");
    CHECK(got[1].name == "new0");
    CHECK(got[1].mtu == 1400);
  }

  SECTION("an older MTU (queued) does not replace the current one (lost)") {
    Link link(w.ifindex(), w.kernel);
    link.set_mtu(1400);
    REQUIRE(w.rtnl.set_receive_limit(fd, w.rtnl.pending(fd)) == 0);
    link.set_mtu(1300);
    REQUIRE(w.rtnl.dropped(fd) > 0);

    const auto got = drain(events);
    REQUIRE(types(got) == std::vector<Type>{Type::mtu_changed, Type::mtu_changed});
    CHECK(got[0].mtu == 1400);
    CHECK(got[1].mtu == 1300);
    CHECK(replay(start, got) == truth(w.rtnl));
  }

  // Once read empty, the socket receives again: later changes are reported as usual.
  w.rtnl.set_receive_limit(fd, 0);
  Link(w.ifindex(), w.kernel).set_mtu(1280);
  const auto later = drain(events);
  REQUIRE(types(later) == std::vector<Type>{Type::mtu_changed});
  CHECK(later[0].mtu == 1280);
}

TEST_CASE("Notifications queued while the state is read are not replayed over it",
          "[events][overflow]") {
  // Two MTU changes happen after the queue was read empty and before the dump reads the link:
  // both notifications are older than the state the dump shows, and must not take it back.
  World w;
  DumpHook seam(w.kernel);
  auto change_twice = [&] {
    Link link(w.ifindex(), w.kernel);
    link.set_mtu(1400);
    link.set_mtu(1300);
  };

  SECTION("while subscribing: they are part of the state, not changes after it") {
    seam.before_dump = change_twice;
    LinkEvents events = LinkEvents::all(seam);
    CHECK(drain(events).empty());
    Link(w.ifindex(), w.kernel).set_mtu(1280);
    const auto got = drain(events);
    REQUIRE(types(got) == std::vector<Type>{Type::mtu_changed});
    CHECK(got[0].mtu == 1280);
  }

  SECTION("while recovering from an overflow: one jump to the current state") {
    LinkEvents events = LinkEvents::all(seam);
    seam.subscription = events.native_handle();
    seam.before_dump = change_twice;
    w.kernel.fail_next(FakeKernel::Call::recvfrom, ENOBUFS);
    const auto got = drain(events);
    REQUIRE(types(got) == std::vector<Type>{Type::mtu_changed});
    CHECK(got[0].mtu == 1300);
    CHECK(events.overflows() == 1);
  }
}

TEST_CASE("Moving a link away is a removal; into the namespace, an addition", "[events][netns]") {
  World w;
  w.kernel.add_netns("blue");
  const tunkit::NetNs blue = tunkit::NetNs::open_named("blue", w.kernel);
  LinkEvents here = LinkEvents::all(w.kernel);
  LinkEvents there = tunkit::in_netns(blue, [&] { return LinkEvents::all(w.kernel); });
  Link(w.ifindex(), w.kernel).move_to_netns(blue);
  CHECK(types(drain(here)) == std::vector<Type>{Type::removed});
  CHECK(types(drain(there)) == std::vector<Type>{Type::added});
}

TEST_CASE("LinkEvents errors", "[events][errors]") {
  World w;
  auto e = thrown_by([&] { LinkEvents events(99, w.kernel); });
  CHECK(e.code() == tunkit::errc::link_not_found);
  CHECK(std::string(e.what()) ==
        "tunkit: subscribe to link events of interface index 99: no such network interface");

  const std::size_t fds = w.kernel.open_fd_count();
  w.kernel.fail_next(FakeKernel::Call::bind, ENOBUFS);
  e = thrown_by([&] { (void)LinkEvents::all(w.kernel); });
  CHECK(e.code() == sys(ENOBUFS));
  CHECK(std::string(e.what()) == "tunkit: subscribe to link events: no buffer space available");
  CHECK(w.kernel.open_fd_count() == fds);

  LinkEvents events(w.ifindex(), w.kernel);
  w.kernel.fail_next(FakeKernel::Call::recvfrom, EIO);
  e = thrown_by([&] { (void)events.next_event(0ms); });
  CHECK(e.code() == sys(EIO));
  CHECK(std::string(e.what()) == "tunkit: read link events: input/output error");

  LinkEvents closed;
  std::error_code ec;
  CHECK_FALSE(closed.next_event(0ms, ec).has_value());
  CHECK(ec == tunkit::errc::not_open);
  CHECK(tunkit::to_string(Type::address_removed) == "address_removed");
}
