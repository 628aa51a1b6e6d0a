#include "detail/ifname.hpp"

#include <net/if.h>

#include "tunkit/error.hpp"

namespace tunkit::detail {
namespace {

// The kernel's isspace() (lib/ctype.c): ASCII white space and the Latin-1 no-break space 0xA0,
// which the C library's isspace() in the "C" locale does not count.
bool is_kernel_space(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return u == ' ' || (u >= '\t' && u <= '\r') || u == 0xA0;
}

}  // namespace

// Interface names follow the kernel's dev_valid_name() and dev_alloc_name() rules, checked here
// so that a bad name never reaches the kernel and the user gets a precise reason.
std::error_code validate_interface_name(std::string_view name) noexcept {
  if (name.size() > IFNAMSIZ - 1) return errc::name_too_long;
  if (name == "." || name == "..") return errc::invalid_name;
  bool seen_percent = false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (c == '/' || c == ':' || is_kernel_space(c)) return errc::invalid_name;
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

}  // namespace tunkit::detail
