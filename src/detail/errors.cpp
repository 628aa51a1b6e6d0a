#include "detail/errors.hpp"

#include <fmt/format.h>
#include <net/if.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace tunkit::detail {

std::string message(std::error_code ec, std::string_view op, std::string_view device,
                    std::string_view hint) {
  return make_error(ec, op, device, hint).what();
}

void throw_error(std::error_code ec, std::string_view op, std::string_view device,
                 std::string_view hint) {
  throw make_error(ec, op, device, hint);
}

}  // namespace tunkit::detail
