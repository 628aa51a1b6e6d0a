// Multi-queue devices (tunkit::Queue, TunDevice with several queues) and the typed device-wide
// TUN ioctls, over the fake kernel: what each call asks the kernel (checked on what the fake
// recorded), how every failure is reported, that EINTR is retried and that nothing leaks.
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/queue.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/testing/fake_rtnetlink.hpp"

namespace {

using tunkit::BpfInstruction;
using tunkit::errc;
using tunkit::Flag;
using tunkit::MacAddress;
using tunkit::Mode;
using tunkit::Options;
using tunkit::Queue;
using tunkit::TunDevice;
using tunkit::testing::FakeKernel;
using Call = FakeKernel::Call;
using namespace std::chrono_literals;
using test::ioctls;
using test::ipv4;
using test::sys;

// Every descriptor the fake handed out was closed exactly once (open_fd_count() == 0 says
// nothing is left; this says nothing was closed twice or never opened).
void check_closed_once(const FakeKernel& k) {
  std::vector<int> opened;
  std::vector<int> closed;
  for (const auto& c : k.calls()) {
    const bool creates = c.call == Call::open || c.call == Call::eventfd || c.call == Call::socket;
    if (creates && c.fd >= 0) opened.push_back(c.fd);
    if (c.call == Call::close) closed.push_back(c.fd);
  }
  std::sort(opened.begin(), opened.end());
  std::sort(closed.begin(), closed.end());
  CHECK(opened == closed);
}

std::vector<std::byte> frame_for(const MacAddress& dst) {
  std::vector<std::byte> f(60, std::byte{0x22});
  for (std::size_t i = 0; i < 6; ++i)
    f[i] = static_cast<std::byte>(dst.bytes[i]);
  f[12] = std::byte{0x08};
  f[13] = std::byte{0x00};
  return f;
}

MacAddress unicast(std::uint8_t last) {
  return {{0x02, 0x00, 0x00, 0x00, 0x00, last}};
}

MacAddress multicast(std::uint8_t last) {
  return {{0x01, 0x00, 0x5e, 0x00, 0x00, last}};
}

// An attached descriptor opened directly on the fake, as another process would hold it.
int raw_queue(FakeKernel& k, const std::string& name, unsigned flags) {
  const int fd = k.open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
  REQUIRE(fd >= 0);
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = static_cast<short>(flags);
  REQUIRE(k.ioctl(fd, TUNSETIFF, &ifr) == 0);
  return fd;
}

// ldh [12]; jne #0x800, accept; ldb [23]; jeq #17, drop, accept; drop: ret #0; accept: ret #-1
constexpr std::array<BpfInstruction, 6> kDropUdp{{
    {0x28, 0, 0, 12},
    {0x15, 0, 3, 0x0800},
    {0x30, 0, 0, 23},
    {0x15, 0, 1, 17},
    {0x06, 0, 0, 0},
    {0x06, 0, 0, 0xFFFFFFFF},
}};

}  // namespace

// --- Opening several queues ---------------------------------------------------------------------

TEST_CASE("Options::queues opens that many queues, each with IFF_MULTI_QUEUE", "[mq][open]") {
  FakeKernel k;
  const unsigned n = GENERATE(2U, 4U, 16U);
  {
    TunDevice dev({.name = "mq%d", .queues = n}, k);
    CHECK(dev.queue_count() == n);
    CHECK(dev.name() == "mq0");
    const auto setiff = ioctls(k, TUNSETIFF);
    REQUIRE(setiff.size() == n);
    CHECK(setiff[0].text == "mq%d");
    for (std::size_t i = 1; i < n; ++i)
      CHECK(setiff[i].text == "mq0");  // later queues attach by the resolved name
    for (const auto& c : setiff)
      CHECK(static_cast<unsigned>(c.arg) == (IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE));
    CHECK(ioctls(k, TUNGETFEATURES).size() == n);  // each queue checks the feature first
    const auto d = k.device("mq0");
    REQUIRE(d);
    CHECK(d->flags.has(Flag::multi_queue));
    CHECK(d->queues == n);
    CHECK(d->disabled_queues == 0);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(dev.queue(i).name() == "mq0");
      CHECK(dev.queue(i).ifindex() == dev.ifindex());
      CHECK(dev.queue(i).enabled());
      CHECK(d->queue_states[i].fd == dev.queue(i).native_handle());
    }
    CHECK(k.open_fd_count() == 2 * n);  // a descriptor and a wake-up eventfd per queue
  }
  CHECK_FALSE(k.exists("mq0"));
  CHECK(k.open_fd_count() == 0);
  check_closed_once(k);
}

TEST_CASE("multi_queue with one queue sets the flag, a plain device does not probe", "[mq][open]") {
  FakeKernel k;
  SECTION("multi_queue = true") {
    TunDevice dev({.name = "mq0", .multi_queue = true}, k);
    CHECK(dev.queue_count() == 1);
    REQUIRE(ioctls(k, TUNSETIFF).size() == 1);
    CHECK((ioctls(k, TUNSETIFF)[0].arg & IFF_MULTI_QUEUE) != 0);
    CHECK(ioctls(k, TUNGETFEATURES).size() == 1);
  }
  SECTION("the defaults: no IFF_MULTI_QUEUE, no TUNGETFEATURES") {
    TunDevice dev({.name = "t0"}, k);
    CHECK((ioctls(k, TUNSETIFF)[0].arg & IFF_MULTI_QUEUE) == 0);
    CHECK(ioctls(k, TUNGETFEATURES).empty());
  }
}

TEST_CASE("Options::queues outside 1..256 is refused before any syscall", "[mq][open]") {
  FakeKernel k;
  const unsigned n = GENERATE(0U, 257U, 100000U);
  const std::string message =
      "tunkit: open \"mq0\": invalid argument (Options::queues must be "
      "1..256, not " +
      std::to_string(n) + ")";
  SECTION("throwing") {
    try {
      TunDevice dev({.name = "mq0", .queues = n}, k);
      FAIL("opened");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(EINVAL));
      CHECK(std::string(e.what()) == message);
    }
  }
  SECTION("error_code") {
    TunDevice dev;
    std::error_code ec;
    dev.open({.name = "mq0", .queues = n}, ec, k);
    CHECK(ec == sys(EINVAL));
    CHECK_FALSE(dev.is_open());
    CHECK(dev.queue_count() == 0);
  }
  CHECK(k.calls().empty());
}

TEST_CASE("the most queues: 256 open, and options are applied once", "[mq][open]") {
  FakeKernel k;
  TunDevice dev({.name = "mq0", .queues = 256, .persist = true, .owner = 1000, .group = 100}, k);
  CHECK(dev.queue_count() == 256);
  CHECK(k.device("mq0")->queues == 256);
  CHECK(ioctls(k, TUNSETOWNER).size() == 1);
  CHECK(ioctls(k, TUNSETGROUP).size() == 1);
  REQUIRE(ioctls(k, TUNSETPERSIST).size() == 1);
  // Persist comes last, after every queue: a failure before it leaves no device behind.
  const auto log = k.calls();
  const auto persist = std::find_if(log.begin(), log.end(), [](const auto& c) {
    return c.call == Call::ioctl && c.request == TUNSETPERSIST;
  });
  CHECK(std::none_of(persist, log.end(), [](const auto& c) {
    return c.call == Call::ioctl && c.request == TUNSETIFF;
  }));
  dev.set_persist(false);
}

namespace {

struct QueueFailure {
  std::string step;                         // for CAPTURE
  std::function<void(FakeKernel&)> script;  // makes that step of the third queue fail
  std::error_code code;
  std::string message;
};

}  // namespace

