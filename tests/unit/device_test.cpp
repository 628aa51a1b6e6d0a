// tunkit::TunDevice over the fake kernel: what it asks the kernel, how it reports each failure,
// and that it never leaks a descriptor or leaves behind a device it created.
#include "tunkit/device.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "forwarding_syscalls.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace {

using Catch::Matchers::ContainsSubstring;

using tunkit::errc;
using tunkit::Flag;
using tunkit::Flags;
using tunkit::Mode;
using tunkit::Options;
using tunkit::TunDevice;
using tunkit::WaitResult;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;
using namespace std::chrono_literals;
using test::calls_of;
using test::ioctls;
using test::ipv4;
using test::sys;

std::vector<std::string> device_names(const FakeKernel& k) {
  std::vector<std::string> names;
  for (const auto& d : k.devices())
    names.push_back(d.name);
  return names;
}

std::vector<std::byte> ipv6_packet(std::size_t size) {
  auto p = ipv4(size, 7);
  p[0] = std::byte{0x60};
  return p;
}

std::vector<std::byte> tap_frame(std::size_t size, std::uint16_t type) {
  std::vector<std::byte> f(size, std::byte{0x22});
  if (size < 14) return f;  // shorter than an Ethernet header: no type field
  f[12] = static_cast<std::byte>(type >> 8U);
  f[13] = static_cast<std::byte>(type & 0xFFU);
  return f;
}

// The TUNSETIFF flags an Options value should turn into (the kernel's IFF_* bits).
unsigned expected_iff(const Options& o) {
  unsigned f = o.mode == Mode::tap ? IFF_TAP : IFF_TUN;
  if (!o.packet_info) f |= IFF_NO_PI;
  if (o.exclusive) f |= IFF_TUN_EXCL;
  if (o.multi_queue) f |= IFF_MULTI_QUEUE;
  if (o.vnet_hdr) f |= IFF_VNET_HDR;
  return f;
}

}  // namespace

TEST_CASE("Options are marshalled into TUNSETIFF flags", "[device][options]") {
  FakeKernel k;
  const auto [label, options] = GENERATE(table<std::string, Options>({
      {"defaults", Options{.name = "t0"}},
      {"tap", Options{.name = "t0", .mode = Mode::tap}},
      {"packet info", Options{.name = "t0", .packet_info = true}},
      {"exclusive", Options{.name = "t0", .exclusive = true}},
      {"multi-queue", Options{.name = "t0", .multi_queue = true}},
      {"vnet header", Options{.name = "t0", .vnet_hdr = true}},
      {"tap, everything", Options{.name = "t0",
                                  .mode = Mode::tap,
                                  .packet_info = true,
                                  .exclusive = true,
                                  .multi_queue = true,
                                  .vnet_hdr = true}},
  }));
  CAPTURE(label);
  TunDevice dev(options, k);
  const auto setiff = ioctls(k, TUNSETIFF);
  REQUIRE(setiff.size() == 1);
  CHECK(setiff[0].text == "t0");
  CHECK(static_cast<unsigned>(setiff[0].arg) == expected_iff(options));
  CHECK(dev.mode() == options.mode);
  REQUIRE(k.device("t0"));
  CHECK(k.device("t0")->mode == options.mode);
  CHECK(k.device("t0")->flags.has(Flag::no_pi) == !options.packet_info);
  CHECK(k.device("t0")->flags.has(Flag::multi_queue) == options.multi_queue);
  CHECK(k.device("t0")->flags.has(Flag::vnet_hdr) == options.vnet_hdr);
  // Nothing else was asked for.
  CHECK(ioctls(k, TUNSETOWNER).empty());
  CHECK(ioctls(k, TUNSETGROUP).empty());
  CHECK(ioctls(k, TUNSETPERSIST).empty());
}

TEST_CASE("owner, group and persist are set with their ioctls", "[device][options]") {
  FakeKernel k;
  const auto [owner, group, persist] =
      GENERATE(table<std::optional<uid_t>, std::optional<gid_t>, bool>({
          {std::nullopt, std::nullopt, true},
          {uid_t{1000}, std::nullopt, false},
          {std::nullopt, gid_t{100}, false},
          {uid_t{0}, gid_t{0}, true},
          {uid_t{4242}, gid_t{77}, true},
      }));
  {
    TunDevice dev({.name = "t0", .persist = persist, .owner = owner, .group = group}, k);
    const auto own = ioctls(k, TUNSETOWNER);
    const auto grp = ioctls(k, TUNSETGROUP);
    const auto per = ioctls(k, TUNSETPERSIST);
    REQUIRE(own.size() == (owner ? 1U : 0U));
    REQUIRE(grp.size() == (group ? 1U : 0U));
    REQUIRE(per.size() == (persist ? 1U : 0U));
    if (owner) CHECK(own[0].arg == *owner);
    if (group) CHECK(grp[0].arg == *group);
    if (persist) CHECK(per[0].arg == 1);
    const auto d = k.device("t0");
    REQUIRE(d);
    CHECK(d->owner == owner);
    CHECK(d->group == group);
    CHECK(d->persist == persist);
    CHECK(dev.flags().has(Flag::persist) == persist);
  }
  // Closed: the device outlives the object only when asked to persist.
  CHECK(k.exists("t0") == persist);
  CHECK(k.open_fd_count() == 0);
}

TEST_CASE("every descriptor is opened with O_CLOEXEC", "[device][options]") {
  FakeKernel k;
  const bool non_blocking = GENERATE(false, true);
  TunDevice dev({.name = "t%d", .mode = Mode::tap, .non_blocking = non_blocking}, k);
  const auto opens = calls_of(k, Call::open);
  REQUIRE(opens.size() == 1);
  CHECK(opens[0].text == "/dev/net/tun");
  CHECK((opens[0].arg & O_CLOEXEC) != 0);
  CHECK((opens[0].arg & O_ACCMODE) == O_RDWR);
  CHECK((opens[0].arg & O_NONBLOCK) != 0);  // always: blocking is done in poll
  const auto evs = calls_of(k, Call::eventfd);
  REQUIRE(evs.size() == 1);
  CHECK((evs[0].arg & EFD_CLOEXEC) != 0);
  for (const auto& s : calls_of(k, Call::socket))
    CHECK((s.arg & SOCK_CLOEXEC) != 0);
  CHECK(k.fcntl(dev.native_handle(), F_GETFD, 0) == FD_CLOEXEC);
  CHECK((k.fcntl(dev.native_handle(), F_GETFL, 0) & O_NONBLOCK) != 0);
  // Only the device and its wake-up eventfd stay open (the look-up socket is closed).
  CHECK(k.open_fd_count() == 2);
}

