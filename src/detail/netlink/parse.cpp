#include "detail/netlink/parse.hpp"

#include <libmnl/libmnl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "detail/netlink/message.hpp"

namespace tunkit::detail::netlink {

// --- The datagram walk -----------------------------------------------------------------------

namespace {

// Whether a whole message starts at `h` with `left` bytes to the end of the datagram.
// mnl_nlmsg_ok() compares `(int)nlmsg_len`, so a length of 2^31 or more passes it and the walk
// then runs far beyond the datagram (found by fuzz/netlink_fuzz.cpp): compare unsigned.
bool message_ok(const nlmsghdr* h, int left) noexcept {
  return left >= static_cast<int>(sizeof(nlmsghdr)) && h->nlmsg_len >= sizeof(nlmsghdr) &&
         h->nlmsg_len <= static_cast<unsigned>(left);
}

}  // namespace

MessageWalk::MessageWalk(const std::byte* data, std::size_t size) noexcept
    : at_(reinterpret_cast<const nlmsghdr*>(data)),  // NOLINT: aligned, see the class comment
      left_(static_cast<int>(size)) {}

const nlmsghdr* MessageWalk::next() noexcept {
  if (!message_ok(at_, left_)) return nullptr;
  const nlmsghdr* current = at_;
  at_ = mnl_nlmsg_next(at_, &left_);
  return current;
}

// --- Messages and attributes -----------------------------------------------------------------

std::error_code parse_message(const nlmsghdr& message, void* header, std::size_t header_size,
                              std::span<const nlattr*> table) noexcept {
  std::fill(table.begin(), table.end(), nullptr);
  if (message.nlmsg_len < kHeaderLen || mnl_nlmsg_get_payload_len(&message) < header_size) {
    return protocol_error();
  }
  std::memcpy(header, mnl_nlmsg_get_payload(&message), header_size);

  struct Context {
    std::span<const nlattr*> table;
    const char* end = nullptr;  // where the last well-formed attribute ends (aligned)
  } context{table, nullptr};
  // mnl_attr_parse stops quietly at the first attribute that overruns the message; the end
  // pointer lets us tell "no more attributes" from "a truncated attribute".
  auto on_attribute = [](const nlattr* attr, void* data) -> int {
    auto& ctx = *static_cast<Context*>(data);
    const std::uint16_t type = mnl_attr_get_type(attr);
    if (type < ctx.table.size()) ctx.table[type] = attr;
    ctx.end = reinterpret_cast<const char*>(attr) + align(mnl_attr_get_len(attr));  // NOLINT
    return MNL_CB_OK;
  };
  (void)mnl_attr_parse(&message, static_cast<unsigned>(header_size), on_attribute, &context);

  const char* first = static_cast<const char*>(
      mnl_nlmsg_get_payload_offset(&message, header_size));  // first attribute, if any
  const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(&message));
  const char* end = context.end != nullptr ? context.end : first;
  if (tail > end && tail - end >= static_cast<std::ptrdiff_t>(sizeof(nlattr))) {
    return protocol_error();  // bytes that should have been an attribute but are not one
  }
  return {};
}

std::error_code for_each_nested(const nlattr& nest,
                                FunctionRef<std::error_code(const nlattr&)> each) noexcept {
  if (nest.nla_len < kAttrHeaderLen) return protocol_error();  // no payload to walk
  const auto bytes = payload(nest);
  // Walked by hand rather than with mnl_attr_parse_nested, which stops quietly at the first
  // attribute that overruns the nest: here that is a protocol error.
  std::size_t at = 0;
  // `at` can pass the end by up to 3 bytes (the last attribute's padding, which a nest's length
  // may leave out), so compare without subtracting (found by the netlink fuzz target).
  while (at + kAttrHeaderLen <= bytes.size()) {
    nlattr header{};
    std::memcpy(&header, bytes.data() + at, sizeof header);
    if (header.nla_len < kAttrHeaderLen || header.nla_len > bytes.size() - at) {
      return protocol_error();
    }
    // The nest's payload is 4-byte aligned inside the message, so each attribute in it is too.
    if (const std::error_code ec =
            each(*reinterpret_cast<const nlattr*>(bytes.data() + at))) {  // NOLINT: aligned
      return ec;
    }
    at += align(header.nla_len);
  }
  return {};
}

std::error_code parse_nested(const nlattr& nest, std::span<const nlattr*> table) noexcept {
  std::fill(table.begin(), table.end(), nullptr);
  return for_each_nested(nest, [&](const nlattr& a) -> std::error_code {
    const auto type = static_cast<std::uint16_t>(a.nla_type & NLA_TYPE_MASK);
    if (type < table.size()) table[type] = &a;
    return {};
  });
}

std::span<const std::uint8_t> payload(const nlattr& attribute) noexcept {
  // mnl_attr_get_payload_len computes nla_len - 4 in 16 bits: a length below the header would
  // wrap to almost 64 KiB (found by the netlink fuzz target).
  if (attribute.nla_len < kAttrHeaderLen) return {};
  return {static_cast<const std::uint8_t*>(mnl_attr_get_payload(&attribute)),
          mnl_attr_get_payload_len(&attribute)};
}

std::optional<std::uint32_t> get_u32(const nlattr& attribute) noexcept {
  if (mnl_attr_get_payload_len(&attribute) != sizeof(std::uint32_t)) return std::nullopt;
  return mnl_attr_get_u32(&attribute);
}

std::string_view get_string(const nlattr& attribute) noexcept {
  const auto bytes = payload(attribute);
  const auto* text = reinterpret_cast<const char*>(bytes.data());  // NOLINT: char view of bytes
  return {text, strnlen(text, bytes.size())};
}

std::optional<IpAddress> get_address(std::uint8_t family, const nlattr& attribute) noexcept {
  const auto bytes = payload(attribute);
  if (family == AF_INET && bytes.size() == 4) {
    std::array<std::uint8_t, 4> b{};
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return IpAddress::v4(b);
  }
  if (family == AF_INET6 && bytes.size() == 16) {
    std::array<std::uint8_t, 16> b{};
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return IpAddress::v6(b);
  }
  return std::nullopt;
}

}  // namespace tunkit::detail::netlink