TEST_CASE("a failure while opening the 3rd of 4 queues closes everything, leaves no device",
          "[mq][open]") {
  FakeKernel k;
  // Each queue: open, TUNGETFEATURES, TUNSETIFF, eventfd, socket, SIOCGIFINDEX; the third
  // queue's step fails after two of its kind went through.
  const auto failure = GENERATE(values<QueueFailure>({
      {"open", [](FakeKernel& kernel) { kernel.fail_next(Call::open, EMFILE, 2); }, sys(EMFILE),
       "tunkit: open /dev/net/tun for \"mq0\": too many open files in this process"},
      {"TUNGETFEATURES",
       [](FakeKernel& kernel) { kernel.fail_next_ioctl(TUNGETFEATURES, EINVAL, 2); }, sys(EINVAL),
       "tunkit: TUNGETFEATURES for \"mq0\": invalid argument"},
      {"TUNSETIFF", [](FakeKernel& kernel) { kernel.fail_next_ioctl(TUNSETIFF, ENOMEM, 2); },
       sys(ENOMEM), "tunkit: TUNSETIFF \"mq0\": out of memory"},
      {"TUNSETIFF EPERM", [](FakeKernel& kernel) { kernel.fail_next_ioctl(TUNSETIFF, EPERM, 2); },
       sys(EPERM),
       "tunkit: TUNSETIFF \"mq0\": operation not permitted (needs CAP_NET_ADMIN, or to be the "
       "device's owner or in its group)"},
      {"eventfd", [](FakeKernel& kernel) { kernel.fail_next(Call::eventfd, EMFILE, 2); },
       sys(EMFILE), "tunkit: eventfd for \"mq0\": too many open files in this process"},
      {"socket", [](FakeKernel& kernel) { kernel.fail_next(Call::socket, ENFILE, 2); }, sys(ENFILE),
       "tunkit: socket for SIOCGIFINDEX of \"mq0\": too many open files in the system"},
      {"SIOCGIFINDEX", [](FakeKernel& kernel) { kernel.fail_next_ioctl(SIOCGIFINDEX, ENODEV, 2); },
       sys(ENODEV), "tunkit: SIOCGIFINDEX \"mq0\": no such device"},
  }));
  CAPTURE(failure.step);
  failure.script(k);
  const Options options{.name = "mq%d", .queues = 4, .persist = true};
  SECTION("throwing") {
    try {
      TunDevice dev(options, k);
      FAIL("opened");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == failure.code);
      CHECK(std::string(e.what()) == failure.message);
    }
  }
  SECTION("error_code") {
    TunDevice dev;
    std::error_code ec;
    dev.open(options, ec, k);
    CHECK(ec == failure.code);
    CHECK_FALSE(dev.is_open());
    CHECK(dev.queue_count() == 0);
  }
  CHECK(ioctls(k, TUNSETPERSIST).empty());
  CHECK(k.devices().empty());
  CHECK(k.open_fd_count() == 0);
  check_closed_once(k);
}

TEST_CASE("the kernel's queue limit met while opening: E2BIG, other holders keep theirs",
          "[mq][open]") {
  FakeKernel k;
  std::vector<int> others;
  for (int i = 0; i < 254; ++i)
    others.push_back(raw_queue(k, "mq0", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE));
  const auto fds_before = k.open_fd_count();
  std::error_code ec;
  TunDevice dev;
  dev.open({.name = "mq0", .queues = 4}, ec, k);  // the 3rd would be the 257th
  CHECK(ec == sys(E2BIG));
  CHECK_THROWS_WITH(TunDevice({.name = "mq0", .queues = 4}, k),
                    "tunkit: TUNSETIFF \"mq0\": too many queues (the device already has the most "
                    "queues the kernel allows (256))");
  CHECK(k.device("mq0")->queues == 254);
  CHECK(k.open_fd_count() == fds_before);
}

TEST_CASE("a missing feature is named before any TUNSETIFF", "[mq][features]") {
  FakeKernel k;
  const unsigned all = 0x7173;
  const auto [label, options, missing,
              flag] = GENERATE(table<std::string, Options, unsigned, std::string>({
      {"queues", Options{.name = "mq0", .queues = 2}, IFF_MULTI_QUEUE, "IFF_MULTI_QUEUE"},
      {"multi_queue", Options{.name = "mq0", .multi_queue = true}, IFF_MULTI_QUEUE,
       "IFF_MULTI_QUEUE"},
      {"vnet_hdr", Options{.name = "mq0", .vnet_hdr = true}, IFF_VNET_HDR, "IFF_VNET_HDR"},
      {"no_carrier", Options{.name = "mq0", .no_carrier = true}, 0x0040, "IFF_NO_CARRIER"},
      {"napi", Options{.name = "mq0", .napi = true}, IFF_NAPI, "IFF_NAPI"},
      {"napi_frags", Options{.name = "mq0", .mode = Mode::tap, .napi = true, .napi_frags = true},
       IFF_NAPI_FRAGS, "IFF_NAPI_FRAGS"},
  }));
  CAPTURE(label);
  k.set_features(all & ~missing);
  const std::string message =
      "tunkit: open \"mq0\": not supported by the running kernel (" + flag + ")";
  SECTION("throwing") {
    try {
      TunDevice dev(options, k);
      FAIL("opened");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == errc::feature_unsupported);
      CHECK(std::string(e.what()) == message);
    }
  }
  SECTION("error_code") {
    TunDevice dev;
    std::error_code ec;
    dev.open(options, ec, k);
    CHECK(ec == errc::feature_unsupported);
  }
  SECTION("Queue") {
    std::error_code ec;
    Queue q;
    q.open(options, ec, k);
    CHECK(ec == errc::feature_unsupported);
    CHECK_FALSE(q.is_open());
    CHECK_THROWS_WITH(Queue(options, k), message);
  }
  CHECK(ioctls(k, TUNSETIFF).empty());
  CHECK(k.open_fd_count() == 0);
}

TEST_CASE("TUNGETFEATURES itself failing, or interrupted", "[mq][features]") {
  FakeKernel k;
  SECTION("EINVAL is reported with the operation") {
    k.fail_next_ioctl(TUNGETFEATURES, EINVAL);
    CHECK_THROWS_WITH(TunDevice({.name = "mq0", .queues = 2}, k),
                      "tunkit: TUNGETFEATURES for \"mq0\": invalid argument");
    CHECK(k.open_fd_count() == 0);
  }
  SECTION("EINTR is retried") {
    k.fail_next_ioctl(TUNGETFEATURES, EINTR);
    TunDevice dev({.name = "mq0", .queues = 2}, k);
    CHECK(ioctls(k, TUNGETFEATURES).size() == 3);
  }
}

TEST_CASE("creation flags: no_carrier, napi, napi_frags", "[mq][options]") {
  FakeKernel k;
  SECTION("no_carrier: IFF_NO_CARRIER, the device starts without carrier") {
    TunDevice dev({.name = "t0", .no_carrier = true}, k);
    CHECK((ioctls(k, TUNSETIFF)[0].arg & 0x0040) != 0);
    CHECK_FALSE(k.device("t0")->carrier);
    CHECK_FALSE(k.rtnetlink().link(dev.ifindex())->carrier);
    CHECK_FALSE(dev.flags().has(Flag::no_carrier));  // the kernel does not report it (measured)
    dev.set_carrier(true);
    CHECK(k.device("t0")->carrier);
  }
  SECTION("without no_carrier the device has carrier") {
    TunDevice dev({.name = "t0"}, k);
    CHECK((ioctls(k, TUNSETIFF)[0].arg & 0x0040) == 0);
    CHECK(k.device("t0")->carrier);
  }
  SECTION("napi on a TUN") {
    TunDevice dev({.name = "t0", .napi = true}, k);
    CHECK(static_cast<unsigned>(ioctls(k, TUNSETIFF)[0].arg) == (IFF_TUN | IFF_NO_PI | IFF_NAPI));
    CHECK(dev.flags().has(Flag::napi));
  }
  SECTION("napi_frags with napi on a TAP") {
    TunDevice dev({.name = "e0", .mode = Mode::tap, .napi = true, .napi_frags = true}, k);
    CHECK(static_cast<unsigned>(ioctls(k, TUNSETIFF)[0].arg) ==
          (IFF_TAP | IFF_NO_PI | IFF_NAPI | IFF_NAPI_FRAGS));
    CHECK(dev.flags().has(Flag::napi | Flag::napi_frags));
  }
  SECTION("napi_frags without CAP_NET_ADMIN: EPERM from the kernel") {
    k.set_credentials(1000, 1000, false);
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = "e0", .mode = Mode::tap, .napi = true, .napi_frags = true}, ec, k);
    CHECK(ec == sys(EPERM));
    CHECK(k.open_fd_count() == 0);
  }
}