TEST_CASE("the kernel's name and ifindex are reported", "[device]") {
  FakeKernel k;
  k.add_interface("eth0");  // takes an index, so the device's is not the first one
  TunDevice a({.name = "vpn%d"}, k);
  TunDevice b({.name = "vpn%d"}, k);
  TunDevice c({.name = "", .mode = Mode::tap}, k);  // empty: the kernel picks tapN
  CHECK(a.name() == "vpn0");
  CHECK(b.name() == "vpn1");
  CHECK(c.name() == "tap0");
  CHECK(a.ifindex() == k.device("vpn0")->ifindex);
  CHECK(b.ifindex() == k.device("vpn1")->ifindex);
  CHECK(c.ifindex() == k.device("tap0")->ifindex);
  CHECK(a.ifindex() != b.ifindex());
  const auto lookups = ioctls(k, SIOCGIFINDEX);
  REQUIRE(lookups.size() == 3);
  CHECK(lookups[0].text == "vpn0");  // looked up by the resolved name, not the template
}

TEST_CASE("bad names are refused before any syscall", "[device][name]") {
  FakeKernel k;
  const auto [name, code, message] = GENERATE(table<std::string, errc, std::string>({
      {"abcdefghijklmnop", errc::name_too_long,
       "tunkit: open \"abcdefghijklmnop\": interface name too long (at most 15 bytes)"},
      {"a/b", errc::invalid_name,
       "tunkit: open \"a/b\": invalid interface name (no '/', ':' or whitespace, not \".\" or "
       "\"..\", at most one \"%d\")"},
      {"a b", errc::invalid_name,
       "tunkit: open \"a b\": invalid interface name (no '/', ':' or whitespace, not \".\" or "
       "\"..\", at most one \"%d\")"},
      {"a%d%d", errc::invalid_name,
       "tunkit: open \"a%d%d\": invalid interface name (no '/', ':' or whitespace, not \".\" or "
       "\"..\", at most one \"%d\")"},
      {"a:b", errc::invalid_name,
       "tunkit: open \"a:b\": invalid interface name (no '/', ':' or whitespace, not \".\" or "
       "\"..\", at most one \"%d\")"},
      {"..", errc::invalid_name,
       "tunkit: open \"..\": invalid interface name (no '/', ':' or whitespace, not \".\" or "
       "\"..\", at most one \"%d\")"},
  }));
  CAPTURE(name);
  SECTION("throwing") {
    try {
      TunDevice dev({.name = name}, k);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == code);
      CHECK(std::string(e.what()) == message);
    }
  }
  SECTION("error_code") {
    TunDevice dev;
    std::error_code ec;
    dev.open({.name = name}, ec, k);
    CHECK(ec == code);
    CHECK_FALSE(dev.is_open());
  }
  CHECK(k.calls().empty());
  CHECK(k.open_fd_count() == 0);
}

TEST_CASE("a name with the kernel's no-break space 0xA0 is refused before any syscall",
          "[device][name]") {
  // The kernel's isspace() counts 0xA0; the C library's does not in the "C" locale.
  FakeKernel k;
  TunDevice dev;
  std::error_code ec;
  dev.open({.name = "a\xA0"
                    "b"},
           ec, k);
  CHECK(ec == errc::invalid_name);
  CHECK(k.calls().empty());
}

TEST_CASE("the longest names and templates pass validation", "[device][name]") {
  FakeKernel k;
  TunDevice a({.name = "abcdefghijklmno"}, k);  // 15 bytes
  TunDevice b({.name = "x%dy"}, k);
  CHECK(a.name() == "abcdefghijklmno");
  CHECK(b.name() == "x0y");
}

namespace {

struct OpenFailure {
  std::string step;                         // for CAPTURE
  std::function<void(FakeKernel&)> script;  // makes that step fail
  std::error_code code;
  std::string message;
};

}  // namespace

