// Leak checks against the real kernel: every failure path the kernel itself produces leaves the
// process with the descriptors it had and the namespace with the TUN/TAP devices it had.
//
// TUN devices are counted with rtnetlink (`tunkit::list_tun_devices`, IFLA_INFO_KIND "tun"),
// which sees the sandbox's namespace; /sys/class/net/*/tun_flags would show the namespace sysfs
// was mounted from (the host's), not the sandbox.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "tunkit/tunkit.hpp"

namespace {

using tunkit::Mode;
using tunkit::Options;
using tunkit::TunDevice;

using netns_test::open_fd_count;

std::size_t tun_device_count() {
  return tunkit::list_tun_devices().size();
}

struct FailurePath {
  std::string name;
  std::function<std::error_code()> run;  // the failing call (error_code form)
  std::function<void()> run_throwing;    // the same call, throwing form
};

std::vector<std::byte> not_ip() {
  return std::vector<std::byte>(20, std::byte{0x11});
}

}  // namespace

TEST_CASE("failure paths leak no descriptor and no device", "[netns][leak]") {
  tunkit::testing::NetNsSandbox sandbox;
  // What the failures are provoked against: a busy single-queue TUN, a multi-queue TAP with one
  // disabled queue, and a Link on the TUN.
  TunDevice busy({.name = "tkl0"});
  TunDevice mq({.name = "tkl1", .mode = Mode::tap, .queues = 2});
  mq.queue(1).disable();
  tunkit::Link link(busy.ifindex());

  const std::vector<FailurePath> paths{
      {"open a busy device (EBUSY)",
       [] {
         std::error_code ec;
         TunDevice d;
         d.open({.name = "tkl0"}, ec);
         return ec;
       },
       [] { TunDevice d({.name = "tkl0"}); }},
      {"exclusive open of an existing device (EBUSY)",
       [] {
         std::error_code ec;
         TunDevice d;
         d.open({.name = "tkl1", .mode = Mode::tap, .exclusive = true}, ec);
         return ec;
       },
       [] { TunDevice d({.name = "tkl1", .mode = Mode::tap, .exclusive = true}); }},
      {"TAP options on a TUN (EINVAL)",
       [] {
         std::error_code ec;
         TunDevice d;
         d.open({.name = "tkl0", .mode = Mode::tap}, ec);
         return ec;
       },
       [] { TunDevice d({.name = "tkl0", .mode = Mode::tap}); }},
      {"single-queue attach to a multi-queue device (EINVAL)",
       [] {
         std::error_code ec;
         TunDevice d;
         d.open({.name = "tkl1", .mode = Mode::tap}, ec);
         return ec;
       },
       [] { TunDevice d({.name = "tkl1", .mode = Mode::tap}); }},
      {"a name of an existing non-TUN device (lo)",
       [] {
         std::error_code ec;
         TunDevice d;
         d.open({.name = "lo"}, ec);
         return ec;
       },
       [] { TunDevice d({.name = "lo"}); }},
      {"four queues of a new device, the name taken by a TUN (EINVAL on the first)",
       [] {
         std::error_code ec;
         TunDevice d;
         d.open({.name = "tkl0", .queues = 4}, ec);
         return ec;
       },
       [] { TunDevice d({.name = "tkl0", .queues = 4}); }},
      {"disable a disabled queue (EINVAL)",
       [&] {
         std::error_code ec;
         mq.queue(1).disable(ec);
         return ec;
       },
       [&] { mq.queue(1).disable(); }},
      {"add_queue to a single-queue device (EINVAL)",
       [&] {
         std::error_code ec;
         (void)busy.add_queue(ec);
         return ec;
       },
       [&] { (void)busy.add_queue(); }},
      {"write of bytes that are not IP (EINVAL)",
       [&] {
         std::error_code ec;
         (void)busy.write(not_ip(), ec);
         return ec;
       },
       [&] { (void)busy.write(not_ip()); }},
      {"TUNSETTXFILTER on a TUN (EINVAL)",
       [&] {
         std::error_code ec;
         busy.clear_tx_filter(ec);
         return ec;
       },
       [&] { busy.clear_tx_filter(); }},
      {"MTU below the minimum (EINVAL)",
       [&] {
         std::error_code ec;
         link.set_mtu(10, ec);
         return ec;
       },
       [&] { link.set_mtu(10); }},
      {"remove an address that is not there (EADDRNOTAVAIL)",
       [&] {
         std::error_code ec;
         link.remove_address(tunkit::IpPrefix::parse("10.57.0.1/24"), ec);
         return ec;
       },
       [&] { link.remove_address(tunkit::IpPrefix::parse("10.57.0.1/24")); }},
      {"a Link on an index that does not exist",
       [] {
         try {
           tunkit::Link l(99999);
         } catch (const tunkit::Error& e) {
           return e.code();
         }
         return std::error_code{};
       },
       [] { tunkit::Link l(99999); }},
  };

  for (const auto& path : paths) {
    CAPTURE(path.name);
    const std::size_t fds = open_fd_count();
    const std::size_t devices = tun_device_count();
    CHECK(path.run());
    CHECK_THROWS_AS(path.run_throwing(), tunkit::Error);
    CHECK(open_fd_count() == fds);
    CHECK(tun_device_count() == devices);
  }
  CHECK(tun_device_count() == 2);
}
