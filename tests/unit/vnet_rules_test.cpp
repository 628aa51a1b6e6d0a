// Every rule of the virtio-net header table (tests/support/vnet_rules.hpp) against the fake
// kernel and tunkit: the fake refuses exactly what the table says the driver refuses (a raw
// write, no tunkit check in between); VirtioNetHeader::kernel_check names the reason; a write
// through tunkit is refused before any system call with errc::invalid_vnet_header and a message
// naming that reason, and what the kernel takes goes through.
#include <cerrno>
#include <span>
#include <string>
#include <system_error>

#include "catch.hpp"
#include "tunkit/device.hpp"
#include "tunkit/error.hpp"
#include "tunkit/testing/fake_kernel.hpp"
#include "tunkit/vnet.hpp"
#include "vnet_rules.hpp"

using Catch::Matchers::ContainsSubstring;

TEST_CASE("the fake kernel and tunkit refuse exactly the virtio-net headers the driver refuses",
          "[vnet][fake]") {
  for (const auto& rule : vnet_rules::rules()) {
    INFO(rule.what);
    const auto bytes = vnet_rules::write_of(rule);
    const auto frame = std::span<const std::byte>(bytes).subspan(10);

    const auto header = tunkit::VirtioNetHeader::parse(bytes);
    REQUIRE(header);
    const auto why = header->kernel_check(frame, rule.mode);
    CHECK(why.has_value() == rule.refused.has_value());
    if (why && rule.refused) CHECK(why->reason == *rule.refused);
    // check() is stricter than the kernel, never looser.
    if (rule.refused && rule.mode == tunkit::Mode::tun) CHECK(header->check(frame).has_value());

    tunkit::testing::FakeKernel k;
    tunkit::TunDevice dev({.name = "vr0", .mode = rule.mode, .vnet_hdr = true}, k);
    k.set_up("vr0", true);
    const ssize_t raw = k.write(dev.native_handle(), bytes.data(), bytes.size());
    CHECK(raw == (rule.refused ? -EINVAL : static_cast<ssize_t>(bytes.size())));
    k.clear_written();

    std::error_code ec;
    const std::size_t n = dev.write(bytes, ec);
    if (rule.refused) {
      CHECK(ec == tunkit::errc::invalid_vnet_header);
      CHECK(n == 0);
      CHECK(k.written("vr0").empty());  // refused before the kernel
      try {
        dev.write(bytes);
        FAIL("no exception");
      } catch (const std::system_error& e) {
        const tunkit::OffloadError expected{
            *rule.refused, why ? why->value : 0, why ? why->limit : 0, {}};
        CHECK_THAT(e.what(), ContainsSubstring(tunkit::to_string(expected)));
      }
    } else {
      CHECK_FALSE(ec);
      CHECK(n == bytes.size());
      CHECK(k.written("vr0").size() == 1);
    }
  }
}

TEST_CASE("a gso_size of 0 is reported with the header's own GSO type", "[vnet]") {
  for (const auto& rule : vnet_rules::rules()) {
    if (rule.refused != tunkit::OffloadReason::gso_size_zero) continue;
    INFO(rule.what);
    const auto bytes = vnet_rules::write_of(rule);
    const auto header = tunkit::VirtioNetHeader::parse(bytes);
    REQUIRE(header);
    const auto why = header->check_fields(bytes.size() - 10);
    REQUIRE(why);
    const std::string text = tunkit::to_string(*why);
    CHECK_THAT(text, ContainsSubstring(std::string(tunkit::to_string(header->gso_type))));
    CHECK_THAT(text, !ContainsSubstring("NONE"));
  }
}