TEST_CASE("every failing step of open is reported and cleaned up", "[device][open]") {
  FakeKernel k;
  const Options options{.name = "vpn0", .persist = true, .owner = 1000, .group = 100};
  auto fail_ioctl = [](unsigned long request, int err) {
    return [=](FakeKernel& kernel) { kernel.fail_next_ioctl(request, err); };
  };
  auto fail = [](Call call, int err) {
    return [=](FakeKernel& kernel) { kernel.fail_next(call, err); };
  };
  const auto failure = GENERATE_COPY(values<OpenFailure>({
      {"open ENOENT", fail(Call::open, ENOENT), sys(ENOENT),
       "tunkit: open /dev/net/tun for \"vpn0\": no such file or directory (no TUN/TAP support: "
       "load it with 'modprobe tun')"},
      {"open EACCES", fail(Call::open, EACCES), sys(EACCES),
       "tunkit: open /dev/net/tun for \"vpn0\": permission denied (needs read and write access "
       "to /dev/net/tun: run as root, or ask an administrator to grant it and to create the "
       "device with an owner or group that includes you (see docs/permissions-and-namespaces.md))"},
      {"open EMFILE", fail(Call::open, EMFILE), sys(EMFILE),
       "tunkit: open /dev/net/tun for \"vpn0\": too many open files in this process"},
      {"TUNSETIFF EPERM", fail_ioctl(TUNSETIFF, EPERM), sys(EPERM),
       "tunkit: TUNSETIFF \"vpn0\": operation not permitted (creating a device needs "
       "CAP_NET_ADMIN: run as root, or have an administrator create it persistent with an owner "
       "or group that includes you (see docs/permissions-and-namespaces.md))"},
      {"TUNSETIFF EBUSY", fail_ioctl(TUNSETIFF, EBUSY), sys(EBUSY),
       "tunkit: TUNSETIFF \"vpn0\": device busy (another process has it open without "
       "IFF_MULTI_QUEUE)"},
      {"TUNSETIFF EINVAL", fail_ioctl(TUNSETIFF, EINVAL), sys(EINVAL),
       "tunkit: TUNSETIFF \"vpn0\": invalid argument (the name belongs to a device of another "
       "kind, or the existing device differs in TUN/TAP mode or multi-queue setting)"},
      {"TUNSETIFF EEXIST", fail_ioctl(TUNSETIFF, EEXIST), sys(EEXIST),
       "tunkit: TUNSETIFF \"vpn0\": already exists"},
      {"TUNSETOWNER EPERM", fail_ioctl(TUNSETOWNER, EPERM), sys(EPERM),
       "tunkit: TUNSETOWNER \"vpn0\": operation not permitted (needs CAP_NET_ADMIN)"},
      {"TUNSETGROUP EPERM", fail_ioctl(TUNSETGROUP, EPERM), sys(EPERM),
       "tunkit: TUNSETGROUP \"vpn0\": operation not permitted (needs CAP_NET_ADMIN)"},
      {"eventfd EMFILE", fail(Call::eventfd, EMFILE), sys(EMFILE),
       "tunkit: eventfd for \"vpn0\": too many open files in this process"},
      {"socket ENFILE", fail(Call::socket, ENFILE), sys(ENFILE),
       "tunkit: socket for SIOCGIFINDEX of \"vpn0\": too many open files in the system"},
      {"SIOCGIFINDEX ENODEV", fail_ioctl(SIOCGIFINDEX, ENODEV), sys(ENODEV),
       "tunkit: SIOCGIFINDEX \"vpn0\": no such device"},
      {"TUNSETPERSIST EPERM", fail_ioctl(TUNSETPERSIST, EPERM), sys(EPERM),
       "tunkit: TUNSETPERSIST \"vpn0\": operation not permitted (needs CAP_NET_ADMIN)"},
      // No CAP_NET_ADMIN hint for an errno that has nothing to do with privileges.
      {"TUNSETPERSIST ENOMEM", fail_ioctl(TUNSETPERSIST, ENOMEM), sys(ENOMEM),
       "tunkit: TUNSETPERSIST \"vpn0\": out of memory"},
  }));
  CAPTURE(failure.step);
  failure.script(k);

  SECTION("throwing: tunkit::Error with the code and the whole message") {
    try {
      TunDevice dev(options, k);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == failure.code);
      CHECK(std::string(e.what()) == failure.message);
    }
  }
  SECTION("error_code: the same code, a closed object") {
    TunDevice dev;
    std::error_code ec;
    dev.open(options, ec, k);
    CHECK(ec == failure.code);
    CHECK_FALSE(dev.is_open());
    CHECK(dev.native_handle() == -1);
  }
  // Nothing leaked, and the device that open created is gone with its descriptor.
  CHECK(k.open_fd_count() == 0);
  CHECK(k.devices().empty());
  // Every descriptor handed out was closed exactly once.
  std::vector<int> opened;
  std::vector<int> closed;
  for (const auto& c : k.calls()) {
    if ((c.call == Call::open || c.call == Call::eventfd || c.call == Call::socket) && c.fd >= 0) {
      opened.push_back(c.fd);
    }
    if (c.call == Call::close) closed.push_back(c.fd);
  }
  std::sort(opened.begin(), opened.end());
  std::sort(closed.begin(), closed.end());
  CHECK(opened == closed);
}

TEST_CASE("a step that fails after a template was resolved names the device, not the template",
          "[device][open]") {
  // TUNSETIFF turned "em%d" into "em0": every later failure is about "em0".
  FakeKernel k;
  const auto [step, script, message] =
      GENERATE(table<std::string, std::function<void(FakeKernel&)>, std::string>({
          {"eventfd", [](FakeKernel& f) { f.fail_next(Call::eventfd, EMFILE); },
           "tunkit: eventfd for \"em0\": too many open files in this process"},
          {"SIOCGIFINDEX", [](FakeKernel& f) { f.fail_next_ioctl(SIOCGIFINDEX, ENODEV); },
           "tunkit: SIOCGIFINDEX \"em0\": no such device"},
          {"TUNSETOWNER", [](FakeKernel& f) { f.fail_next_ioctl(TUNSETOWNER, EPERM); },
           "tunkit: TUNSETOWNER \"em0\": operation not permitted (needs CAP_NET_ADMIN)"},
      }));
  CAPTURE(step);
  script(k);
  CHECK_THROWS_WITH(TunDevice({.name = "em%d", .owner = 1000}, k), message);
  CHECK(k.open_fd_count() == 0);
  CHECK(k.devices().empty());
  // The non-throwing form leaves no name behind on the closed object.
  script(k);
  tunkit::Queue q;
  std::error_code ec;
  q.open({.name = "em%d"}, ec, k);
  if (step != "TUNSETOWNER") {
    CHECK(ec);
    CHECK(q.name().empty());
    CHECK_FALSE(q.is_open());
  }
  k.clear_failures();
}

