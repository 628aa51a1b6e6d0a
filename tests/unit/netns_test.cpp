// Unit tests of NetNs, in_netns, open_in_netns and Link::move_to_netns against the fake kernel,
// which keeps a network namespace per thread as the kernel does.
#include "tunkit/netns.hpp"

#include <net/if.h>  // first: <linux/if.h> then leaves glibc's definitions alone

#include <fcntl.h>
#include <linux/if.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/link.hpp"

using test::sys;
using test::thrown_by;
using tunkit::IpPrefix;
using tunkit::Link;
using tunkit::NetNs;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;

namespace {

using test::calls_of;

tunkit::Options named(const char* name) {
  tunkit::Options o;
  o.name = name;
  return o;
}

}  // namespace

TEST_CASE("NetNs opens namespace files through the seam", "[netns]") {
  FakeKernel kernel;
  kernel.add_netns("blue");
  const std::size_t fds = kernel.open_fd_count();
  {
    const NetNs blue = NetNs::open_named("blue", kernel);
    CHECK(blue.is_open());
    CHECK(blue.description() == "/run/netns/blue");
    const auto opens = calls_of(kernel, Call::open);
    REQUIRE(opens.size() == 1);
    CHECK(opens[0].text == "/run/netns/blue");
    CHECK(opens[0].arg == (O_RDONLY | O_CLOEXEC));

    const NetNs here = NetNs::current(kernel);
    CHECK(here.description() == "/proc/thread-self/ns/net");
    const NetNs copy = NetNs::from_fd(blue.native_handle(), kernel);
    CHECK(copy.native_handle() != blue.native_handle());
    CHECK(copy.description() == "fd " + std::to_string(copy.native_handle()));
    CHECK(kernel.open_fd_count() == fds + 3);
  }
  CHECK(kernel.open_fd_count() == fds);

  NetNs moved = NetNs::open_path("/run/netns/blue", kernel);
  NetNs target = std::move(moved);
  CHECK_FALSE(moved.is_open());  // NOLINT(bugprone-use-after-move): documented state
  CHECK(target.is_open());
  const int fd = target.release();
  CHECK_FALSE(target.is_open());
  CHECK(kernel.close(fd) == 0);
}

TEST_CASE("NetNs errors", "[netns][errors]") {
  FakeKernel kernel;
  auto e = thrown_by([&] { (void)NetNs::open_named("green", kernel); });
  CHECK(e.code() == sys(ENOENT));
  CHECK(std::string(e.what()) ==
        "tunkit: open network namespace \"/run/netns/green\": no such file or directory (no "
        "namespace named \"green\": create it with `ip netns add green`)");

  kernel.clear_calls();
  const std::string bad = GENERATE(as<std::string>{}, "", "a/b", ".", "..");
  e = thrown_by([&] { (void)NetNs::open_named(bad, kernel); });
  CHECK(e.code() == tunkit::errc::invalid_netns_name);
  CHECK(std::string(e.what()) == "tunkit: open network namespace \"" + bad +
                                     "\": invalid network namespace name (a file name under "
                                     "/run/netns: not empty, no '/', not "
                                     "\".\" or \"..\")");
  CHECK(kernel.calls().empty());

  std::error_code ec;
  const NetNs none = NetNs::open_path("/nowhere", ec, kernel);
  CHECK(ec == sys(ENOENT));
  CHECK_FALSE(none.is_open());

  e = thrown_by([&] { (void)NetNs::from_fd(4242, kernel); });
  CHECK(e.code() == sys(EBADF));
  CHECK(std::string(e.what()) ==
        "tunkit: duplicate network namespace fd 4242: bad file descriptor");
}

TEST_CASE("in_netns runs the function on another thread inside the namespace", "[netns]") {
  FakeKernel kernel;
  kernel.add_netns("blue");
  const NetNs blue = NetNs::open_named("blue", kernel);
  kernel.clear_calls();
  const auto caller = std::this_thread::get_id();

  std::thread::id ran_on;
  const std::string inside = tunkit::in_netns(blue, [&] {
    ran_on = std::this_thread::get_id();
    return kernel.current_netns();
  });
  CHECK(inside == "blue");
  CHECK(ran_on != caller);
  CHECK(kernel.current_netns().empty());  // the caller never moved

  const auto setns = calls_of(kernel, Call::setns);
  REQUIRE(setns.size() == 1);
  CHECK(setns[0].fd == blue.native_handle());
  CHECK(setns[0].arg == CLONE_NEWNET);
  CHECK(setns[0].text == "blue");
  CHECK(setns[0].result == 0);

  // const function objects, void functions, move-only results, exceptions
  const auto answer = [] { return 42; };
  CHECK(tunkit::in_netns(blue, answer) == 42);
  bool called = false;
  tunkit::in_netns(blue, [&] { called = true; });
  CHECK(called);
  auto owned = tunkit::in_netns(blue, [] { return std::make_unique<int>(7); });
  CHECK(*owned == 7);
  CHECK_THROWS_WITH(tunkit::in_netns(blue, []() -> int { throw std::runtime_error("inside"); }),
                    "inside");
}