TEST_CASE("napi_frags without napi, or on a TUN, is refused before any syscall", "[mq][options]") {
  FakeKernel k;
  const auto options = GENERATE(Options{.name = "e0", .mode = Mode::tap, .napi_frags = true},
                                Options{.name = "e0", .napi = true, .napi_frags = true});
  try {
    TunDevice dev(options, k);
    FAIL("opened");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == sys(EINVAL));
    CHECK(std::string(e.what()) ==
          "tunkit: open \"e0\": invalid argument (Options::napi_frags needs Options::napi and "
          "Mode::tap)");
  }
  CHECK(k.calls().empty());
}

TEST_CASE("Options::ifindex: TUNSETIFINDEX before TUNSETIFF", "[mq][ifindex]") {
  FakeKernel k;
  SECTION("the device gets the index") {
    TunDevice dev({.name = "t0", .ifindex = 4242}, k);
    CHECK(dev.ifindex() == 4242);
    CHECK(k.device("t0")->ifindex == 4242);
    const auto log = k.calls();
    std::vector<unsigned long> order;
    for (const auto& c : log) {
      if (c.call == Call::ioctl && (c.request == TUNSETIFINDEX || c.request == TUNSETIFF))
        order.push_back(c.request);
    }
    CHECK(order == std::vector<unsigned long>{TUNSETIFINDEX, TUNSETIFF});
    REQUIRE(ioctls(k, TUNSETIFINDEX).size() == 1);
    CHECK(ioctls(k, TUNSETIFINDEX)[0].arg == 4242);
  }
  SECTION("0 or unset: no TUNSETIFINDEX") {
    TunDevice a({.name = "t0", .ifindex = 0}, k);
    TunDevice b({.name = "t1"}, k);
    CHECK(ioctls(k, TUNSETIFINDEX).empty());
  }
  SECTION("with several queues it is asked once, by the queue that creates the device") {
    TunDevice dev({.name = "mq0", .queues = 4, .ifindex = 77}, k);
    CHECK(dev.ifindex() == 77);
    CHECK(ioctls(k, TUNSETIFINDEX).size() == 1);
    for (std::size_t i = 0; i < 4; ++i)
      CHECK(dev.queue(i).ifindex() == 77);
  }
  SECTION("an index that is taken: EBUSY, with the possible reasons") {
    TunDevice first({.name = "t0", .ifindex = 4242}, k);
    try {
      TunDevice dev({.name = "t1", .ifindex = 4242}, k);
      FAIL("opened");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(EBUSY));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETIFF \"t1\": device busy (another process has it open without "
            "IFF_MULTI_QUEUE, or the index in Options::ifindex is taken)");
    }
    CHECK_FALSE(k.exists("t1"));
    CHECK(k.open_fd_count() == 2);
  }
  SECTION("the kernel refusing the index, or interrupted") {
    std::error_code ec;
    TunDevice dev;
    dev.open({.name = "t0", .ifindex = 0x80000000U}, ec, k);
    CHECK(ec == sys(EINVAL));
    CHECK_THROWS_WITH(TunDevice({.name = "t0", .ifindex = 0x80000000U}, k),
                      "tunkit: TUNSETIFINDEX \"t0\": invalid argument");
    k.fail_next_ioctl(TUNSETIFINDEX, EINTR);
    dev.open({.name = "t0", .ifindex = 9}, ec, k);
    CHECK_FALSE(ec);
    CHECK(dev.ifindex() == 9);
    CHECK(ioctls(k, TUNSETIFINDEX).size() == 4);
  }
  CHECK(ioctls(k, TUNSETIFINDEX).size() <= 4);
}

// --- add_queue
// ------------------------------------------------------------------------------------

TEST_CASE("add_queue attaches one more queue like the first", "[mq][add_queue]") {
  FakeKernel k;
  TunDevice dev({.name = "mq%d",
                 .mode = Mode::tap,
                 .packet_info = true,
                 .exclusive = true,
                 .multi_queue = true,
                 .vnet_hdr = true,
                 .non_blocking = true},
                k);
  const int first_fd = dev.native_handle();
  Queue& q = dev.add_queue();
  std::error_code ec;
  Queue* r = dev.add_queue(ec);
  REQUIRE(r != nullptr);
  CHECK_FALSE(ec);
  CHECK(dev.queue_count() == 3);
  CHECK(&dev.queue(1) == &q);
  CHECK(&dev.queue(2) == r);
  CHECK(&dev.queue(1) == &q);  // references stay valid as queues are added
  CHECK(dev.native_handle() == first_fd);
  CHECK(q.name() == "mq0");
  CHECK(q.mode() == Mode::tap);
  const auto setiff = ioctls(k, TUNSETIFF);
  REQUIRE(setiff.size() == 3);
  CHECK(setiff[1].text == "mq0");
  // Same flags, except IFF_TUN_EXCL: the device exists by now.
  CHECK(static_cast<unsigned>(setiff[0].arg) ==
        (IFF_TAP | IFF_TUN_EXCL | IFF_MULTI_QUEUE | IFF_VNET_HDR));
  CHECK(static_cast<unsigned>(setiff[1].arg) == (IFF_TAP | IFF_MULTI_QUEUE | IFF_VNET_HDR));
  CHECK(k.device("mq0")->queues == 3);
  // Packets reach the added queues.
  REQUIRE(k.inject("mq0", frame_for(unicast(1))) == dev.queue(0).native_handle());
  REQUIRE(k.inject("mq0", frame_for(unicast(2))) == q.native_handle());
  std::vector<std::byte> buf(100);
  CHECK(q.read(buf) == 10 + 60);  // the virtio-net header, then the frame
  CHECK(buf[10 + 5] == std::byte{2});
}

TEST_CASE("add_queue failures", "[mq][add_queue]") {
  FakeKernel k;
  SECTION("256 queues: E2BIG before any syscall") {
    TunDevice dev({.name = "mq0", .queues = 256}, k);
    k.clear_calls();
    std::error_code ec;
    CHECK(dev.add_queue(ec) == nullptr);
    CHECK(ec == sys(E2BIG));
    try {
      (void)dev.add_queue();
      FAIL("added");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(E2BIG));
      CHECK(std::string(e.what()) ==
            "tunkit: add queue \"mq0\": too many queues (the device already has the most queues "
            "the kernel allows (256))");
    }
    CHECK(k.calls().empty());
    CHECK(dev.queue_count() == 256);
  }
  SECTION("E2BIG from the kernel: other processes hold the rest") {
    TunDevice dev({.name = "mq0", .multi_queue = true}, k);
    for (int i = 0; i < 255; ++i)
      (void)raw_queue(k, "mq0", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
    const auto fds = k.open_fd_count();
    std::error_code ec;
    CHECK(dev.add_queue(ec) == nullptr);
    CHECK(ec == sys(E2BIG));
    CHECK_THROWS_WITH(dev.add_queue(),
                      "tunkit: TUNSETIFF \"mq0\": too many queues (the device already has the "
                      "most queues the kernel allows (256))");
    CHECK(dev.queue_count() == 1);
    CHECK(k.open_fd_count() == fds);
  }
  SECTION("without multi-queue: EINVAL before any syscall") {
    TunDevice dev({.name = "t0"}, k);
    k.clear_calls();
    std::error_code ec;
    CHECK(dev.add_queue(ec) == nullptr);
    CHECK(ec == sys(EINVAL));
    CHECK_THROWS_WITH(dev.add_queue(),
                      "tunkit: add queue \"t0\": invalid argument (the device was opened without "
                      "Options::multi_queue)");
    CHECK(k.calls().empty());
    CHECK(dev.queue_count() == 1);
  }
  SECTION("a failing step is named, and leaves nothing open") {
    TunDevice dev({.name = "mq0", .multi_queue = true}, k);
    k.fail_next(Call::eventfd, EMFILE);
    CHECK_THROWS_WITH(dev.add_queue(),
                      "tunkit: eventfd for \"mq0\": too many open files in this process");
    k.fail_next_ioctl(TUNSETIFF, EINTR);  // retried
    CHECK(dev.add_queue().is_open());
    CHECK(dev.queue_count() == 2);
    CHECK(k.open_fd_count() == 4);
  }
  SECTION("on a closed device: not_open") {
    TunDevice dev;
    std::error_code ec;
    CHECK(dev.add_queue(ec) == nullptr);
    CHECK(ec == errc::not_open);
    CHECK_THROWS_WITH(dev.add_queue(), "tunkit: add queue: device not open");
    CHECK(k.calls().empty());
  }
}