TEST_CASE("open failures the kernel itself produces", "[device][open]") {
  FakeKernel k;

  SECTION("EBUSY: another descriptor holds the device without multi-queue") {
    TunDevice first({.name = "vpn0"}, k);
    const auto fds_before = k.open_fd_count();
    try {
      TunDevice second({.name = "vpn0"}, k);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(EBUSY));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETIFF \"vpn0\": device busy (another process has it open without "
            "IFF_MULTI_QUEUE)");
    }
    CHECK(k.open_fd_count() == fds_before);
    CHECK(device_names(k) == std::vector<std::string>{"vpn0"});
    CHECK(k.device("vpn0")->queues == 1);  // the first one still holds it
  }
  SECTION("EBUSY with exclusive: the hint says why") {
    TunDevice first({.name = "vpn0"}, k);
    std::error_code ec;
    TunDevice second;
    second.open({.name = "vpn0", .exclusive = true}, ec, k);
    CHECK(ec == sys(EBUSY));
    CHECK_THROWS_WITH(TunDevice({.name = "vpn0", .exclusive = true}, k),
                      "tunkit: TUNSETIFF \"vpn0\": device busy (the device exists and "
                      "Options::exclusive (IFF_TUN_EXCL) is set)");
    CHECK(k.open_fd_count() == 2);
  }
  SECTION("EPERM: no CAP_NET_ADMIN to create") {
    k.set_credentials(1000, 1000, false);
    CHECK_THROWS_WITH(TunDevice({.name = "vpn0"}, k),
                      ContainsSubstring("TUNSETIFF \"vpn0\": operation not permitted") &&
                          ContainsSubstring("CAP_NET_ADMIN"));
    CHECK(k.devices().empty());
    CHECK(k.open_fd_count() == 0);
  }
  SECTION("EPERM with napi_frags: the driver wants CAP_NET_ADMIN in the initial namespace") {
    k.fail_next_ioctl(TUNSETIFF, EPERM);
    CHECK_THROWS_WITH(
        TunDevice({.name = "vpn0", .mode = Mode::tap, .napi = true, .napi_frags = true}, k),
        "tunkit: TUNSETIFF \"vpn0\": operation not permitted (Options::napi_frags "
        "(IFF_NAPI_FRAGS) needs CAP_NET_ADMIN in the initial user namespace (root on the host; "
        "root in a user namespace of your own is not enough))");
    CHECK(k.devices().empty());
  }
  SECTION("EINVAL from TUNSETOWNER or TUNSETGROUP: an id the user namespace does not map") {
    k.fail_next_ioctl(TUNSETGROUP, EINVAL);
    CHECK_THROWS_WITH(TunDevice({.name = "vpn0", .group = gid_t{5678}}, k),
                      "tunkit: TUNSETGROUP \"vpn0\": invalid argument (the id is -1, or not "
                      "mapped in this user namespace (an unprivileged user namespace maps only "
                      "its creator's own ids))");
    CHECK(k.devices().empty());
  }
  SECTION("EPERM: a device owned by another user") {
    k.add_persistent_device("vpn0", Mode::tun, Flag::no_pi, uid_t{0});
    k.set_credentials(1000, 1000, false);
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = "vpn0"}, ec, k);
    CHECK(ec == sys(EPERM));
    CHECK(k.device("vpn0")->queues == 0);  // someone else's persistent device stays
  }
  SECTION("the owner may attach without CAP_NET_ADMIN") {
    k.add_persistent_device("vpn0", Mode::tun, Flag::no_pi, uid_t{1000});
    k.set_credentials(1000, 1000, false);
    TunDevice dev({.name = "vpn0"}, k);
    CHECK(dev.is_open());
  }
  SECTION("EINVAL: the name belongs to another kind of interface") {
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = "lo"}, ec, k);
    CHECK(ec == sys(EINVAL));
    CHECK(k.exists("lo"));
    CHECK(k.open_fd_count() == 0);
  }
  SECTION("EINVAL: TAP asked, TUN exists") {
    TunDevice first({.name = "vpn0"}, k);
    CHECK_THROWS_WITH(TunDevice({.name = "vpn0", .mode = Mode::tap}, k),
                      ContainsSubstring("TUNSETIFF \"vpn0\": invalid argument"));
  }
  SECTION("TUNSETOWNER with -1: EINVAL from the kernel") {
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = "vpn0", .owner = static_cast<uid_t>(-1)}, ec, k);
    CHECK(ec == sys(EINVAL));
    CHECK(k.devices().empty());
  }
  SECTION("a later step fails on an existing persistent device: it stays") {
    k.add_persistent_device("vpn0", Mode::tun, Flag::no_pi);
    k.fail_next(Call::eventfd, EMFILE);
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = "vpn0"}, ec, k);
    CHECK(ec == sys(EMFILE));
    REQUIRE(k.device("vpn0"));
    CHECK(k.device("vpn0")->queues == 0);
    CHECK(k.open_fd_count() == 0);
  }
  SECTION("open on an open object closes it first") {
    TunDevice dev({.name = "a0"}, k);
    dev.open({.name = "b0"}, k);
    CHECK(dev.name() == "b0");
    CHECK(device_names(k) == std::vector<std::string>{"b0"});
    CHECK(k.open_fd_count() == 2);
  }
}

TEST_CASE("EINTR is retried on open, ioctl, read, write and poll", "[device][eintr]") {
  FakeKernel k;
  k.fail_next(Call::open, EINTR);
  k.fail_next(Call::open, EINTR);
  k.fail_next_ioctl(TUNSETIFF, EINTR);
  k.fail_next_ioctl(TUNSETPERSIST, EINTR);
  k.fail_next_ioctl(SIOCGIFINDEX, EINTR);
  k.fail_next(Call::eventfd, EINTR);
  k.fail_next(Call::socket, EINTR);
  TunDevice dev({.name = "t0", .persist = true}, k);
  CHECK(dev.is_open());
  CHECK(k.count(Call::open) == 3);
  CHECK(k.count_ioctl(TUNSETIFF) == 2);
  CHECK(k.count_ioctl(TUNSETPERSIST) == 2);
  CHECK(k.count_ioctl(SIOCGIFINDEX) == 2);
  CHECK(k.count(Call::eventfd) == 2);
  CHECK(k.count(Call::socket) == 2);
  CHECK(k.device("t0")->persist);
  k.set_up("t0", true);

  // Whichever of read/readv (write/writev) the device uses, the first one is interrupted.
  const auto p = ipv4(40);
  REQUIRE(k.inject("t0", p) >= 0);
  k.clear_calls();
  k.fail_next(Call::read, EINTR);
  k.fail_next(Call::readv, EINTR);
  std::vector<std::byte> buf(100);
  CHECK(dev.read(buf) == 40);
  CHECK(k.count(Call::read) + k.count(Call::readv) == 2);
  k.clear_failures();

  k.clear_calls();
  k.fail_next(Call::write, EINTR);
  k.fail_next(Call::writev, EINTR);
  CHECK(dev.write(p) == 40);
  CHECK(k.count(Call::write) + k.count(Call::writev) == 2);
  k.clear_failures();
  REQUIRE(k.written("t0").size() == 1);  // written once, not twice
  CHECK(k.written("t0")[0].data == p);

  REQUIRE(k.inject("t0", p) >= 0);
  k.fail_next(Call::poll, EINTR);
  CHECK(dev.wait_readable(100ms) == WaitResult::ready);
  CHECK(k.count(Call::poll) == 2);
}

