// The fake kernel's TAP filters (src/testing/fake_kernel/filters.cpp): the TX filter, classic BPF
// and eBPF programs, as the real driver records and applies them (Linux 6.18).
#include "tunkit/testing/fake_kernel.hpp"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "catch.hpp"
#include "fake_kernel_test.hpp"

using namespace fake_test;  // NOLINT(google-build-using-namespace): the helpers of these tests

TEST_CASE("TUNSETTXFILTER: TAP only, recorded and applied as the driver does", "[fake][txfilter]") {
  FakeKernel k;
  const int tun = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  CHECK(set_tx_filter(k, tun, {mac(0x02, 1)}) == -EINVAL);
  const int tap = attach(k, "e0", IFF_TAP | IFF_NO_PI);
  CHECK(k.ioctl(tap, TUNSETTXFILTER, nullptr) == -EFAULT);
  std::vector<tunkit::MacAddress> unicast;
  for (std::uint8_t i = 1; i <= 9; ++i)
    unicast.push_back(mac(0x02, i));

  SECTION("exact addresses: the count is returned; other unicast is dropped") {
    CHECK(set_tx_filter(k, tap, {unicast[0], unicast[1], unicast[2]}) == 3);
    const auto f = k.device("e0")->tx_filter;
    CHECK(f.addresses == std::vector<tunkit::MacAddress>{unicast[0], unicast[1], unicast[2]});
    CHECK_FALSE(f.all_multicast);
    CHECK(f.active);
    CHECK(k.inject("e0", fake_frame_to(unicast[1])) == tap);
    CHECK(k.inject("e0", fake_frame_to(unicast[5])) == -1);
    CHECK(k.inject("e0", fake_frame_to(tunkit::MacAddress::broadcast())) == -1);
    CHECK(k.inject("e0", fake_frame(5, 0)) == -1);  // no whole destination address
  }
  SECTION("a unicast address past the eighth turns filtering off (returns 0)") {
    CHECK(set_tx_filter(k, tap, unicast) == 0);
    CHECK(k.device("e0")->tx_filter.addresses.size() == 9);
    CHECK_FALSE(k.device("e0")->tx_filter.active);
    CHECK(k.inject("e0", fake_frame_to(mac(0x02, 0x77))) == tap);
  }
  SECTION("multicast past the eighth is hashed") {
    auto macs = std::vector<tunkit::MacAddress>(unicast.begin(), unicast.begin() + 8);
    macs.push_back(mac(0x01, 0x01));
    CHECK(set_tx_filter(k, tap, macs) == 8);
    CHECK(k.device("e0")->tx_filter.active);
    CHECK(k.inject("e0", fake_frame_to(mac(0x01, 0x01))) == tap);
    CHECK(k.inject("e0", fake_frame_to(mac(0x01, 0x02))) == -1);  // another hash bit
    CHECK(k.inject("e0", fake_frame_to(mac(0x02, 0x77))) == -1);
  }
  SECTION("all-multicast passes every group address") {
    CHECK(set_tx_filter(k, tap, {unicast[0]}, true) == 1);
    CHECK(k.device("e0")->tx_filter.all_multicast);
    CHECK(k.inject("e0", fake_frame_to(mac(0x01, 0x02))) == tap);
    CHECK(k.inject("e0", fake_frame_to(tunkit::MacAddress::broadcast())) == tap);
    CHECK(k.inject("e0", fake_frame_to(unicast[4])) == -1);
  }
  SECTION("no address: filtering off, whatever the flag") {
    CHECK(set_tx_filter(k, tap, {unicast[0]}) == 1);
    CHECK(set_tx_filter(k, tap, {}, true) == 0);
    CHECK_FALSE(k.device("e0")->tx_filter.active);
    CHECK(k.inject("e0", fake_frame_to(unicast[4])) == tap);
  }
}

TEST_CASE("classic BPF filters: TAP only, recorded, length kept", "[fake][bpf]") {
  FakeKernel k;
  const int tun = attach(k, "t0", IFF_TUN | IFF_NO_PI);
  CHECK(attach_bpf(k, tun, kAcceptAll) == -EINVAL);
  CHECK(k.ioctl(tun, TUNDETACHFILTER, nullptr) == -EINVAL);
  int r = 0;
  (void)get_filter_len(k, tun, &r);
  CHECK(r == -EINVAL);

  const int tap = attach(k, "e0", IFF_TAP);  // with packet information: TUNGETIFF shows NOFILTER
  CHECK(get_filter_len(k, tap, &r) == 0);
  CHECK(r == 0);
  CHECK(k.ioctl(tap, TUNDETACHFILTER, nullptr) == 0);  // nothing attached: still 0 (measured)
  CHECK((get_flags(k, tap) & kNoFilter) != 0);
  CHECK(attach_bpf(k, tap, {}) == -EINVAL);
  const std::vector<sock_filter> no_ret = {{0x28, 0, 0, 12}, {0x28, 0, 0, 12}};
  CHECK(attach_bpf(k, tap, no_ret) == -EINVAL);
  CHECK(get_filter_len(k, tap) == 2);  // refused, yet reported (measured)
  CHECK_FALSE(k.device("e0")->filter_attached);
  const std::vector<sock_filter> program = {
      {0x28, 0, 0, 12}, {0x15, 0, 1, 0x0800}, {0x06, 0, 0, 0xFFFF}, {0x06, 0, 0, 0}};
  CHECK(attach_bpf(k, tap, program) == 0);
  const auto d = k.device("e0");
  CHECK(d->filter_attached);
  REQUIRE(d->filter_program.size() == 4);
  CHECK(d->filter_program[1] == tunkit::BpfInstruction{0x15, 0, 1, 0x0800});
  CHECK(d->queue_states[0].socket_filter);
  CHECK((get_flags(k, tap) & kNoFilter) == 0);
  CHECK(get_filter_len(k, tap) == 4);
  CHECK(k.ioctl(tap, TUNDETACHFILTER, nullptr) == 0);
  CHECK_FALSE(k.device("e0")->filter_attached);
  CHECK((get_flags(k, tap) & kNoFilter) != 0);
  CHECK(get_filter_len(k, tap) == 4);  // the last program's length stays (measured)

  SECTION("no queue enabled: any program is stored as attached, unchecked") {
    k.add_persistent_device("p0", Mode::tap, Flag::multi_queue);
    const int p = attach(k, "p0", IFF_TAP | IFF_MULTI_QUEUE | IFF_NO_PI);
    REQUIRE(set_queue(k, p, IFF_DETACH_QUEUE) == 0);
    CHECK(attach_bpf(k, p, no_ret) == 0);
    CHECK(k.device("p0")->filter_attached);
  }
}

