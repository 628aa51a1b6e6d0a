#include "detail/netlink/request.hpp"

#include <libmnl/libmnl.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "detail/netlink/message.hpp"

namespace tunkit::detail::netlink {

// The netlink header sits at the start of the suitably aligned buffer_; libmnl's API works on
// nlmsghdr pointers into such buffers.

Request::Request(std::uint16_t type, std::uint16_t flags) noexcept {
  nlmsghdr* h = mnl_nlmsg_put_header(buffer_.data());
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
}

nlmsghdr& Request::header() noexcept {
  return *reinterpret_cast<nlmsghdr*>(buffer_.data());  // NOLINT: aligned, see buffer_
}

const nlmsghdr& Request::header() const noexcept {
  return *reinterpret_cast<const nlmsghdr*>(buffer_.data());  // NOLINT: aligned, see buffer_
}

std::span<const std::byte> Request::bytes() const noexcept {
  return {buffer_.data(), std::min<std::size_t>(header().nlmsg_len, buffer_.size())};
}

void Request::put_header_bytes(const void* data, std::size_t size) noexcept {
  // mnl_nlmsg_put_extra_header does not check the room left, so check here.
  if (overflow_ || header().nlmsg_len + align(size) > buffer_.size()) {
    overflow_ = true;
    return;
  }
  void* extra = mnl_nlmsg_put_extra_header(&header(), size);
  std::memcpy(extra, data, size);
}

void Request::put_u32(std::uint16_t type, std::uint32_t value) noexcept {
  if (!overflow_) overflow_ = !mnl_attr_put_u32_check(&header(), buffer_.size(), type, value);
}

void Request::put_string(std::uint16_t type, std::string_view value) noexcept {
  if (overflow_) return;
  // mnl_attr_put_strz wants a C string, and a string_view need not be one: put the text, then
  // extend the attribute by its NUL in place.
  const std::size_t start = header().nlmsg_len;
  const std::size_t length = kAttrHeaderLen + value.size() + 1;  // nla_len with the NUL
  if (length > UINT16_MAX || start + align(length) > buffer_.size()) {
    overflow_ = true;
    return;
  }
  mnl_attr_put(&header(), type, value.size(), value.data());
  buffer_[start + kAttrHeaderLen + value.size()] = std::byte{0};
  auto* attr = reinterpret_cast<nlattr*>(buffer_.data() + start);  // NOLINT: 4-byte aligned
  attr->nla_len = static_cast<std::uint16_t>(length);
  header().nlmsg_len = static_cast<std::uint32_t>(start + align(length));
}

void Request::put_bytes(std::uint16_t type, std::span<const std::uint8_t> value) noexcept {
  if (!overflow_) {
    overflow_ = !mnl_attr_put_check(&header(), buffer_.size(), type, value.size(), value.data());
  }
}

std::size_t Request::begin_nested(std::uint16_t type) noexcept {
  const std::size_t offset = header().nlmsg_len;
  if (!overflow_) overflow_ = mnl_attr_nest_start_check(&header(), buffer_.size(), type) == nullptr;
  return offset;
}

void Request::end_nested(std::size_t offset) noexcept {
  if (overflow_ || offset + kAttrHeaderLen > header().nlmsg_len) return;
  mnl_attr_nest_end(&header(),
                    reinterpret_cast<nlattr*>(buffer_.data() + offset));  // NOLINT: aligned
}

}  // namespace tunkit::detail::netlink
