#include "tunkit/error.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "detail/failure.hpp"

namespace tunkit {
namespace {

class Category final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "tunkit"; }
  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::name_too_long:
        return "interface name too long (at most 15 bytes)";
      case errc::invalid_name:
        return "invalid interface name";
      case errc::not_open:
        return "device not open";
      case errc::packet_truncated:
        return "packet truncated (buffer smaller than the packet)";
      case errc::interrupted:
        return "interrupted by interrupt()";
      case errc::too_many_buffers:
        return "too many scatter/gather buffers";
      case errc::feature_unsupported:
        return "not supported by the running kernel";
      case errc::invalid_address:
        return "invalid IP address or prefix";
      case errc::netlink_protocol:
        return "unexpected netlink answer from the kernel";
      case errc::link_not_found:
        return "no such network interface";
      case errc::empty_packet:
        return "empty packet";
      case errc::invalid_vnet_header:
        return "invalid virtio-net header";
      case errc::malformed_packet:
        return "malformed packet";
      case errc::gso_unsupported:
        return "GSO type not supported by tunkit";
      case errc::output_too_small:
        return "output buffers too few or too small";
      case errc::batch_too_large:
        return "batch larger than the capacity chosen at construction";
      case errc::out_of_range:
        return "out of range";
      case errc::invalid_netns_name:
        return "invalid network namespace name";
      case errc::not_a_queue:
        return "not a TUN/TAP queue";
      case errc::handover_protocol:
        return "not a tunkit hand-over message";
      case errc::unknown_feature:
        return "no such device feature";
      case errc::feature_fixed:
        return "feature fixed by the driver";
      case errc::invalid_filter:
        return "invalid filter expression";
      case errc::malformed_capture:
        return "malformed capture file";
      case errc::invalid_program:
        return "invalid BPF program";
    }
    return "unknown tunkit error";
  }
  // A value tunkit refuses before asking the kernel is one the kernel would refuse with EINVAL:
  // code written against the kernel's answer (`ec == std::errc::invalid_argument`) keeps working.
  [[nodiscard]] std::error_condition default_error_condition(int value) const noexcept override {
    if (static_cast<errc>(value) == errc::out_of_range ||
        static_cast<errc>(value) == errc::unknown_feature ||
        static_cast<errc>(value) == errc::invalid_program) {
      return std::errc::invalid_argument;
    }
    return {value, *this};
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

Error::Error(std::error_code code, std::string message)
    : std::system_error(code), message_(std::move(message)) {}

const char* Error::what() const noexcept {
  return message_.c_str();
}

Error make_error(std::error_code code, std::string_view op, std::string_view device,
                 std::string_view hint) {
  std::string out = device.empty()
                        ? fmt::format("tunkit: {}: {}", op, detail::cause(code))
                        : fmt::format("tunkit: {} \"{}\": {}", op, device, detail::cause(code));
  if (!hint.empty()) fmt::format_to(std::back_inserter(out), " ({})", hint);
  return {code, std::move(out)};
}

namespace detail {

std::string cause(std::error_code ec) {
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    switch (ec.value()) {
      case EPERM:
        return "operation not permitted";
      case EACCES:
        return "permission denied";
      case EBUSY:
        return "device busy";
      case EINVAL:
        return "invalid argument";
      case EEXIST:
        return "already exists";
      case ENOENT:
        return "no such file or directory";
      case ENODEV:
        return "no such device";
      case ENXIO:
        return "no such device or address";
      case EBADF:
        return "bad file descriptor";
      case EBADFD:
        return "device removed or not attached";
      case EAGAIN:
        return "would block";
      case EMFILE:
        return "too many open files in this process";
      case ENFILE:
        return "too many open files in the system";
      case ENOMEM:
        return "out of memory";
      case ENOBUFS:
        return "no buffer space available";
      case EFAULT:
        return "bad address";
      case EIO:
        return "input/output error";
      case E2BIG:
        return "too many queues";
      case ERANGE:
        return "out of range";
      case EADDRNOTAVAIL:
        return "address not assigned";
      case EOPNOTSUPP:
        return "operation not supported";
      case EMSGSIZE:
        return "message too long";
      case ENOTTY:
        return "not supported by this device (no such ioctl)";
      case EPROTONOSUPPORT:
        return "protocol not supported";
      case EAFNOSUPPORT:
        return "address family not supported";
      default: {
        std::string s = std::strerror(ec.value());  // NOLINT(concurrency-mt-unsafe)
        if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
        return s;
      }
    }
  }
  return ec.message();
}

}  // namespace detail

}  // namespace tunkit