// --- Queue: enable, disable, move, attach by name ---------------------------------------------

TEST_CASE("Queue::disable and enable are TUNSETQUEUE", "[mq][queue]") {
  FakeKernel k;
  TunDevice dev({.name = "mq0", .queues = 2, .non_blocking = true}, k);
  Queue& q0 = dev.queue(0);
  Queue& q1 = dev.queue(1);
  k.clear_calls();

  q1.disable();
  CHECK_FALSE(q1.enabled());
  auto calls = ioctls(k, TUNSETQUEUE);
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].fd == q1.native_handle());
  CHECK(calls[0].arg == IFF_DETACH_QUEUE);
  CHECK(k.device("mq0")->disabled_queues == 1);
  CHECK_FALSE(k.device("mq0")->queue_states[1].enabled);
  CHECK(q1.flags().has(Flag::detach_queue));  // the queue says it is disabled

  // Only enabled queues get packets.
  for (int i = 0; i < 3; ++i)
    CHECK(k.inject("mq0", ipv4(20)) == q0.native_handle());
  std::vector<std::byte> buf(100);
  std::error_code ec;
  CHECK(q1.read(buf, ec) == 0);
  CHECK(ec == std::errc::operation_would_block);

  try {
    q1.disable();
    FAIL("disabled twice");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == sys(EINVAL));
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETQUEUE detach \"mq0\": invalid argument (not a multi-queue device, or "
          "already disabled)");
  }
  q1.disable(ec);
  CHECK(ec == sys(EINVAL));
  CHECK_FALSE(q1.enabled());

  q1.enable();
  CHECK(q1.enabled());
  calls = ioctls(k, TUNSETQUEUE);
  CHECK(calls.back().arg == IFF_ATTACH_QUEUE);
  CHECK(k.device("mq0")->disabled_queues == 0);
  CHECK(k.inject("mq0", ipv4(20)) == q0.native_handle());
  CHECK(k.inject("mq0", ipv4(20)) == q1.native_handle());  // re-enabled as the last queue
  try {
    q1.enable();
    FAIL("enabled twice");
  } catch (const tunkit::Error& e) {
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETQUEUE attach \"mq0\": invalid argument (not a multi-queue device, or "
          "already enabled)");
  }
  q1.enable(ec);
  CHECK(ec == sys(EINVAL));
  CHECK(q1.enabled());

  SECTION("EINTR is retried") {
    k.fail_next_ioctl(TUNSETQUEUE, EINTR);
    k.clear_calls();
    q1.disable();
    CHECK(ioctls(k, TUNSETQUEUE).size() == 2);
    CHECK(k.device("mq0")->disabled_queues == 1);
    k.fail_next_ioctl(TUNSETQUEUE, EINTR);
    q1.enable(ec);
    CHECK_FALSE(ec);
    CHECK(k.device("mq0")->disabled_queues == 0);
  }
  SECTION("another errno is reported without a hint, and the state is unchanged") {
    k.fail_next_ioctl(TUNSETQUEUE, ENOMEM);
    CHECK_THROWS_WITH(q1.disable(), "tunkit: TUNSETQUEUE detach \"mq0\": out of memory");
    CHECK(q1.enabled());
  }
  SECTION("after ip link del: the kernel's EINVAL is reported as the deleted interface") {
    REQUIRE(k.delete_device("mq0"));
    q0.disable(ec);
    CHECK(ec == sys(EBADFD));
    CHECK(q0.enabled());
    CHECK_THROWS_WITH(q0.disable(),
                      "tunkit: TUNSETQUEUE detach \"mq0\": device removed or not attached (the "
                      "interface was deleted)");
  }
  SECTION("closing a queue re-enables the object, and a closed queue is not_open") {
    q1.disable();
    q1.close();
    CHECK(q1.enabled());
    q1.disable(ec);
    CHECK(ec == errc::not_open);
    CHECK(k.device("mq0")->queues == 1);
  }
}

TEST_CASE("disable on a single-queue device is EINVAL", "[mq][queue]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  CHECK_THROWS_WITH(dev.queue(0).disable(),
                    "tunkit: TUNSETQUEUE detach \"t0\": invalid argument (not a multi-queue "
                    "device, or already disabled)");
  CHECK(dev.queue(0).enabled());
}

TEST_CASE("enable() reports the queue the kernel left disabled under a classic filter",
          "[mq][queue][filter]") {
  FakeKernel k;
  TunDevice dev({.name = "e0", .mode = Mode::tap, .packet_info = true, .queues = 2}, k);
  Queue& q1 = dev.queue(1);
  q1.disable();
  dev.attach_filter(kDropUdp);
  std::error_code ec;
  q1.enable(ec);
  CHECK(ec == sys(EBUSY));
  CHECK_FALSE(q1.enabled());
  CHECK(k.device("e0")->disabled_queues == 1);
  try {
    q1.enable();
    FAIL("enabled");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == sys(EBUSY));
    CHECK(std::string(e.what()) ==
          "tunkit: TUNSETQUEUE attach \"e0\": device busy (the kernel does not re-enable a queue "
          "while a classic BPF filter is attached: detach_filter() first)");
  }
  dev.detach_filter();
  q1.enable();
  CHECK(q1.enabled());
  CHECK(k.device("e0")->disabled_queues == 0);
}

TEST_CASE("a queue with packet information the kernel leaves unattached is reported",
          "[mq][add_queue][filter]") {
  FakeKernel k;
  TunDevice dev({.name = "e0", .mode = Mode::tap, .packet_info = true, .multi_queue = true}, k);
  dev.attach_filter(kDropUdp);
  const auto fds = k.open_fd_count();
  std::error_code ec;
  CHECK(dev.add_queue(ec) == nullptr);
  CHECK(ec == sys(EBADFD));
  CHECK_THROWS_WITH(dev.add_queue(),
                    "tunkit: TUNSETIFF \"e0\": device removed or not attached (the kernel does "
                    "not attach a queue with packet information while a classic BPF filter is "
                    "attached: detach_filter() first)");
  CHECK(k.open_fd_count() == fds);
  CHECK(dev.queue_count() == 1);
  dev.detach_filter();
  CHECK(dev.add_queue().is_open());
  CHECK(k.device("e0")->queues == 2);
}

TEST_CASE("device-wide calls go through an enabled queue", "[mq][control]") {
  FakeKernel k;
  TunDevice dev({.name = "mq0", .queues = 3}, k);
  dev.queue(0).disable();
  k.clear_calls();
  dev.set_send_buffer(4096);
  CHECK(dev.send_buffer() == 4096);
  dev.set_carrier(false);
  for (const auto& c : k.calls()) {
    if (c.call == Call::ioctl) CHECK(c.fd == dev.queue(1).native_handle());
  }
  // TUNSETSNDBUF reached the enabled queues only, as in the kernel.
  const auto d = k.device("mq0");
  CHECK(d->send_buffer == 4096);
  for (const auto& q : d->queue_states)
    CHECK(q.send_buffer == (q.enabled ? 4096 : INT_MAX));

  SECTION("all disabled: through the first queue, which the kernel still answers") {
    dev.queue(1).disable();
    dev.queue(2).disable();
    k.clear_calls();
    CHECK(dev.send_buffer() == INT_MAX);  // queue 0's own, set while it was disabled
    CHECK(k.calls().back().fd == dev.queue(0).native_handle());
    // Carrier cannot go on without an enabled queue: EPERM, and the hint says so.
    try {
      dev.set_carrier(true);
      FAIL("carrier on");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(EPERM));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETCARRIER \"mq0\": operation not permitted (no queue is enabled: "
            "enable one first)");
    }
  }
  SECTION("the first queue re-enabled is used again") {
    dev.queue(0).enable();
    k.clear_calls();
    (void)dev.send_buffer();
    CHECK(k.calls().back().fd == dev.queue(0).native_handle());
  }
}

