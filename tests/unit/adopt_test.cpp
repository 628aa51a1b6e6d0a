// Queue::adopt and TunDevice::adopt over the fake kernel: what is read back from the kernel, what
// the descriptors get, and every refusal, after which the caller's descriptors are as they were
// (open, their flags unchanged) and no descriptor of tunkit's is left open.
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "catch.hpp"
#include "fake_world.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"

namespace adopt_test {

using Catch::Matchers::ContainsSubstring;
using tunkit::AdoptOptions;
using tunkit::errc;
using tunkit::Flag;
using tunkit::Mode;
using tunkit::Offload;
using tunkit::Offloads;
using tunkit::Queue;
using tunkit::TunDevice;
using tunkit::testing::FakeKernel;
using namespace std::chrono_literals;

// A queue opened the way another program would: a blocking descriptor without FD_CLOEXEC,
// attached with TUNSETIFF.
int foreign_queue(FakeKernel& k, const char* name, short flags) {
  const int fd = k.open("/dev/net/tun", O_RDWR);
  REQUIRE(fd >= 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
  ifr.ifr_flags = flags;
  REQUIRE(k.ioctl(fd, TUNSETIFF, &ifr) == 0);
  return fd;
}

// The descriptor flags a refusal must leave as they were.
struct FdState {
  int status;
  int fd_flags;
  friend bool operator==(const FdState&, const FdState&) = default;
};
FdState state_of(FakeKernel& k, int fd) {
  return {k.fcntl(fd, F_GETFL, 0), k.fcntl(fd, F_GETFD, 0)};
}

// A tunkit::errc as a condition, comparable with codes as std::errc values are.
std::error_condition adopt_condition(errc e) {
  return {static_cast<int>(e), tunkit::error_category()};
}

}  // namespace adopt_test

using namespace adopt_test;

TEST_CASE("Queue::adopt reads the device from the kernel and makes the descriptor tunkit's") {
  FakeKernel k;
  const int fd = foreign_queue(k, "vpn0", IFF_TUN | IFF_NO_PI);
  REQUIRE(k.set_up("vpn0", true));
  REQUIRE((k.fcntl(fd, F_GETFL, 0) & O_NONBLOCK) == 0);
  const std::size_t before = k.open_fd_count();

  Queue q = Queue::adopt(fd, {}, k);
  CHECK(q.is_open());
  CHECK(q.native_handle() == fd);
  CHECK(q.name() == "vpn0");
  CHECK(q.mode() == Mode::tun);
  CHECK_FALSE(q.has_packet_info());
  CHECK(q.ifindex() == k.device("vpn0")->ifindex);
  CHECK((k.fcntl(fd, F_GETFL, 0) & O_NONBLOCK) != 0);
  CHECK(k.fcntl(fd, F_GETFD, 0) == FD_CLOEXEC);
  CHECK(k.open_fd_count() == before + 1);  // its own wake-up eventfd
  CHECK(k.device("vpn0")->queues == 1);    // nothing attached anew

  const auto packet = test::ipv4(60, 1);
  CHECK(q.write(packet) == packet.size());
  REQUIRE(k.written("vpn0").size() == 1);
  CHECK(k.written("vpn0")[0].fd == fd);
  REQUIRE(k.inject("vpn0", packet) == fd);  // queued on the adopted queue
  std::array<std::byte, 2048> buf{};
  CHECK(q.read(buf) == packet.size());

  q.interrupt();
  CHECK(q.wait_readable(-1ms) == tunkit::WaitResult::interrupted);

  q.close();
  CHECK(k.open_fd_count() == before - 1);  // the adopted descriptor is closed with the queue
  CHECK_FALSE(k.exists("vpn0"));
}

TEST_CASE("adopt keeps the virtio-net header the device has and the packet information") {
  FakeKernel k;
  const int fd = foreign_queue(k, "tap7", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
  REQUIRE(k.set_up("tap7", true));
  int size = 12;
  REQUIRE(k.ioctl(fd, TUNSETVNETHDRSZ, &size) == 0);
  int le = 1;
  REQUIRE(k.ioctl(fd, TUNSETVNETLE, &le) == 0);

  TunDevice dev = TunDevice::adopt(fd, AdoptOptions{.offloads = Offload::csum}, k);
  CHECK(dev.mode() == Mode::tap);
  CHECK(dev.flags().has(Flag::vnet_hdr));
  CHECK_FALSE(dev.queue(0).has_packet_info());
  CHECK(dev.offloads() == Offloads(Offload::csum));  // recorded, not set:
  CHECK(k.count_ioctl(TUNSETOFFLOAD) == 0);
  // A 12-byte header frames each packet: the fake sees the frame after it.
  std::vector<std::byte> frame(12 + 60, std::byte{0x11});
  std::fill(frame.begin(), frame.begin() + 12, std::byte{0});
  CHECK(dev.write(frame) == frame.size());
  REQUIRE(k.written("tap7").size() == 1);
  CHECK(k.written("tap7")[0].vnet_header.size() == 12);
  CHECK(k.written("tap7")[0].data.size() == 60);

  FakeKernel k2;
  const int pi = foreign_queue(k2, "pi0", IFF_TUN);
  REQUIRE(k2.set_up("pi0", true));
  Queue q = Queue::adopt(pi, {}, k2);
  CHECK(q.has_packet_info());
  const auto packet = test::ipv4(40, 2);
  CHECK(q.write(packet) == packet.size());
  REQUIRE(k2.written("pi0").size() == 1);
  CHECK(k2.written("pi0")[0].protocol == 0x0800);
}

TEST_CASE("TunDevice::adopt takes the queues of one multi-queue device") {
  FakeKernel k;
  const short mq = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
  const std::array<int, 3> fds{foreign_queue(k, "mq0", mq), foreign_queue(k, "mq0", mq),
                               foreign_queue(k, "mq0", mq)};
  TunDevice dev = TunDevice::adopt(fds, {.name = "mq0", .non_blocking = true}, k);
  REQUIRE(dev.queue_count() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(dev.queue(i).native_handle() == fds[i]);
    CHECK(dev.queue(i).non_blocking());
  }
  std::array<std::byte, 64> buf{};
  std::error_code ec;
  CHECK(dev.queue(2).read(buf, ec) == 0);
  CHECK(ec == std::errc::resource_unavailable_try_again);
  // add_queue attaches one more with the device's flags.
  tunkit::Queue& more = dev.add_queue();
  CHECK(more.name() == "mq0");
  CHECK(k.device("mq0")->queues == 4);
  dev.interrupt();
  for (std::size_t i = 0; i < dev.queue_count(); ++i)
    CHECK(dev.queue(i).wait_readable(-1ms) == tunkit::WaitResult::interrupted);
}

TEST_CASE("adopt refuses what is no attached queue, naming the descriptor, and changes nothing") {
  FakeKernel k;
  const int good = foreign_queue(k, "tun0", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  const int other = foreign_queue(k, "tun1", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  const int unattached = k.open("/dev/net/tun", O_RDWR);
  const int event = k.eventfd(0, 0);
  const int sock = k.socket(AF_INET, SOCK_DGRAM, 0);
  const int disabled = foreign_queue(k, "tun0", IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE);
  ifreq detach{};
  detach.ifr_flags = IFF_DETACH_QUEUE;
  REQUIRE(k.ioctl(disabled, TUNSETQUEUE, &detach) == 0);
  const std::vector<int> all{good, other, unattached, event, sock, disabled};
  std::vector<FdState> states;
  for (int fd : all)
    states.push_back(state_of(k, fd));
  const std::size_t open_before = k.open_fd_count();

  struct Case {
    std::string what;
    std::vector<int> fds;
    AdoptOptions options;
    std::error_condition code;
    std::string message;
  };
  const std::vector<Case> cases{
      {"a negative number",
       {-1},
       {},
       std::make_error_condition(std::errc::bad_file_descriptor),
       "tunkit: adopt descriptor -1: bad file descriptor (not a descriptor number)"},
      {"a closed number",
       {4242},
       {},
       std::make_error_condition(std::errc::bad_file_descriptor),
       "tunkit: adopt descriptor 4242: bad file descriptor (not open in this process)"},
      {"/dev/net/tun before TUNSETIFF",
       {unattached},
       {},
       adopt_condition(errc::not_a_queue),
       "not a TUN/TAP queue (/dev/net/tun without an interface: no TUNSETIFF yet, or the "
       "interface was deleted)"},
      {"an eventfd",
       {event},
       {},
       adopt_condition(errc::not_a_queue),
       "not a TUN/TAP queue (it is an anonymous inode (an eventfd, epoll, timerfd or BPF "
       "descriptor), not a /dev/net/tun descriptor)"},
      {"a socket",
       {sock},
       {},
       adopt_condition(errc::not_a_queue),
       fmt::format("tunkit: adopt descriptor {}: not a TUN/TAP queue (it is a socket, not a "
                   "/dev/net/tun descriptor)",
                   sock)},
      {"a disabled queue",
       {disabled},
       {},
       std::make_error_condition(std::errc::invalid_argument),
       "of \"tun0\": invalid argument (a disabled queue (TUNSETQUEUE IFF_DETACH_QUEUE): enable "
       "it before handing it over)"},
      {"another device than asked",
       {good},
       {.name = "tun1"},
       std::make_error_condition(std::errc::invalid_argument),
       "(not \"tun1\", the device asked for)"},
      {"no descriptors",
       {},
       {},
       std::make_error_condition(std::errc::invalid_argument),
       "no descriptors given"},
      {"one number twice",
       {good, good},
       {},
       std::make_error_condition(std::errc::invalid_argument),
       fmt::format("tunkit: adopt descriptor {}: invalid argument (given twice)", good)},
      {"queues of two devices",
       {good, other},
       {},
       std::make_error_condition(std::errc::invalid_argument),
       fmt::format("adopt descriptor {} of \"tun1\": invalid argument (descriptor {} is a queue of "
                   "another device, \"tun0\")",
                   other, good)},
      {"a good one, then a bad one",
       {good, event},
       {},
       adopt_condition(errc::not_a_queue),
       fmt::format("adopt descriptor {}:", event)},
  };
  for (const Case& c : cases) {
    SECTION(c.what) {
      const auto e = test::thrown_by([&] { (void)TunDevice::adopt(c.fds, c.options, k); });
      CHECK(e.code() == c.code);
      CHECK_THAT(e.what(), ContainsSubstring(c.message));
      std::error_code ec;
      TunDevice dev = TunDevice::adopt(c.fds, ec, c.options, k);
      CHECK(ec == c.code);
      CHECK_FALSE(dev.is_open());
      if (c.fds.size() == 1) {
        std::error_code qec;
        CHECK_FALSE(Queue::adopt(c.fds[0], qec, c.options, k).is_open());
        CHECK(qec == c.code);
      }
      CHECK(k.open_fd_count() == open_before);
      for (std::size_t i = 0; i < all.size(); ++i)
        CHECK(state_of(k, all[i]) == states[i]);
    }
  }
}

TEST_CASE("adopt refuses more queues than a device can have before reading any") {
  FakeKernel k;
  std::vector<int> fds(tunkit::max_queues + 1, 5);
  for (std::size_t i = 0; i < fds.size(); ++i)
    fds[i] = static_cast<int>(5000 + i);
  const auto e = test::thrown_by([&] { (void)TunDevice::adopt(fds, {}, k); });
  CHECK(e.code() == std::errc::argument_list_too_long);
  CHECK(k.calls().empty());
}

TEST_CASE("a failure while taking the queues gives back those taken, flags restored") {
  FakeKernel k;
  const short mq = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
  const std::array<int, 2> fds{foreign_queue(k, "mq1", mq), foreign_queue(k, "mq1", mq)};
  const FdState before0 = state_of(k, fds[0]);
  const FdState before1 = state_of(k, fds[1]);
  const std::size_t open_before = k.open_fd_count();
  k.fail_next(FakeKernel::Call::eventfd, EMFILE, 1);  // the second queue's wake-up
  const auto e = test::thrown_by([&] { (void)TunDevice::adopt(fds, {}, k); });
  CHECK(e.code() == std::errc::too_many_files_open);
  CHECK_THAT(e.what(), ContainsSubstring(fmt::format("adopt descriptor {} of \"mq1\"", fds[1])));
  CHECK(state_of(k, fds[0]) == before0);
  CHECK(state_of(k, fds[1]) == before1);
  CHECK(k.open_fd_count() == open_before);
  CHECK(k.device("mq1")->queues == 2);
}

TEST_CASE("adopt asks for the packet information when the device is not in this namespace") {
  FakeKernel k;
  const int fd = foreign_queue(k, "far0", IFF_TUN | IFF_NO_PI);
  // The interface disappears from rtnetlink's view, as a device in another namespace does.
  k.rtnetlink().remove_link(k.device("far0")->ifindex);
  const auto e = test::thrown_by([&] { (void)Queue::adopt(fd, {}, k); });
  CHECK(e.code() == std::errc::invalid_argument);
  CHECK_THAT(e.what(), ContainsSubstring("AdoptOptions::packet_info"));
  Queue q = Queue::adopt(fd, {.packet_info = false}, k);
  CHECK(q.ifindex() == 0);
  CHECK(q.name() == "far0");
}

TEST_CASE("every step of adopt fails cleanly: the descriptor as it was, nothing left open") {
  struct Step {
    std::string what;
    std::function<void(FakeKernel&, int err)> arm;
    std::vector<int> errors;
  };
  using Call = FakeKernel::Call;
  const std::vector<Step> steps{
      {"fcntl F_GETFD",
       [](FakeKernel& k, int err) { k.fail_next(Call::fcntl, err); },
       {EBADF, ENOMEM}},
      {"fcntl F_GETFL",
       [](FakeKernel& k, int err) { k.fail_next(Call::fcntl, err, 1); },
       {EBADF, ENOMEM}},
      {"ioctl TUNGETIFF",
       [](FakeKernel& k, int err) { k.fail_next_ioctl(TUNGETIFF, err); },
       {EFAULT, ENOMEM}},
      {"rtnetlink RTM_GETLINK",
       [](FakeKernel& k, int err) { k.rtnetlink().fail_next(RTM_GETLINK, err); },
       {ENOBUFS, ENOMEM}},
      {"ioctl TUNGETVNETHDRSZ",
       [](FakeKernel& k, int err) { k.fail_next_ioctl(TUNGETVNETHDRSZ, err); },
       {EFAULT}},
      {"eventfd",
       [](FakeKernel& k, int err) { k.fail_next(Call::eventfd, err); },
       {EMFILE, ENFILE, ENOMEM}},
      {"fcntl F_SETFL", [](FakeKernel& k, int err) { k.fail_next(Call::fcntl, err, 2); }, {EINVAL}},
      {"fcntl F_SETFD", [](FakeKernel& k, int err) { k.fail_next(Call::fcntl, err, 3); }, {EINVAL}},
  };
  for (const Step& step : steps) {
    for (int err : step.errors) {
      for (const bool throwing : {true, false}) {
        INFO(step.what << " fails with " << err << (throwing ? ", throwing" : ", error_code"));
        FakeKernel k;
        const int fd = foreign_queue(k, "st0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
        const FdState before = state_of(k, fd);
        const std::size_t open_before = k.open_fd_count();
        step.arm(k, err);
        std::error_code ec;
        if (throwing) {
          const auto e = test::thrown_by([&] { (void)Queue::adopt(fd, {}, k); });
          ec = e.code();
          CHECK_THAT(e.what(), ContainsSubstring(fmt::format("adopt descriptor {}", fd)));
        } else {
          CHECK_FALSE(Queue::adopt(fd, ec, {}, k).is_open());
        }
        CHECK(ec.value() == err);
        k.clear_failures();
        CHECK(state_of(k, fd) == before);
        CHECK(k.open_fd_count() == open_before);
        CHECK(k.device("st0")->queues == 1);
        // And it adopts once the fault is gone.
        CHECK(Queue::adopt(fd, {}, k).is_open());
      }
    }
  }
  // EINTR is retried at every step.
  FakeKernel k;
  const int fd = foreign_queue(k, "st1", IFF_TUN | IFF_NO_PI);
  k.fail_next(Call::fcntl, EINTR);
  k.fail_next_ioctl(TUNGETIFF, EINTR);
  k.fail_next(Call::eventfd, EINTR);
  CHECK(Queue::adopt(fd, {}, k).is_open());
}