TEST_CASE("close is never retried, and each descriptor is closed once", "[device][close]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  const int fd = dev.native_handle();
  k.clear_calls();
  k.fail_next(Call::close, EINTR);
  k.fail_next(Call::close, EINTR);
  dev.close();
  CHECK_FALSE(dev.is_open());
  const auto closes = calls_of(k, Call::close);
  REQUIRE(closes.size() == 2);  // the device and its eventfd, once each despite EINTR
  CHECK(closes[0].fd != closes[1].fd);
  CHECK((closes[0].fd == fd || closes[1].fd == fd));
  CHECK(k.open_fd_count() == 0);
  CHECK_FALSE(k.exists("t0"));
  dev.close();  // idempotent: no more syscalls
  CHECK(k.count(Call::close) == 2);
}

TEST_CASE("packets are read and written byte for byte", "[device][io]") {
  FakeKernel k;
  TunDevice dev({.name = "t0", .non_blocking = true}, k);
  k.set_up("t0", true);

  SECTION("read") {
    const auto p = ipv4(84);
    REQUIRE(k.inject("t0", p) == dev.native_handle());
    std::vector<std::byte> buf(1500);
    const std::size_t n = dev.read(buf);
    REQUIRE(n == p.size());
    CHECK(std::equal(p.begin(), p.end(), buf.begin()));
  }
  SECTION("read with info: the protocol comes from the IP version") {
    REQUIRE(k.inject("t0", ipv6_packet(60)) >= 0);
    std::vector<std::byte> buf(1500);
    tunkit::PacketInfo info;
    std::error_code ec;
    CHECK(dev.read(buf, info, ec) == 60);
    CHECK_FALSE(ec);
    CHECK(info.protocol == 0x86DD);
  }
  SECTION("write") {
    const auto p = ipv4(60);
    CHECK(dev.write(p) == 60);
    const auto w = k.written("t0");
    REQUIRE(w.size() == 1);
    CHECK(w[0].data == p);
    CHECK(w[0].fd == dev.native_handle());
  }
  SECTION("readv scatters one packet") {
    const auto p = ipv4(100);
    REQUIRE(k.inject("t0", p) >= 0);
    std::array<std::byte, 20> head{};
    std::vector<std::byte> tail(200);
    const std::array<std::span<std::byte>, 2> bufs{head, tail};
    CHECK(dev.readv(bufs) == 100);
    CHECK(std::equal(head.begin(), head.end(), p.begin()));
    CHECK(std::equal(p.begin() + 20, p.end(), tail.begin()));
  }
  SECTION("writev gathers one packet") {
    const auto p = ipv4(100);
    const std::array<std::span<const std::byte>, 3> bufs{
        std::span(p).first(20), std::span(p).subspan(20, 30), std::span(p).subspan(50)};
    CHECK(dev.writev(bufs) == 100);
    REQUIRE(k.written("t0").size() == 1);
    CHECK(k.written("t0")[0].data == p);
    CHECK(k.count(Call::write) + k.count(Call::writev) == 1);
  }
  SECTION("a truncated read is errc::packet_truncated, with the head kept") {
    const auto p = ipv4(100);
    REQUIRE(k.inject("t0", p) >= 0);
    std::vector<std::byte> buf(30);
    std::error_code ec;
    const std::size_t n = dev.read(buf, ec);
    CHECK(ec == errc::packet_truncated);
    CHECK(n == buf.size());
    CHECK(std::equal(buf.begin(), buf.end(), p.begin()));
    CHECK_THROWS_AS(
        [&] {
          REQUIRE(k.inject("t0", p) >= 0);
          (void)dev.read(buf);
        }(),
        tunkit::Error);
  }
  SECTION("a packet exactly the buffer's size is not truncated") {
    const auto p = ipv4(64);
    REQUIRE(k.inject("t0", p) >= 0);
    std::vector<std::byte> buf(64);
    std::error_code ec;
    CHECK(dev.read(buf, ec) == 64);
    CHECK_FALSE(ec);
  }
  SECTION("too many buffers") {
    std::vector<std::byte> storage(200);
    std::vector<std::span<std::byte>> bufs(TunDevice::max_buffers + 1, std::span(storage).first(1));
    std::error_code ec;
    (void)dev.readv(bufs, ec);
    CHECK(ec == errc::too_many_buffers);
  }
}

TEST_CASE("no packet: EAGAIN in non-blocking mode", "[device][io]") {
  FakeKernel k;
  TunDevice dev({.name = "t0", .non_blocking = true}, k);
  std::vector<std::byte> buf(100);
  std::error_code ec;
  CHECK(dev.read(buf, ec) == 0);
  CHECK(ec == sys(EAGAIN));
  CHECK(ec == std::errc::operation_would_block);
  try {
    (void)dev.read(buf);
    FAIL("no exception");
  } catch (const std::system_error& e) {
    CHECK(e.code() == sys(EAGAIN));
    CHECK(std::string(e.what()) == "tunkit: read \"t0\": would block (no packet ready)");
  }
}

TEST_CASE("write errors: empty, not IP, interface down", "[device][io]") {
  FakeKernel k;
  TunDevice dev({.name = "t0", .non_blocking = true}, k);

  SECTION("an empty packet never reaches the kernel") {
    k.set_up("t0", true);
    k.clear_calls();
    std::error_code ec;
    CHECK(dev.write({}, ec) == 0);
    CHECK(ec == errc::empty_packet);
    CHECK(k.calls().empty());
  }
  SECTION("not an IP packet: EINVAL with the reason") {
    k.set_up("t0", true);
    auto bad = ipv4(40);
    bad[0] = std::byte{0x12};
    try {
      dev.write(bad);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(EINVAL));
      CHECK(std::string(e.what()) ==
            "tunkit: write \"t0\": invalid argument (the kernel accepts only IPv4 or IPv6 packets "
            "here)");
    }
    CHECK(k.written("t0").empty());
  }
  SECTION("interface down: EIO") {
    std::error_code ec;
    CHECK(dev.write(ipv4(40), ec) == 0);
    CHECK(ec == sys(EIO));
    CHECK_THROWS_WITH(dev.write(ipv4(40)), ContainsSubstring("write \"t0\": input/output error"));
  }
}