TEST_CASE("interrupt() wakes blocked readers on every queue", "[mq][interrupt]") {
  FakeKernel k;
  constexpr std::size_t kQueues = 4;
  TunDevice dev({.name = "mq0", .queues = kQueues}, k);
  std::array<std::error_code, kQueues> ec;
  std::array<std::size_t, kQueues> n{1, 1, 1, 1};
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < kQueues; ++i) {
    readers.emplace_back([&, i] {
      std::array<std::byte, 100> buf{};
      n[i] = dev.queue(i).read(buf, ec[i]);
    });
  }
  std::this_thread::sleep_for(30ms);
  dev.interrupt();
  for (auto& t : readers)
    t.join();
  for (std::size_t i = 0; i < kQueues; ++i) {
    CHECK(ec[i] == errc::interrupted);
    CHECK(n[i] == 0);
  }
  // Until clear_interrupt, every queue stays interrupted; afterwards they read again.
  CHECK(dev.queue(3).wait_readable(0ms) == tunkit::WaitResult::interrupted);
  dev.clear_interrupt();
  for (std::size_t i = 0; i < kQueues; ++i)
    REQUIRE(k.inject("mq0", ipv4(20 + i)) == dev.queue(i).native_handle());
  for (std::size_t i = 0; i < kQueues; ++i) {
    std::array<std::byte, 100> buf{};
    CHECK(dev.queue(i).read(buf) == 20 + i);
  }
}

TEST_CASE("one reader per queue, each woken by its own packet", "[mq][interrupt]") {
  FakeKernel k;
  TunDevice dev({.name = "mq0", .queues = 3}, k);
  std::array<std::size_t, 3> n{};
  std::vector<std::thread> readers;
  for (std::size_t i = 0; i < 3; ++i) {
    readers.emplace_back([&, i] {
      std::array<std::byte, 100> buf{};
      n[i] = dev.queue(i).read(buf);
    });
  }
  std::this_thread::sleep_for(20ms);
  for (std::size_t i = 0; i < 3; ++i)
    REQUIRE(k.inject("mq0", ipv4(30 + i)) >= 0);
  for (auto& t : readers)
    t.join();
  CHECK(n == std::array<std::size_t, 3>{30, 31, 32});
}

TEST_CASE("Queue moves transfer ownership", "[mq][queue][move]") {
  FakeKernel k;
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Queue>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<Queue>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<Queue>);

  SECTION("move construction keeps name, index, mode, state and the descriptors") {
    TunDevice dev({.name = "mq0", .mode = Mode::tap, .queues = 2, .non_blocking = true}, k);
    Queue a({.name = "mq0", .mode = Mode::tap, .multi_queue = true, .non_blocking = true}, k);
    a.disable();
    const int fd = a.native_handle();
    const auto fds = k.open_fd_count();
    Queue b(std::move(a));
    CHECK_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
    CHECK(a.native_handle() == -1);
    CHECK(a.name().empty());
    CHECK(a.ifindex() == 0);
    CHECK(b.native_handle() == fd);
    CHECK(b.name() == "mq0");
    CHECK(b.mode() == Mode::tap);
    CHECK(b.ifindex() == dev.ifindex());
    CHECK_FALSE(b.enabled());
    CHECK(k.open_fd_count() == fds);
    b.enable();
    REQUIRE(k.inject("mq0", frame_for(unicast(1))) >= 0);
    REQUIRE(k.inject("mq0", frame_for(unicast(2))) >= 0);
    REQUIRE(k.inject("mq0", frame_for(unicast(3))) == fd);
    std::vector<std::byte> buf(100);
    CHECK(b.read(buf) == 60);
    std::error_code ec;
    a.interrupt();  // no effect on a closed queue
    (void)a.read(buf, ec);
    CHECK(ec == errc::not_open);
    k.clear_calls();
    a.close();
    CHECK(k.calls().empty());
  }
  SECTION("move assignment closes what the target held") {
    TunDevice dev({.name = "mq0", .multi_queue = true, .queues = 1}, k);
    Queue a({.name = "mq0", .multi_queue = true}, k);
    Queue b({.name = "mq0", .multi_queue = true}, k);
    const int fd = b.native_handle();
    CHECK(k.device("mq0")->queues == 3);
    a = std::move(b);
    CHECK(a.native_handle() == fd);
    CHECK_FALSE(b.is_open());  // NOLINT(bugprone-use-after-move)
    CHECK(k.device("mq0")->queues == 2);
    CHECK(k.open_fd_count() == 4);
    Queue& self = a;
    a = std::move(self);  // self-assignment keeps it
    CHECK(a.native_handle() == fd);
    a = Queue();
    CHECK(k.device("mq0")->queues == 1);
    CHECK(k.open_fd_count() == 2);
  }
  SECTION("a moved queue wakes on interrupt from its new owner") {
    TunDevice dev({.name = "mq0", .multi_queue = true}, k);
    Queue a({.name = "mq0", .multi_queue = true}, k);
    Queue b = std::move(a);
    std::error_code ec;
    std::thread reader([&] {
      std::array<std::byte, 64> buf{};
      (void)b.read(buf, ec);
    });
    std::this_thread::sleep_for(20ms);
    b.interrupt();
    reader.join();
    CHECK(ec == errc::interrupted);
  }
  SECTION("release() hands over the descriptor and closes the eventfd") {
    TunDevice dev({.name = "mq0", .multi_queue = true}, k);
    Queue a({.name = "mq0", .multi_queue = true}, k);
    const int fd = a.native_handle();
    CHECK(a.release() == fd);
    CHECK_FALSE(a.is_open());
    CHECK(k.open_fd_count() == 3);
    CHECK(k.device("mq0")->queues == 2);
    CHECK(k.close(fd) == 0);
  }
}

TEST_CASE("a Queue attaches by name to an existing multi-queue device", "[mq][queue]") {
  FakeKernel k;
  TunDevice dev({.name = "mq%d", .multi_queue = true, .non_blocking = true}, k);
  Queue late({.name = dev.name(), .multi_queue = true, .non_blocking = true}, k);
  CHECK(late.is_open());
  CHECK(late.name() == "mq0");
  CHECK(late.ifindex() == dev.ifindex());
  CHECK(k.device("mq0")->queues == 2);
  CHECK(k.inject("mq0", ipv4(20)) == dev.native_handle());
  CHECK(k.inject("mq0", ipv4(21)) == late.native_handle());
  std::vector<std::byte> buf(100);
  CHECK(late.read(buf) == 21);

  SECTION("without multi_queue: EINVAL with the kernel's reasons") {
    try {
      Queue q({.name = "mq0"}, k);
      FAIL("attached");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == sys(EINVAL));
      CHECK(std::string(e.what()) ==
            "tunkit: TUNSETIFF \"mq0\": invalid argument (the name belongs to a device of another "
            "kind, or the existing device differs in TUN/TAP mode or multi-queue setting)");
    }
    CHECK(k.device("mq0")->queues == 2);
  }
  SECTION("device settings in Options are ignored by a Queue") {
    k.clear_calls();
    Queue q({.name = "mq0", .queues = 8, .persist = true, .owner = 7}, k);
    CHECK(ioctls(k, TUNSETPERSIST).empty());
    CHECK(ioctls(k, TUNSETOWNER).empty());
    CHECK(ioctls(k, TUNSETIFF).size() == 1);
  }
  SECTION("the device lives while the late queue does") {
    dev.close();
    REQUIRE(k.exists("mq0"));
    CHECK(k.device("mq0")->queues == 1);
    late.close();
    CHECK_FALSE(k.exists("mq0"));
  }
  SECTION("a Queue on an absent name creates the device") {
    Queue q({.name = "mq7", .multi_queue = true}, k);
    REQUIRE(k.exists("mq7"));
    q.close();
    CHECK_FALSE(k.exists("mq7"));
  }
}

TEST_CASE("a TunDevice with several queues moves and releases as a whole", "[mq][move]") {
  FakeKernel k;
  SECTION("move") {
    TunDevice a({.name = "mq0", .queues = 3}, k);
    const int fd2 = a.queue(2).native_handle();
    TunDevice b(std::move(a));
    CHECK(a.queue_count() == 0);  // NOLINT(bugprone-use-after-move)
    CHECK(b.queue_count() == 3);
    CHECK(b.queue(2).native_handle() == fd2);
    CHECK(k.open_fd_count() == 6);
    b = TunDevice();
    CHECK(k.open_fd_count() == 0);
    CHECK_FALSE(k.exists("mq0"));
  }
  SECTION("release keeps the first queue's descriptor only") {
    TunDevice a({.name = "mq0", .queues = 3}, k);
    const int fd = a.release();
    CHECK(a.queue_count() == 0);
    CHECK(k.open_fds() == std::vector<int>{fd});
    CHECK(k.device("mq0")->queues == 1);
    CHECK(k.close(fd) == 0);
  }
}