TEST_CASE("the 6.18 driver leaves a queue detached while a classic filter is attached",
          "[fake][bpf][queue]") {
  FakeKernel k;
  constexpr unsigned kTapMq = IFF_TAP | IFF_MULTI_QUEUE;  // packet information: no IFF_NOFILTER
  const int first = attach(k, "e0", kTapMq);
  const int second = attach(k, "e0", kTapMq);
  REQUIRE(attach_bpf(k, first, kAcceptAll) == 0);

  SECTION("TUNSETIFF says 0 but the descriptor is not attached") {
    const int late = open_tun(k, O_NONBLOCK);
    CHECK(set_iff(k, late, "e0", kTapMq) == 0);
    ifreq ifr{};
    CHECK(k.ioctl(late, TUNGETIFF, &ifr) == -EBADFD);
    std::vector<std::byte> buf(100);
    CHECK(read_into(k, late, buf) == -EBADFD);
    CHECK(k.device("e0")->queues == 2);
    // With IFF_NO_PI (read as IFF_NOFILTER) the filter is skipped and the queue attaches.
    const int nofilter = open_tun(k, O_NONBLOCK);
    CHECK(set_iff(k, nofilter, "e0", kTapMq | IFF_NO_PI) == 0);
    CHECK(k.device("e0")->queues == 3);
  }
  SECTION("IFF_ATTACH_QUEUE says 0 but the queue stays disabled, until the filter goes") {
    REQUIRE(set_queue(k, second, IFF_DETACH_QUEUE) == 0);
    CHECK(set_queue(k, second, IFF_ATTACH_QUEUE) == 0);
    CHECK((get_flags(k, second) & IFF_DETACH_QUEUE) != 0);
    CHECK(k.device("e0")->disabled_queues == 1);
    CHECK(set_queue(k, second, IFF_ATTACH_QUEUE) == 0);  // again 0, still disabled
    CHECK(set_queue(k, second, IFF_DETACH_QUEUE) == -EINVAL);
    REQUIRE(k.ioctl(first, TUNDETACHFILTER, nullptr) == 0);
    CHECK(set_queue(k, second, IFF_ATTACH_QUEUE) == 0);
    CHECK(k.device("e0")->disabled_queues == 0);
  }
}

TEST_CASE("TUNSETSTEERINGEBPF and TUNSETFILTEREBPF take a socket-filter program or -1",
          "[fake][ebpf]") {
  FakeKernel k;
  const int fd = attach(k, "mq0", kMq);
  const auto request = GENERATE(TUNSETSTEERINGEBPF, TUNSETFILTEREBPF);
  auto recorded = [&] {
    const auto d = k.device("mq0");
    return request == TUNSETSTEERINGEBPF ? d->steering_ebpf : d->filter_ebpf;
  };
  CHECK(recorded() == -1);
  CHECK(ioctl_int(k, fd, request, -1) == 0);
  const int prog = k.add_ebpf_program();
  CHECK(k.fcntl(prog, F_GETFD, 0) == FD_CLOEXEC);
  CHECK(ioctl_int(k, fd, request, prog) == 0);
  CHECK(recorded() == prog);
  const int other_type = k.add_ebpf_program(false);
  CHECK(ioctl_int(k, fd, request, other_type) == -EINVAL);
  CHECK(ioctl_int(k, fd, request, k.eventfd(0, 0)) == -EINVAL);  // measured
  CHECK(ioctl_int(k, fd, request, 999) == -EBADF);               // measured
  CHECK(ioctl_int(k, fd, request, -2) == -EBADF);
  CHECK(k.ioctl(fd, request, nullptr) == -EFAULT);
  CHECK(recorded() == prog);
  CHECK(k.close(prog) == 0);  // the kernel holds the program
  CHECK(recorded() == prog);
  CHECK(ioctl_int(k, fd, request, -1) == 0);
  CHECK(recorded() == -1);
  std::vector<std::byte> buf(8);
  CHECK(read_into(k, other_type, buf) == -EINVAL);
}