TEST_CASE("packet information: read returns it, write builds it", "[device][pi]") {
  FakeKernel k;

  SECTION("TUN read") {
    TunDevice dev({.name = "t0", .packet_info = true, .non_blocking = true}, k);
    const auto p = ipv6_packet(48);
    REQUIRE(k.inject("t0", p) >= 0);
    std::vector<std::byte> buf(1500);
    tunkit::PacketInfo info;
    std::error_code ec;
    CHECK(dev.read(buf, info, ec) == 48);  // the header is not counted
    CHECK_FALSE(ec);
    CHECK(info.protocol == 0x86DD);
    CHECK(info.flags == 0);
    CHECK(std::equal(p.begin(), p.end(), buf.begin()));
  }
  SECTION("explicit protocol from the stack") {
    TunDevice dev({.name = "t0", .packet_info = true, .non_blocking = true}, k);
    REQUIRE(k.inject("t0", ipv4(20), 0x0806) >= 0);
    std::vector<std::byte> buf(100);
    tunkit::PacketInfo info;
    std::error_code ec;
    CHECK(dev.read(buf, info, ec) == 20);
    CHECK(info.protocol == 0x0806);
  }
  SECTION("TUN_PKT_STRIP is reported as truncation") {
    TunDevice dev({.name = "t0", .packet_info = true, .non_blocking = true}, k);
    const auto p = ipv4(100);
    REQUIRE(k.inject("t0", p) >= 0);
    std::vector<std::byte> buf(30);
    tunkit::PacketInfo info;
    std::error_code ec;
    const std::size_t n = dev.read(buf, info, ec);
    CHECK(ec == errc::packet_truncated);
    CHECK(info.flags == TUN_PKT_STRIP);
    CHECK(info.protocol == 0x0800);
    CHECK(n == buf.size());
    CHECK(std::equal(buf.begin(), buf.end(), p.begin()));
  }
  SECTION("TUN write: the header carries the IP version's EtherType") {
    TunDevice dev({.name = "t0", .packet_info = true, .non_blocking = true}, k);
    k.set_up("t0", true);
    const auto p4 = ipv4(40);
    const auto p6 = ipv6_packet(60);
    CHECK(dev.write(p4) == 40);  // the header is not counted
    CHECK(dev.write(p6) == 60);
    const auto w = k.written("t0");
    REQUIRE(w.size() == 2);
    CHECK(w[0].protocol == 0x0800);
    CHECK(w[0].data == p4);
    CHECK(w[1].protocol == 0x86DD);
    CHECK(w[1].data == p6);
  }
  SECTION("TAP write and read: the frame's EtherType") {
    TunDevice dev({.name = "e0", .mode = Mode::tap, .packet_info = true, .non_blocking = true}, k);
    k.set_up("e0", true);
    const auto f = tap_frame(60, 0x0806);
    CHECK(dev.write(f) == 60);
    REQUIRE(k.written("e0").size() == 1);
    CHECK(k.written("e0")[0].protocol == 0x0806);
    CHECK(k.written("e0")[0].data == f);
    REQUIRE(k.inject("e0", tap_frame(60, 0x86DD)) >= 0);
    std::vector<std::byte> buf(100);
    tunkit::PacketInfo info;
    std::error_code ec;
    CHECK(dev.read(buf, info, ec) == 60);
    CHECK(info.protocol == 0x86DD);
  }
}

TEST_CASE("a packet-information read shorter than its header is a protocol error", "[device][pi]") {
  // The kernel never does this; if a read ever were that short, it is not a netlink error.
  FakeKernel k;
  test::ForwardingSyscalls seam(k);
  TunDevice dev({.name = "t0", .packet_info = true, .non_blocking = true}, seam);
  REQUIRE(k.inject("t0", ipv4(20)) >= 0);
  seam.on_readv = [](ssize_t) -> ssize_t { return 2; };
  std::vector<std::byte> buf(100);
  tunkit::PacketInfo info;
  std::error_code ec;
  CHECK(dev.read(buf, info, ec) == 0);
  CHECK(ec == std::errc::protocol_error);
  CHECK_THROWS_WITH((void)dev.read(buf), "tunkit: read \"t0\": protocol error");
}

TEST_CASE("after ip link del: EBADFD, with the reason", "[device][io]") {
  FakeKernel k;
  TunDevice dev({.name = "t0", .non_blocking = true}, k);
  k.set_up("t0", true);
  REQUIRE(k.delete_device("t0"));
  std::vector<std::byte> buf(100);
  std::error_code ec;
  (void)dev.read(buf, ec);
  CHECK(ec == sys(EBADFD));
  CHECK_THROWS_WITH((void)dev.read(buf),
                    "tunkit: read \"t0\": device removed or not attached (the interface was "
                    "deleted)");
  CHECK_THROWS_WITH(dev.write(ipv4(20)),
                    "tunkit: write \"t0\": device removed or not attached (the interface was "
                    "deleted)");
  CHECK(dev.wait_readable(0ms) == WaitResult::ready);  // POLLERR: the next I/O reports it
  (void)dev.flags(ec);
  CHECK(ec == sys(EBADFD));
  // The object still owns its descriptors and closes them.
  CHECK(k.open_fd_count() == 2);
  dev.close();
  CHECK(k.open_fd_count() == 0);
}

