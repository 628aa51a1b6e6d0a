// The table of virtio-net header rules (tests/support/vnet_rules.hpp) against the real tun
// driver: a raw write(2) of each header and packet is refused with EINVAL exactly where the
// table says, and tunkit's write refuses the same ones before the system call
// (errc::invalid_vnet_header, not the kernel's EINVAL) and lets the others through.
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "catch.hpp"
#include "netns_helpers.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/link.hpp"
#include "tunkit/testing/netns_sandbox.hpp"
#include "vnet_rules.hpp"

TEST_CASE("the tun driver refuses exactly the virtio-net headers of the rule table",
          "[netns][vnet]") {
  tunkit::testing::NetNsSandbox sandbox;
  tunkit::TunDevice tun({.name = "vrtun", .vnet_hdr = true});
  tunkit::TunDevice tap({.name = "vrtap", .mode = tunkit::Mode::tap, .vnet_hdr = true});
  tunkit::Link(tun.ifindex()).set_up();
  tunkit::Link(tap.ifindex()).set_up();
  for (const auto& rule : vnet_rules::rules()) {
    INFO(rule.what);
    tunkit::TunDevice& dev = rule.mode == tunkit::Mode::tun ? tun : tap;
    const auto bytes = vnet_rules::write_of(rule);
    errno = 0;
    const ssize_t raw = ::write(dev.native_handle(), bytes.data(), bytes.size());
    const int raw_errno = errno;
    if (rule.refused) {
      CHECK(raw == -1);
      CHECK(raw_errno == EINVAL);
    } else {
      CHECK(raw == static_cast<ssize_t>(bytes.size()));
    }
    std::error_code ec;
    const std::size_t n = dev.write(bytes, ec);
    if (rule.refused) {
      CHECK(ec == tunkit::errc::invalid_vnet_header);  // tunkit's own, before the kernel's EINVAL
      CHECK(n == 0);
    } else {
      CHECK_FALSE(ec);
      CHECK(n == bytes.size());
    }
  }
}
