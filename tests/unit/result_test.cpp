#include "tunkit/result.hpp"

#include <span>
#include <string>
#include <vector>

#include "catch.hpp"
#include "packet_samples.hpp"
#include "tunkit/offload.hpp"
#include "tunkit/packet.hpp"

namespace {

using tunkit_test::hex;
using Bytes = std::vector<std::byte>;

}  // namespace

TEST_CASE("Result: value() throws the reason, operator* and error() do not", "[packet]") {
  const Bytes b = hex(tunkit_test::kUdp4);
  const auto bad = tunkit::Ipv4View::parse(std::span(b).first(10));
  REQUIRE_FALSE(bad);
  CHECK_FALSE(bad.has_value());
  try {
    (void)bad.value();
    FAIL("value() did not throw");
  } catch (const tunkit::Error& e) {
    CHECK(e.code() == tunkit::errc::malformed_packet);
    CHECK(std::string(e.what()) ==
          "tunkit: Result::value: malformed packet (IPv4: truncated (10 bytes, header needs 20))");
  }
  const auto good = tunkit::Ipv4View::parse(b);
  CHECK(good.value().ttl() == 64);
  CHECK(good->ttl() == 64);
}

TEST_CASE("Result: value() throws tunkit::Error for builder and offload errors too", "[packet]") {
  const auto what = [](const auto& result) -> std::string {
    try {
      (void)result.value();
    } catch (const tunkit::Error& e) {
      CHECK(e.code() == make_error_code(result.error()));
      return e.what();
    }
    return "no exception";
  };
  const tunkit::BuildResult small = tunkit::BuildError{tunkit::BuildReason::buffer_too_small, 84};
  CHECK(what(small) ==
        "tunkit: Result::value: output buffers too few or too small (output buffer too small "
        "(need 84 bytes))");
  const tunkit::BuildResult not_echo = tunkit::BuildError{tunkit::BuildReason::not_echo_request};
  CHECK(what(not_echo) == "tunkit: Result::value: invalid argument (not an echo request)");
  const auto header = tunkit::VirtioNetHeader::parse({}, 4);
  CHECK(what(header) ==
        "tunkit: Result::value: invalid virtio-net header (virtio-net header: size 4 below 10)");
  const tunkit::BuildResult fine = std::size_t{42};
  CHECK(fine.value() == 42);
}
