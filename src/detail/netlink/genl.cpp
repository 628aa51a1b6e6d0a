#include "detail/netlink/genl.hpp"

#include <linux/genetlink.h>

#include <cstring>

#include "detail/netlink/parse.hpp"
#include "tunkit/error.hpp"

namespace tunkit::detail::netlink {

Request genl_request(std::uint16_t family, std::uint8_t cmd, std::uint8_t version) noexcept {
  Request r(family, 0);
  genlmsghdr g{};
  g.cmd = cmd;
  g.version = version;
  r.put_header(g);
  return r;
}

std::error_code resolve_family(Socket& socket, std::string_view name, std::uint16_t& id) noexcept {
  Request r = genl_request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
  r.put_string(CTRL_ATTR_FAMILY_NAME, name);
  bool found = false;
  const std::error_code ec = socket.transact(r, [&](const nlmsghdr& h) -> std::error_code {
    genlmsghdr g{};
    AttributeTable<CTRL_ATTR_FAMILY_NAME + 1> table{};
    if (const std::error_code pe = parse_message(h, g, table)) return pe;
    const nlattr* a = table[CTRL_ATTR_FAMILY_ID];
    if (a == nullptr || payload(*a).size() != sizeof id) return errc::netlink_protocol;
    std::memcpy(&id, payload(*a).data(), sizeof id);
    found = true;
    return {};
  });
  if (ec) return ec;
  if (!found) return errc::netlink_protocol;
  return {};
}

}  // namespace tunkit::detail::netlink