// --- The typed device-wide ioctls -------------------------------------------------------------

TEST_CASE("send buffer: TUNGETSNDBUF, TUNSETSNDBUF", "[mq][ioctl]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  CHECK(dev.send_buffer() == INT_MAX);
  dev.set_send_buffer(65536);
  CHECK(dev.send_buffer() == 65536);
  CHECK(k.device("t0")->send_buffer == 65536);
  CHECK(ioctls(k, TUNSETSNDBUF).back().arg == 65536);
  std::error_code ec;
  dev.set_send_buffer(1, ec);
  CHECK_FALSE(ec);
  CHECK(dev.send_buffer(ec) == 1);
  const int bad = GENERATE(0, -1, INT_MIN);
  dev.set_send_buffer(bad, ec);
  CHECK(ec == sys(EINVAL));
  CHECK_THROWS_WITH(dev.set_send_buffer(bad),
                    "tunkit: TUNSETSNDBUF \"t0\": invalid argument (the size must be positive)");
  CHECK(dev.send_buffer() == 1);
}

TEST_CASE("set_tx_filter marshals the addresses the kernel can match", "[mq][ioctl][txfilter]") {
  FakeKernel k;
  TunDevice tap({.name = "e0", .mode = Mode::tap}, k);
  auto filter = [&] { return k.device("e0")->tx_filter; };

  SECTION("unicast addresses, in order") {
    const std::array<MacAddress, 3> macs{unicast(1), unicast(2), unicast(3)};
    tap.set_tx_filter(macs);
    CHECK(filter().addresses == std::vector<MacAddress>(macs.begin(), macs.end()));
    CHECK_FALSE(filter().all_multicast);
    CHECK(filter().active);
    CHECK(ioctls(k, TUNSETTXFILTER).back().arg == 3);
    CHECK(k.inject("e0", frame_for(unicast(2))) >= 0);
    CHECK(k.inject("e0", frame_for(unicast(9))) == -1);
  }
  SECTION("all-multicast") {
    const std::array<MacAddress, 1> macs{unicast(1)};
    std::error_code ec;
    tap.set_tx_filter(macs, true, ec);
    CHECK_FALSE(ec);
    CHECK(filter().all_multicast);
    CHECK(k.inject("e0", frame_for(multicast(9))) >= 0);
    CHECK(k.inject("e0", frame_for(unicast(9))) == -1);
  }
  SECTION("unicast addresses go first: the kernel matches only the first eight exactly") {
    std::vector<MacAddress> macs;
    for (std::uint8_t i = 1; i <= 8; ++i)
      macs.push_back(multicast(i));
    macs.push_back(unicast(1));
    tap.set_tx_filter(macs);
    const auto f = filter();
    REQUIRE(f.addresses.size() == 9);
    CHECK(f.addresses[0] == unicast(1));
    CHECK(f.active);
    CHECK(k.inject("e0", frame_for(unicast(1))) >= 0);
    CHECK(k.inject("e0", frame_for(unicast(2))) == -1);  // a disabled filter would pass it
    CHECK(k.inject("e0", frame_for(multicast(8))) >= 0);
  }
  SECTION("more than eight unicast addresses: EINVAL before any syscall") {
    std::vector<MacAddress> macs;
    for (std::uint8_t i = 1; i <= 9; ++i)
      macs.push_back(unicast(i));
    k.clear_calls();
    std::error_code ec;
    tap.set_tx_filter(macs, false, ec);
    CHECK(ec == sys(EINVAL));
    CHECK_THROWS_WITH(tap.set_tx_filter(macs),
                      "tunkit: TUNSETTXFILTER \"e0\": invalid argument (at most 8 unicast "
                      "addresses: the kernel matches only 8 exactly)");
    CHECK(k.calls().empty());
  }
  SECTION("no address but all-multicast: only multicast passes") {
    tap.set_tx_filter({}, true);
    CHECK(filter().active);
    CHECK(filter().all_multicast);
    CHECK(k.inject("e0", frame_for(multicast(3))) >= 0);
    CHECK(k.inject("e0", frame_for(MacAddress::broadcast())) >= 0);
    CHECK(k.inject("e0", frame_for(unicast(3))) == -1);
  }
  SECTION("no address at all, or clear_tx_filter: every frame passes") {
    const std::array<MacAddress, 1> macs{unicast(1)};
    tap.set_tx_filter(macs);
    tap.set_tx_filter({});
    CHECK_FALSE(filter().active);
    tap.set_tx_filter(macs);
    tap.clear_tx_filter();
    CHECK_FALSE(filter().active);
    CHECK(filter().addresses.empty());
    CHECK(ioctls(k, TUNSETTXFILTER).back().arg == 0);
    CHECK(k.inject("e0", frame_for(unicast(5))) >= 0);
    std::error_code ec;
    tap.clear_tx_filter(ec);
    CHECK_FALSE(ec);
  }
  SECTION("on a TUN: EINVAL, TAP devices only") {
    TunDevice tun({.name = "t0"}, k);
    const std::array<MacAddress, 1> macs{unicast(1)};
    CHECK_THROWS_WITH(tun.set_tx_filter(macs),
                      "tunkit: TUNSETTXFILTER \"t0\": invalid argument (TAP devices only)");
    CHECK_THROWS_WITH(tun.clear_tx_filter(),
                      "tunkit: TUNSETTXFILTER \"t0\": invalid argument (TAP devices only)");
    std::error_code ec;
    tun.clear_tx_filter(ec);
    CHECK(ec == sys(EINVAL));
  }
}

TEST_CASE("classic BPF: attach_filter, detach_filter, filter_size", "[mq][ioctl][filter]") {
  FakeKernel k;
  TunDevice tap({.name = "e0", .mode = Mode::tap, .queues = 2}, k);
  CHECK(tap.filter_size() == 0);
  tap.attach_filter(kDropUdp);
  const auto d = k.device("e0");
  CHECK(d->filter_attached);
  CHECK(d->filter_program == std::vector<BpfInstruction>(kDropUdp.begin(), kDropUdp.end()));
  for (const auto& q : d->queue_states)
    CHECK(q.socket_filter);  // on every queue
  CHECK(ioctls(k, TUNATTACHFILTER).back().arg == 6);
  CHECK(tap.filter_size() == 6);
  tap.detach_filter();
  CHECK_FALSE(k.device("e0")->filter_attached);
  CHECK(tap.filter_size() == 6);  // the kernel reports the last program's length
  std::error_code ec;
  tap.detach_filter(ec);  // nothing attached: still fine (measured)
  CHECK_FALSE(ec);
  CHECK(tap.filter_size(ec) == 6);
  CHECK_FALSE(ec);

  SECTION("empty or too long programs never reach the kernel") {
    k.clear_calls();
    tap.attach_filter({}, ec);
    CHECK(ec == sys(EINVAL));
    const std::vector<BpfInstruction> huge(4097, BpfInstruction{0x06, 0, 0, 0});
    CHECK_THROWS_WITH(tap.attach_filter(huge),
                      "tunkit: TUNATTACHFILTER \"e0\": invalid argument (TAP devices only, with a "
                      "valid program of 1 to 4096 instructions)");
    CHECK(k.calls().empty());
    const std::vector<BpfInstruction> longest(4096, BpfInstruction{0x06, 0, 0, 0});
    tap.attach_filter(longest);
    CHECK(tap.filter_size() == 4096);
  }
  SECTION("a program the kernel refuses: EINVAL, yet its length is reported") {
    const std::array<BpfInstruction, 2> no_return{{{0x28, 0, 0, 12}, {0x28, 0, 0, 12}}};
    tap.attach_filter(no_return, ec);
    CHECK(ec == sys(EINVAL));
    CHECK(tap.filter_size() == 2);
  }
  SECTION("on a TUN: EINVAL, and filter_size is 0") {
    TunDevice tun({.name = "t0"}, k);
    CHECK_THROWS_WITH(tun.attach_filter(kDropUdp),
                      "tunkit: TUNATTACHFILTER \"t0\": invalid argument (TAP devices only, with a "
                      "valid program of 1 to 4096 instructions)");
    CHECK_THROWS_WITH(tun.detach_filter(),
                      "tunkit: TUNDETACHFILTER \"t0\": invalid argument (TAP devices only)");
    CHECK(tun.filter_size(ec) == 0);
    CHECK_FALSE(ec);
  }
  SECTION("TUNGETFILTER failing otherwise is reported") {
    k.fail_next_ioctl(TUNGETFILTER, EFAULT);
    CHECK_THROWS_WITH((void)tap.filter_size(), "tunkit: TUNGETFILTER \"e0\": bad address");
  }
}

