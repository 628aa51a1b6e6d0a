#include "detail/ifname.hpp"

#include <net/if.h>

#include "tunkit/error.hpp"

namespace tunkit::detail {

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

}  // namespace tunkit::detail