TEST_CASE("in_netns reports a failed setns and does not run the function", "[netns][errors]") {
  FakeKernel kernel;
  kernel.add_netns("blue");
  const NetNs blue = NetNs::open_named("blue", kernel);
  bool ran = false;

  SECTION("EPERM") {
    kernel.set_credentials(0, 0, true, {}, /*cap_sys_admin=*/false);
    const auto e = thrown_by([&] { tunkit::in_netns(blue, [&] { ran = true; }); });
    CHECK(e.code() == sys(EPERM));
    CHECK(std::string(e.what()) ==
          "tunkit: enter network namespace \"/run/netns/blue\": operation not permitted (needs "
          "CAP_SYS_ADMIN in the calling user namespace and over the target's)");
  }
  SECTION("not a namespace: EINVAL") {
    const int efd = kernel.eventfd(0, EFD_CLOEXEC);
    const NetNs wrong = NetNs::adopt(efd, kernel);
    const auto e = thrown_by([&] { tunkit::in_netns(wrong, [&] { ran = true; }); });
    CHECK(e.code() == sys(EINVAL));
    CHECK(std::string(e.what()) == "tunkit: enter network namespace \"fd " + std::to_string(efd) +
                                       "\": invalid argument (not a network namespace "
                                       "descriptor)");
  }
  SECTION("EINTR is retried") {
    kernel.fail_next(Call::setns, EINTR);
    tunkit::in_netns(blue, [&] { ran = true; });
    CHECK(ran);
    ran = false;
  }
  SECTION("a closed NetNs") {
    const NetNs closed;
    const auto e = thrown_by([&] { tunkit::in_netns(closed, [&] { ran = true; }); });
    CHECK(e.code() == tunkit::errc::not_open);
  }
  CHECK_FALSE(ran);
}

TEST_CASE("open_in_netns creates the device inside the namespace", "[netns][device]") {
  FakeKernel kernel;
  kernel.add_netns("blue");
  const NetNs blue = NetNs::open_named("blue", kernel);

  tunkit::TunDevice dev = tunkit::open_in_netns(blue, named("tun0"));
  CHECK(dev.is_open());
  CHECK(dev.name() == "tun0");
  REQUIRE(kernel.device("tun0", "blue").has_value());
  CHECK_FALSE(kernel.device("tun0").has_value());  // not in the initial namespace
  CHECK(kernel.current_netns().empty());

  // The same name is free here; the device is invisible from here...
  tunkit::TunDevice here(named("tun0"), kernel);
  CHECK(here.ifindex() != dev.ifindex());
  auto e = thrown_by([&] { Link link(dev.ifindex(), kernel); });
  CHECK(e.code() == tunkit::errc::link_not_found);

  // ... and a Link made inside reaches it from this thread afterwards.
  Link link = tunkit::in_netns(blue, [&] { return Link(dev.ifindex(), kernel); });
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();
  CHECK(kernel.device("tun0", "blue")->up);
  CHECK_FALSE(kernel.device("tun0")->up);

  // The descriptor works from this thread: a packet written here arrives in "blue"'s tun0.
  const std::byte packet[20] = {std::byte{0x45}};
  CHECK(dev.write(packet) == 20);
  CHECK(link.statistics().rx_packets == 1);

  std::error_code ec;
  tunkit::TunDevice busy = tunkit::open_in_netns(blue, named("tun0"), ec);
  CHECK(ec == sys(EBUSY));  // tun0 in "blue" is held without multi-queue
  CHECK_FALSE(busy.is_open());
}