TEST_CASE("eBPF programs: set_steering_ebpf, set_filter_ebpf", "[mq][ioctl][ebpf]") {
  FakeKernel k;
  TunDevice dev({.name = "mq0", .queues = 2}, k);
  const bool steering = GENERATE(true, false);
  const std::string op = steering ? "TUNSETSTEERINGEBPF" : "TUNSETFILTEREBPF";
  auto set = [&](int fd) { steering ? dev.set_steering_ebpf(fd) : dev.set_filter_ebpf(fd); };
  auto set_ec = [&](int fd, std::error_code& ec) {
    steering ? dev.set_steering_ebpf(fd, ec) : dev.set_filter_ebpf(fd, ec);
  };
  auto recorded = [&] {
    const auto d = k.device("mq0");
    return steering ? d->steering_ebpf : d->filter_ebpf;
  };
  const int prog = k.add_ebpf_program();
  set(prog);
  CHECK(recorded() == prog);
  CHECK(ioctls(k, steering ? TUNSETSTEERINGEBPF : TUNSETFILTEREBPF).back().arg == prog);
  set(-1);
  CHECK(recorded() == -1);
  std::error_code ec;
  set_ec(prog, ec);
  CHECK_FALSE(ec);
  CHECK(recorded() == prog);

  const std::string hint = " (needs a loaded BPF_PROG_TYPE_SOCKET_FILTER program)";
  SECTION("not a descriptor: EBADF") {
    set_ec(4242, ec);
    CHECK(ec == sys(EBADF));
    CHECK_THROWS_WITH(set(4242), "tunkit: " + op + " \"mq0\": bad file descriptor" + hint);
  }
  SECTION("not a socket-filter program: EINVAL") {
    const int other = k.add_ebpf_program(false);
    CHECK_THROWS_WITH(set(other), "tunkit: " + op + " \"mq0\": invalid argument" + hint);
    CHECK_THROWS_WITH(set(dev.native_handle()),
                      "tunkit: " + op + " \"mq0\": invalid argument" + hint);
    CHECK(recorded() == prog);
  }
  SECTION("another errno: no hint") {
    k.fail_next_ioctl(steering ? TUNSETSTEERINGEBPF : TUNSETFILTEREBPF, ENOMEM);
    CHECK_THROWS_WITH(set(prog), "tunkit: " + op + " \"mq0\": out of memory");
  }
}

TEST_CASE("set_carrier is TUNSETCARRIER, seen over rtnetlink", "[mq][ioctl][carrier]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  dev.set_carrier(false);
  CHECK_FALSE(k.device("t0")->carrier);
  CHECK_FALSE(k.rtnetlink().link(dev.ifindex())->carrier);
  CHECK(ioctls(k, TUNSETCARRIER).back().arg == 0);
  std::error_code ec;
  dev.set_carrier(true, ec);
  CHECK_FALSE(ec);
  CHECK(k.device("t0")->carrier);
  CHECK(k.rtnetlink().link(dev.ifindex())->carrier);
  CHECK(ioctls(k, TUNSETCARRIER).back().arg == 1);
  k.fail_next_ioctl(TUNSETCARRIER, ENOMEM);
  CHECK_THROWS_WITH(dev.set_carrier(false), "tunkit: TUNSETCARRIER \"t0\": out of memory");
}

TEST_CASE("set_link_type is TUNSETLINK, refused while up", "[mq][ioctl]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  CHECK(k.device("t0")->link_type == ARPHRD_NONE);
  dev.set_link_type(ARPHRD_LOOPBACK);
  CHECK(k.device("t0")->link_type == ARPHRD_LOOPBACK);
  CHECK(ioctls(k, TUNSETLINK).back().arg == ARPHRD_LOOPBACK);
  REQUIRE(k.set_up("t0", true));
  std::error_code ec;
  dev.set_link_type(ARPHRD_ETHER, ec);
  CHECK(ec == sys(EBUSY));
  CHECK_THROWS_WITH(dev.set_link_type(ARPHRD_ETHER),
                    "tunkit: TUNSETLINK \"t0\": device busy (bring the link down first)");
  CHECK(k.device("t0")->link_type == ARPHRD_LOOPBACK);
}

TEST_CASE("open_netns returns a new descriptor the caller owns", "[mq][ioctl]") {
  FakeKernel k;
  TunDevice dev({.name = "t0"}, k);
  const int ns = dev.open_netns();
  REQUIRE(ns >= 0);
  CHECK(ns != dev.native_handle());
  CHECK(k.open_fd_count() == 3);
  CHECK(k.fcntl(ns, F_GETFD, 0) == FD_CLOEXEC);
  CHECK(k.close(ns) == 0);
  CHECK(k.open_fd_count() == 2);

  SECTION("without CAP_NET_ADMIN: EPERM with the hint") {
    k.set_credentials(1000, 1000, false);
    std::error_code ec;
    CHECK(dev.open_netns(ec) == -1);
    CHECK(ec == sys(EPERM));
    CHECK_THROWS_WITH((void)dev.open_netns(),
                      "tunkit: TUNGETDEVNETNS \"t0\": operation not permitted (needs CAP_NET_ADMIN "
                      "in the device's namespace)");
  }
  SECTION("another errno: no hint") {
    k.fail_next_ioctl(TUNGETDEVNETNS, EMFILE);
    CHECK_THROWS_WITH((void)dev.open_netns(),
                      "tunkit: TUNGETDEVNETNS \"t0\": too many open files in this process");
  }
  CHECK(k.open_fd_count() == 2);
}

