#include "detail/errors.hpp"

#include <fmt/format.h>
#include <net/if.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace tunkit::detail {

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
        return "no such file or device";
      case ENODEV:
        return "no such device";
      case ENXIO:
        return "no such device or address";
      case EBADF:
        return "bad file descriptor";
      case EBADFD:
        return "device removed or not attached";
      case EAGAIN:
        return "would block (no packet ready)";
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

std::string message(std::error_code ec, std::string_view op, std::string_view device,
                    std::string_view hint) {
  std::string out = device.empty() ? fmt::format("tunkit: {}: {}", op, cause(ec))
                                   : fmt::format("tunkit: {} \"{}\": {}", op, device, cause(ec));
  if (!hint.empty()) fmt::format_to(std::back_inserter(out), " ({})", hint);
  return out;
}

// Interface names follow the kernel's dev_valid_name() and dev_alloc_name() rules, checked here
// so that a bad name never reaches the kernel and the user gets a precise reason.
std::error_code validate_interface_name(std::string_view name) noexcept {
  if (name.size() > IFNAMSIZ - 1) return errc::name_too_long;
  if (name == "." || name == "..") return errc::invalid_name;
  bool seen_percent = false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r')) return errc::invalid_name;
    if (c == '%') {
      // dev_alloc_name accepts exactly one "%d".
      if (seen_percent || i + 1 >= name.size() || name[i + 1] != 'd') return errc::invalid_name;
      seen_percent = true;
    }
  }
  return {};
}

std::string_view interface_name_hint(std::error_code ec) noexcept {
  if (ec == errc::invalid_name) {
    return "no '/', ':' or whitespace, not \".\" or \"..\", at most one \"%d\"";
  }
  return {};
}

void throw_error(std::error_code ec, std::string_view op, std::string_view device,
                 std::string_view hint) {
  throw Error(ec, message(ec, op, device, hint));
}

}  // namespace tunkit::detail