TEST_CASE("in_netns is thread-safe: concurrent calls land in their own namespaces",
          "[netns][threads]") {
  FakeKernel kernel;
  constexpr int kThreads = 8;
  std::vector<NetNs> spaces;
  for (int i = 0; i < kThreads; ++i) {
    kernel.add_netns("ns" + std::to_string(i));
    spaces.push_back(NetNs::open_named("ns" + std::to_string(i), kernel));
  }
  std::atomic<int> wrong{0};
  std::vector<tunkit::TunDevice> devices(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < 10; ++round) {
        const std::string seen = tunkit::in_netns(spaces[static_cast<std::size_t>(i)],
                                                  [&] { return kernel.current_netns(); });
        if (seen != "ns" + std::to_string(i) || !kernel.current_netns().empty()) ++wrong;
      }
      devices[static_cast<std::size_t>(i)] =
          tunkit::open_in_netns(spaces[static_cast<std::size_t>(i)], named("tun0"));
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(wrong == 0);
  for (int i = 0; i < kThreads; ++i)
    CHECK(kernel.device("tun0", "ns" + std::to_string(i)).has_value());
  CHECK_FALSE(kernel.exists("tun0"));
}

TEST_CASE("move_to_netns sends IFLA_NET_NS_FD and closes the Link", "[netns][link]") {
  test::World w;
  w.kernel.add_netns("blue");
  const NetNs blue = NetNs::open_named("blue", w.kernel);
  Link link(w.ifindex(), w.kernel);
  link.add_address(IpPrefix::parse("10.0.0.1/24"));
  link.set_up();

  link.move_to_netns(blue);
  const auto& r = w.last();
  CHECK(r.type == RTM_NEWLINK);
  CHECK(r.ifindex == w.ifindex());
  REQUIRE(r.attributes.size() == 1);
  CHECK(r.attributes[0].type == IFLA_NET_NS_FD);
  CHECK(r.attributes[0].u32() == static_cast<std::uint32_t>(blue.native_handle()));

  const auto moved = w.record();
  CHECK(moved.netns == "blue");
  CHECK((moved.flags & IFF_UP) == 0);  // moved devices go down and lose their addresses
  CHECK(moved.addresses.empty());
  REQUIRE(w.kernel.device("tun0", "blue").has_value());
  CHECK_FALSE(w.kernel.exists("tun0"));

  std::error_code ec;
  link.set_up(ec);
  CHECK(ec == tunkit::errc::not_open);

  // Follow it: a Link made inside the namespace.
  Link inside = tunkit::in_netns(blue, [&] { return Link::from_name("tun0", w.kernel); });
  CHECK(inside.ifindex() == w.ifindex());
  inside.set_up();
  const std::byte packet[20] = {std::byte{0x45}};
  CHECK(w.dev.write(packet) == 20);  // the descriptor keeps working

  // And back, by the namespace of this process.
  inside.move_to_netns_of(::getpid());
  CHECK(w.record().netns.empty());
  CHECK(w.kernel.exists("tun0"));
}

TEST_CASE("move_to_netns errors", "[netns][link][errors]") {
  test::World w;
  w.kernel.add_netns("blue");
  const NetNs blue = NetNs::open_named("blue", w.kernel);
  Link link(w.ifindex(), w.kernel);

  SECTION("the name is taken there") {
    tunkit::TunDevice other = tunkit::open_in_netns(blue, named("tun0"));
    const auto e = thrown_by([&] { link.move_to_netns(blue); });
    CHECK(e.code() == sys(EEXIST));
    CHECK(std::string(e.what()) ==
          "tunkit: move \"tun0\" to network namespace \"/run/netns/blue\": already exists (the "
          "target namespace has an interface of the same name: rename it first)");
    CHECK(link.state().name == "tun0");  // still here, still open
  }
  SECTION("a descriptor that is not a namespace") {
    const NetNs wrong = NetNs::adopt(w.kernel.eventfd(0, EFD_CLOEXEC), w.kernel);
    const auto e = thrown_by([&] { link.move_to_netns(wrong); });
    CHECK(e.code() == sys(EINVAL));
    CHECK(std::string(e.what()) ==
          "tunkit: move \"tun0\" to network namespace \"" + wrong.description() +
              "\": invalid argument (not a network namespace, or an interface that cannot change "
              "namespace (lo))");
  }
  SECTION("no such process") {
    const auto e = thrown_by([&] { link.move_to_netns_of(999999); });
    CHECK(e.code() == sys(ESRCH));
    CHECK(std::string(e.what()) ==
          "tunkit: move \"tun0\" to network namespace of process 999999: no such process");
  }
  SECTION("lo cannot move") {
    Link lo(1, w.kernel);
    const auto e = thrown_by([&] { lo.move_to_netns(blue); });
    CHECK(e.code() == sys(EINVAL));
  }
  SECTION("the same namespace: nothing happens") {
    const NetNs here = NetNs::current(w.kernel);
    link.move_to_netns(here);
    CHECK(w.record().netns.empty());
  }
}