TEST_CASE("waiting: ready, timeout, interrupted", "[device][wait]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);

  SECTION("timeout, then ready once a packet is queued") {
    CHECK(dev.wait_readable(50ms) == WaitResult::timeout);
    REQUIRE(k.inject("t0", ipv4(20)) >= 0);
    CHECK(dev.wait_readable(50ms) == WaitResult::ready);
    CHECK(dev.wait_readable(-1ms) == WaitResult::ready);
  }
  SECTION("writable once up") {
    CHECK(dev.wait_writable(10ms) == WaitResult::timeout);
    k.set_up("t0", true);
    CHECK(dev.wait_writable(10ms) == WaitResult::ready);
  }
  SECTION("interrupt lasts until clear_interrupt") {
    dev.interrupt();
    CHECK(dev.wait_readable(50ms) == WaitResult::interrupted);
    CHECK(dev.wait_readable(-1ms) == WaitResult::interrupted);
    REQUIRE(k.inject("t0", ipv4(20)) >= 0);
    CHECK(dev.wait_readable(0ms) == WaitResult::interrupted);  // even with a packet ready
    dev.clear_interrupt();
    CHECK(dev.wait_readable(0ms) == WaitResult::ready);
    std::vector<std::byte> buf(100);
    CHECK(dev.read(buf) == 20);
    CHECK(dev.wait_readable(50ms) == WaitResult::timeout);
  }
  SECTION("a blocking read returns errc::interrupted when interrupted") {
    dev.interrupt();
    std::vector<std::byte> buf(100);
    std::error_code ec;
    CHECK(dev.read(buf, ec) == 0);
    CHECK(ec == errc::interrupted);
    CHECK_THROWS_AS((void)dev.read(buf), tunkit::Error);
  }
  SECTION("a packet queued before or after interrupt() is still read; then errc::interrupted") {
    // As include/tunkit/queue.hpp says: interrupt() discards nothing; a read that need not wait
    // returns the packet, only one that would wait reports the interrupt.
    REQUIRE(k.inject("t0", ipv4(20)) >= 0);
    dev.interrupt();
    REQUIRE(k.inject("t0", ipv4(24)) >= 0);
    std::vector<std::byte> buf(100);
    std::error_code ec;
    CHECK(dev.read(buf, ec) == 20);
    CHECK_FALSE(ec);
    CHECK(dev.read(buf, ec) == 24);
    CHECK_FALSE(ec);
    CHECK(dev.read(buf, ec) == 0);
    CHECK(ec == errc::interrupted);
  }
  SECTION("interrupt() from another thread wakes a blocked reader") {
    std::error_code ec;
    std::size_t n = 1;
    std::thread reader([&] {
      std::vector<std::byte> buf(100);
      n = dev.read(buf, ec);
    });
    std::this_thread::sleep_for(20ms);
    dev.interrupt();
    reader.join();
    CHECK(ec == errc::interrupted);
    CHECK(n == 0);
  }
  SECTION("a packet from another thread wakes a blocked reader") {
    const auto p = ipv4(33);
    std::error_code ec;
    std::size_t n = 0;
    std::vector<std::byte> buf(100);
    std::thread reader([&] { n = dev.read(buf, ec); });
    std::this_thread::sleep_for(20ms);
    REQUIRE(k.inject("t0", p) >= 0);
    reader.join();
    CHECK_FALSE(ec);
    REQUIRE(n == p.size());
    CHECK(std::equal(p.begin(), p.end(), buf.begin()));
  }
  SECTION("a closed device does nothing on interrupt") {
    TunDevice closed;
    closed.interrupt();
    closed.clear_interrupt();
    std::error_code ec;
    (void)closed.wait_readable(0ms, ec);
    CHECK(ec == errc::not_open);
  }
}

TEST_CASE("moving transfers ownership and nothing is closed twice", "[device][move]") {
  FakeKernel k;

  SECTION("move construction") {
    TunDevice a({.name = "t0"}, k);
    const int fd = a.native_handle();
    const unsigned index = a.ifindex();
    TunDevice b(std::move(a));
    CHECK_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
    CHECK(a.native_handle() == -1);
    CHECK(a.name().empty());
    CHECK(b.native_handle() == fd);
    CHECK(b.name() == "t0");
    CHECK(b.ifindex() == index);
    std::vector<std::byte> buf(10);
    std::error_code ec;
    (void)a.read(buf, ec);
    CHECK(ec == errc::not_open);
    k.clear_calls();
    a.close();
    CHECK(k.calls().empty());
    { TunDevice c(std::move(b)); }
    CHECK(k.count(Call::close) == 2);
    CHECK(k.open_fd_count() == 0);
    CHECK_FALSE(k.exists("t0"));
  }
  SECTION("move assignment closes what the target held") {
    TunDevice a({.name = "a0"}, k);
    TunDevice b({.name = "b0"}, k);
    a = std::move(b);
    CHECK(a.name() == "b0");
    CHECK_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move)
    CHECK(device_names(k) == std::vector<std::string>{"b0"});
    CHECK(k.open_fd_count() == 2);
    TunDevice empty;
    a = std::move(empty);
    CHECK_FALSE(a.is_open());
    CHECK(k.open_fd_count() == 0);
    CHECK(k.devices().empty());
  }
  SECTION("moves are noexcept") {
    STATIC_REQUIRE(std::is_nothrow_move_constructible_v<TunDevice>);
    STATIC_REQUIRE(std::is_nothrow_move_assignable_v<TunDevice>);
  }
}

TEST_CASE("release() hands the descriptor over", "[device][release]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  const int expected = dev.native_handle();
  const int fd = dev.release();
  CHECK(fd == expected);
  CHECK_FALSE(dev.is_open());
  CHECK(k.open_fds() == std::vector<int>{fd});  // the eventfd went, the device stays
  CHECK(k.device("t0")->queues == 1);
  CHECK((k.fcntl(fd, F_GETFL, 0) & O_NONBLOCK) != 0);
  dev.close();
  CHECK(k.open_fd_count() == 1);
  CHECK(k.close(fd) == 0);
  CHECK_FALSE(k.exists("t0"));
}

TEST_CASE("flags() and set_persist()", "[device][flags]") {
  FakeKernel k;
  {
    TunDevice dev({.name = "t0", .multi_queue = true}, k);
    const Flags f = dev.flags();
    CHECK(f.has(Flag::tun));
    CHECK(f.has(Flag::multi_queue));
    CHECK_FALSE(f.has(Flag::persist));
    dev.set_persist(true);
    CHECK(dev.flags().has(Flag::persist));
    CHECK(k.device("t0")->persist);
  }
  REQUIRE(k.exists("t0"));
  {
    TunDevice dev({.name = "t0", .multi_queue = true}, k);
    dev.set_persist(false);
    CHECK_FALSE(dev.flags().has(Flag::persist));
    k.fail_next_ioctl(TUNSETPERSIST, EPERM);
    CHECK_THROWS_WITH(dev.set_persist(true),
                      "tunkit: TUNSETPERSIST \"t0\": operation not permitted (needs "
                      "CAP_NET_ADMIN)");
  }
  CHECK_FALSE(k.exists("t0"));
  TunDevice closed;
  std::error_code ec;
  closed.set_persist(true, ec);
  CHECK(ec == errc::not_open);
  (void)closed.flags(ec);
  CHECK(ec == errc::not_open);
}

TEST_CASE("flags() reports NO_PI as opened, not TUNGETIFF's IFF_NOFILTER bit", "[device][flags]") {
  FakeKernel k;
  const bool packet_info = GENERATE(false, true);
  TunDevice dev({.name = "t0", .packet_info = packet_info}, k);
  CHECK(dev.flags().has(Flag::no_pi) == !packet_info);
  // What the kernel answers: 0x1000 (IFF_NOFILTER == IFF_NO_PI) either way.
  ifreq ifr{};
  REQUIRE(k.ioctl(dev.native_handle(), TUNGETIFF, &ifr) == 0);
  CHECK((static_cast<unsigned>(ifr.ifr_flags) & IFF_NO_PI) != 0);
}

