#include "tunkit/error.hpp"

#include <cerrno>
#include <string>
#include <string_view>

#include "catch.hpp"
#include "tunkit/device.hpp"

TEST_CASE("tunkit::errc codes live in the tunkit category and read as plain words", "[error]") {
  const auto [code, words] = GENERATE(table<tunkit::errc, std::string>({
      {tunkit::errc::name_too_long, "interface name too long (at most 15 bytes)"},
      {tunkit::errc::invalid_name, "invalid interface name"},
      {tunkit::errc::not_open, "device not open"},
      {tunkit::errc::packet_truncated, "packet truncated (buffer smaller than the packet)"},
      {tunkit::errc::interrupted, "interrupted by interrupt()"},
      {tunkit::errc::too_many_buffers, "too many scatter/gather buffers"},
      {tunkit::errc::feature_unsupported, "not supported by the running kernel"},
      {tunkit::errc::invalid_address, "invalid IP address or prefix"},
      {tunkit::errc::netlink_protocol, "unexpected netlink answer from the kernel"},
      {tunkit::errc::link_not_found, "no such network interface"},
      {tunkit::errc::empty_packet, "empty packet"},
      {tunkit::errc::invalid_vnet_header, "invalid virtio-net header"},
      {tunkit::errc::malformed_packet, "malformed packet"},
      {tunkit::errc::gso_unsupported, "GSO type not supported by tunkit"},
      {tunkit::errc::output_too_small, "output buffers too few or too small"},
      {tunkit::errc::batch_too_large, "batch larger than the capacity chosen at construction"},
      {tunkit::errc::out_of_range, "out of range"},
      {tunkit::errc::unknown_feature, "no such device feature"},
      {tunkit::errc::feature_fixed, "feature fixed by the driver"},
      {tunkit::errc::invalid_filter, "invalid filter expression"},
      {tunkit::errc::malformed_capture, "malformed capture file"},
      {tunkit::errc::invalid_program, "invalid BPF program"},
  }));
  const std::error_code ec = code;  // implicit: errc is an error_code enum
  CHECK(ec.category() == tunkit::error_category());
  CHECK(std::string(ec.category().name()) == "tunkit");
  CHECK(ec.message() == words);
  CHECK(ec);
}

TEST_CASE("errc::out_of_range compares equal to std::errc::invalid_argument", "[error]") {
  const std::error_code ec = tunkit::errc::out_of_range;
  CHECK(ec == std::errc::invalid_argument);
  CHECK(ec != std::errc::result_out_of_range);
  CHECK(ec != std::error_code(EINVAL, std::system_category()));  // a code is not a condition
  CHECK(std::error_code(tunkit::errc::invalid_program) == std::errc::invalid_argument);
  const std::error_code other = tunkit::errc::invalid_address;
  CHECK(other != std::errc::invalid_argument);
}

TEST_CASE("tunkit::Error is a system_error whose what() is exactly the message", "[error]") {
  const tunkit::Error e(std::error_code(EBUSY, std::system_category()), "tunkit: x \"y\": z");
  const std::system_error& base = e;
  CHECK(std::string(base.what()) == "tunkit: x \"y\": z");
  CHECK(base.code().value() == EBUSY);
  CHECK(base.code().category() == std::system_category());
}

TEST_CASE("error messages name operation, device, cause and hint", "[error]") {
  const auto message = [](std::error_code ec, std::string_view op, std::string_view device,
                          std::string_view hint = {}) {
    return std::string(tunkit::make_error(ec, op, device, hint).what());
  };
  const std::error_code busy(EBUSY, std::system_category());
  CHECK(message(busy, "TUNSETIFF", "tun0", "why") ==
        "tunkit: TUNSETIFF \"tun0\": device busy (why)");
  CHECK(message(busy, "TUNSETIFF", "tun0") == "tunkit: TUNSETIFF \"tun0\": device busy");
  CHECK(message(busy, "TUNGETFEATURES", "") == "tunkit: TUNGETFEATURES: device busy");
  CHECK(message(tunkit::errc::invalid_name, "open", "a/b") ==
        "tunkit: open \"a/b\": invalid interface name");
  // An errno without a tailored text still reads as words, never as a bare number.
  CHECK(message(std::error_code(ETIMEDOUT, std::system_category()), "op", "") ==
        "tunkit: op: connection timed out");
  CHECK(tunkit::make_error(busy, "op").code() == busy);
}