TEST_CASE("virtio-net header size and endianness", "[mq][ioctl][vnet]") {
  FakeKernel k;
  TunDevice dev({.name = "t0", .vnet_hdr = true}, k);
  CHECK(dev.vnet_header_size() == 10);
  dev.set_vnet_header_size(12);
  CHECK(dev.vnet_header_size() == 12);
  CHECK(k.device("t0")->vnet_header_size == 12);
  CHECK(ioctls(k, TUNSETVNETHDRSZ).back().arg == 12);
  std::error_code ec;
  dev.set_vnet_header_size(4, ec);
  CHECK(ec == sys(EINVAL));
  CHECK_THROWS_WITH(dev.set_vnet_header_size(9),
                    "tunkit: TUNSETVNETHDRSZ \"t0\": invalid argument (at least 10 bytes)");
  CHECK(dev.vnet_header_size(ec) == 12);

  CHECK_FALSE(dev.vnet_little_endian());
  dev.set_vnet_little_endian(true);
  CHECK(dev.vnet_little_endian());
  CHECK(k.device("t0")->vnet_little_endian);
  CHECK(ioctls(k, TUNSETVNETLE).back().arg == 1);
  dev.set_vnet_little_endian(false, ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(dev.vnet_little_endian(ec));

  SECTION("big endian: EINVAL without CONFIG_TUN_VNET_CROSS_LE") {
    (void)dev.vnet_big_endian(ec);
    CHECK(ec == sys(EINVAL));
    CHECK_THROWS_WITH((void)dev.vnet_big_endian(),
                      "tunkit: TUNGETVNETBE \"t0\": invalid argument (kernel built without "
                      "CONFIG_TUN_VNET_CROSS_LE?)");
    CHECK_THROWS_WITH(dev.set_vnet_big_endian(true),
                      "tunkit: TUNSETVNETBE \"t0\": invalid argument (kernel built without "
                      "CONFIG_TUN_VNET_CROSS_LE?)");
    k.fail_next_ioctl(TUNGETVNETBE, EFAULT);
    CHECK_THROWS_WITH((void)dev.vnet_big_endian(), "tunkit: TUNGETVNETBE \"t0\": bad address");
  }
  SECTION("big endian where the kernel has it") {
    k.set_vnet_cross_le(true);
    CHECK_FALSE(dev.vnet_big_endian());
    dev.set_vnet_big_endian(true);
    CHECK(dev.vnet_big_endian());
    CHECK(k.device("t0")->vnet_big_endian);
  }
}

namespace {

// One typed device-wide call, in both forms, with the request it must make.
struct DeviceCall {
  std::string op;  // the request's name, as in messages
  unsigned long request = 0;
  std::function<void(TunDevice&)> call;
  std::function<void(TunDevice&, std::error_code&)> call_ec;
};

std::vector<DeviceCall> device_calls() {
  static const std::array<MacAddress, 1> macs{unicast(1)};
  return {
      {"TUNSETPERSIST", TUNSETPERSIST, [](TunDevice& d) { d.set_persist(false); },
       [](TunDevice& d, std::error_code& ec) { d.set_persist(false, ec); }},
      {"TUNSETOWNER", TUNSETOWNER, [](TunDevice& d) { d.set_owner(1000); },
       [](TunDevice& d, std::error_code& ec) { d.set_owner(1000, ec); }},
      {"TUNSETGROUP", TUNSETGROUP, [](TunDevice& d) { d.set_group(100); },
       [](TunDevice& d, std::error_code& ec) { d.set_group(100, ec); }},
      {"TUNGETSNDBUF", TUNGETSNDBUF, [](TunDevice& d) { (void)d.send_buffer(); },
       [](TunDevice& d, std::error_code& ec) { (void)d.send_buffer(ec); }},
      {"TUNSETSNDBUF", TUNSETSNDBUF, [](TunDevice& d) { d.set_send_buffer(4096); },
       [](TunDevice& d, std::error_code& ec) { d.set_send_buffer(4096, ec); }},
      {"TUNSETTXFILTER", TUNSETTXFILTER, [](TunDevice& d) { d.set_tx_filter(macs); },
       [](TunDevice& d, std::error_code& ec) { d.set_tx_filter(macs, false, ec); }},
      {"TUNATTACHFILTER", TUNATTACHFILTER, [](TunDevice& d) { d.attach_filter(kDropUdp); },
       [](TunDevice& d, std::error_code& ec) { d.attach_filter(kDropUdp, ec); }},
      {"TUNDETACHFILTER", TUNDETACHFILTER, [](TunDevice& d) { d.detach_filter(); },
       [](TunDevice& d, std::error_code& ec) { d.detach_filter(ec); }},
      {"TUNGETFILTER", TUNGETFILTER, [](TunDevice& d) { (void)d.filter_size(); },
       [](TunDevice& d, std::error_code& ec) { (void)d.filter_size(ec); }},
      {"TUNSETSTEERINGEBPF", TUNSETSTEERINGEBPF, [](TunDevice& d) { d.set_steering_ebpf(-1); },
       [](TunDevice& d, std::error_code& ec) { d.set_steering_ebpf(-1, ec); }},
      {"TUNSETFILTEREBPF", TUNSETFILTEREBPF, [](TunDevice& d) { d.set_filter_ebpf(-1); },
       [](TunDevice& d, std::error_code& ec) { d.set_filter_ebpf(-1, ec); }},
      {"TUNSETCARRIER", TUNSETCARRIER, [](TunDevice& d) { d.set_carrier(true); },
       [](TunDevice& d, std::error_code& ec) { d.set_carrier(true, ec); }},
      {"TUNSETLINK", TUNSETLINK, [](TunDevice& d) { d.set_link_type(ARPHRD_ETHER); },
       [](TunDevice& d, std::error_code& ec) { d.set_link_type(ARPHRD_ETHER, ec); }},
      {"TUNGETDEVNETNS", TUNGETDEVNETNS,
       [](TunDevice& d) {
         const int fd = d.open_netns();
         (void)fd;  // closed by the test through the fake
       },
       [](TunDevice& d, std::error_code& ec) { (void)d.open_netns(ec); }},
      {"TUNGETVNETHDRSZ", TUNGETVNETHDRSZ, [](TunDevice& d) { (void)d.vnet_header_size(); },
       [](TunDevice& d, std::error_code& ec) { (void)d.vnet_header_size(ec); }},
      {"TUNSETVNETHDRSZ", TUNSETVNETHDRSZ, [](TunDevice& d) { d.set_vnet_header_size(12); },
       [](TunDevice& d, std::error_code& ec) { d.set_vnet_header_size(12, ec); }},
      {"TUNGETVNETLE", TUNGETVNETLE, [](TunDevice& d) { (void)d.vnet_little_endian(); },
       [](TunDevice& d, std::error_code& ec) { (void)d.vnet_little_endian(ec); }},
      {"TUNSETVNETLE", TUNSETVNETLE, [](TunDevice& d) { d.set_vnet_little_endian(true); },
       [](TunDevice& d, std::error_code& ec) { d.set_vnet_little_endian(true, ec); }},
      {"TUNGETVNETBE", TUNGETVNETBE, [](TunDevice& d) { (void)d.vnet_big_endian(); },
       [](TunDevice& d, std::error_code& ec) { (void)d.vnet_big_endian(ec); }},
      {"TUNSETVNETBE", TUNSETVNETBE, [](TunDevice& d) { d.set_vnet_big_endian(true); },
       [](TunDevice& d, std::error_code& ec) { d.set_vnet_big_endian(true, ec); }},
  };
}

}  // namespace

TEST_CASE("every device-wide call retries EINTR and succeeds", "[mq][ioctl][eintr]") {
  FakeKernel k;
  k.set_vnet_cross_le(true);
  TunDevice dev({.name = "e0", .mode = Mode::tap, .queues = 2}, k);
  for (const auto& c : device_calls()) {
    CAPTURE(c.op);
    SECTION(c.op) {
      k.clear_calls();
      k.fail_next_ioctl(c.request, EINTR);
      k.fail_next_ioctl(c.request, EINTR);
      std::error_code ec;
      c.call_ec(dev, ec);
      CHECK_FALSE(ec);
      CHECK(ioctls(k, c.request).size() == 3);
      k.fail_next_ioctl(c.request, EINTR);
      CHECK_NOTHROW(c.call(dev));
    }
  }
}

TEST_CASE("every device-wide call reports a kernel failure with its name", "[mq][ioctl]") {
  FakeKernel k;
  TunDevice dev({.name = "e0", .mode = Mode::tap, .queues = 2}, k);
  const auto fds = k.open_fd_count();
  for (const auto& c : device_calls()) {
    CAPTURE(c.op);
    SECTION(c.op) {
      // ENOMEM explains nothing more: the message is the operation, the device and the cause.
      k.fail_next_ioctl(c.request, ENOMEM);
      std::error_code ec;
      c.call_ec(dev, ec);
      CHECK(ec == sys(ENOMEM));
      k.fail_next_ioctl(c.request, ENOMEM);
      try {
        c.call(dev);
        FAIL("no exception");
      } catch (const tunkit::Error& e) {
        CHECK(e.code() == sys(ENOMEM));
        CHECK(std::string(e.what()) == "tunkit: " + c.op + " \"e0\": out of memory");
      }
      CHECK(k.open_fd_count() == fds);
    }
  }
}

TEST_CASE("every device-wide call on a closed device is not_open, without a syscall",
          "[mq][ioctl]") {
  FakeKernel k;
  TunDevice dev;
  for (const auto& c : device_calls()) {
    CAPTURE(c.op);
    std::error_code ec;
    c.call_ec(dev, ec);
    CHECK(ec == errc::not_open);
    try {
      c.call(dev);
      FAIL("no exception");
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == errc::not_open);
      CHECK(std::string(e.what()) == "tunkit: " + c.op + ": device not open");
    }
  }
  CHECK(k.calls().empty());
}

TEST_CASE("after ip link del every device-wide call says EBADFD", "[mq][ioctl]") {
  FakeKernel k;
  TunDevice dev({.name = "e0", .mode = Mode::tap}, k);
  REQUIRE(k.delete_device("e0"));
  for (const auto& c : device_calls()) {
    CAPTURE(c.op);
    std::error_code ec;
    c.call_ec(dev, ec);
    CHECK(ec == sys(EBADFD));
  }
  CHECK(k.open_fd_count() == 2);
}