TEST_CASE("features() reports TUNGETFEATURES as typed flags", "[device][features]") {
  FakeKernel k;
  SECTION("as the kernel offers them") {
    const unsigned offered = IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
    k.set_features(offered);
    const Flags f = TunDevice::features(k);
    CHECK(f.bits() == offered);
    CHECK(f.has(Flag::multi_queue));
    CHECK_FALSE(f.has(Flag::vnet_hdr));
    CHECK(k.count_ioctl(TUNGETFEATURES) == 1);
    CHECK(k.open_fd_count() == 0);
    CHECK(k.devices().empty());
  }
  SECTION("no /dev/net/tun") {
    k.fail_next(Call::open, ENOENT);
    std::error_code ec;
    CHECK(TunDevice::features(ec, k).empty());
    CHECK(ec == sys(ENOENT));
    k.fail_next(Call::open, ENOENT);
    CHECK_THROWS_WITH(
        TunDevice::features(k),
        "tunkit: TUNGETFEATURES on /dev/net/tun: no such file or directory (no TUN/TAP "
        "support: load it with 'modprobe tun')");
  }
  SECTION("the ioctl fails: the descriptor is still closed") {
    k.fail_next_ioctl(TUNGETFEATURES, EINVAL);
    std::error_code ec;
    (void)TunDevice::features(ec, k);
    CHECK(ec == sys(EINVAL));
    CHECK(k.open_fd_count() == 0);
    CHECK(k.count(Call::close) == 1);
  }
}

TEST_CASE("the destructor deletes a device it created unless persistent", "[device]") {
  FakeKernel k;
  {
    TunDevice a({.name = "a0"}, k);
    TunDevice b({.name = "b0", .persist = true}, k);
    CHECK(device_names(k) == std::vector<std::string>{"a0", "b0"});
  }
  CHECK(device_names(k) == std::vector<std::string>{"b0"});
  CHECK(k.open_fd_count() == 0);
}

TEST_CASE("multi-queue: one TunDevice per queue", "[device][mq]") {
  FakeKernel k;
  TunDevice q0({.name = "mq0", .multi_queue = true, .non_blocking = true}, k);
  TunDevice q1({.name = "mq0", .multi_queue = true, .non_blocking = true}, k);
  CHECK(k.device("mq0")->queues == 2);
  CHECK(q0.ifindex() == q1.ifindex());
  REQUIRE(k.inject("mq0", ipv4(20, 1)) == q0.native_handle());
  REQUIRE(k.inject("mq0", ipv4(30, 2)) == q1.native_handle());
  std::vector<std::byte> buf(100);
  CHECK(q1.read(buf) == 30);
  CHECK(q0.read(buf) == 20);
  q0.close();
  CHECK(k.exists("mq0"));
  q1.close();
  CHECK_FALSE(k.exists("mq0"));
}

TEST_CASE("add_queue() on a device opened without multi-queue says how to fix it", "[device][mq]") {
  FakeKernel k;
  TunDevice dev({.name = "vpn0"}, k);
  std::error_code ec;
  CHECK(dev.add_queue(ec) == nullptr);
  CHECK(ec == sys(EINVAL));
  CHECK_THROWS_WITH(dev.add_queue(), ContainsSubstring("add queue \"vpn0\": invalid argument") &&
                                         ContainsSubstring("opened without Options::multi_queue"));
  CHECK(dev.queue_count() == 1);
  CHECK(k.open_fd_count() == 2);  // refused before the kernel: only the first queue is open
}

TEST_CASE("TunDevice({}) opens with the default options", "[device][api]") {
  // {} matched the move constructor as well as Options: ambiguous until the initializer-list
  // constructor took it.
  FakeKernel k;
  TunDevice dev({}, k);
  REQUIRE(dev.is_open());
  CHECK(dev.name() == "tun0");
  CHECK(dev.mode() == tunkit::Mode::tun);
  TunDevice named{tunkit::Options{.name = "braced0"}, k};
  CHECK(named.name() == "braced0");
  const auto e = test::thrown_by([&] {
    TunDevice two{{tunkit::Options{.name = "a0"}, tunkit::Options{.name = "b0"}}, k};
  });
  CHECK(e.code() == sys(EINVAL));
  CHECK(std::string(e.what()) ==
        "tunkit: open: invalid argument (give one Options, or {} for the defaults)");
  CHECK_FALSE(k.device("a0").has_value());
}

TEST_CASE("read with the packet-information header also throws", "[device][api]") {
  FakeKernel k;
  TunDevice dev({.name = "pi0", .packet_info = true}, k);
  k.set_up("pi0", true);
  std::vector<std::byte> packet(40, std::byte{0});
  packet[0] = std::byte{0x60};
  REQUIRE(k.inject("pi0", packet) >= 0);
  std::array<std::byte, 64> buf{};
  tunkit::PacketInfo info;
  CHECK(dev.read(buf, info) == 40);
  CHECK(info.protocol == 0x86DD);
  std::array<std::byte, 8> small{};
  REQUIRE(k.inject("pi0", packet) >= 0);
  const auto e = test::thrown_by([&] { (void)dev.queue(0).read(small, info); });
  CHECK(e.code() == tunkit::errc::packet_truncated);
}

TEST_CASE("Queue::flags() shows a disabled queue; TunDevice::flags() is the device's",
          "[device][api][mq]") {
  FakeKernel k;
  TunDevice dev({.name = "fl0", .queues = 2}, k);
  CHECK_FALSE(dev.queue(1).flags().has(Flag::detach_queue));
  dev.queue(1).disable();
  CHECK(dev.queue(1).flags().has(Flag::detach_queue));
  CHECK(tunkit::to_string(dev.queue(1).flags()) == "TUN|MULTI_QUEUE|NO_PI|DETACH_QUEUE");
  dev.queue(0).disable();
  CHECK(dev.queue(0).flags().has(Flag::detach_queue));
  CHECK_FALSE(dev.flags().has(Flag::detach_queue));
  CHECK(dev.flags() == (Flag::tun | Flag::multi_queue | Flag::no_pi));
}
