#pragma once
// What tunkit observes behind a failed operation on a TUN/TAP descriptor, so that the error
// names the cause the kernel's errno does not: the interface the descriptor belonged to is gone.

#include <linux/if_tun.h>
#include <net/if.h>

#include <system_error>

#include "detail/eintr.hpp"
#include "tunkit/sys.hpp"

namespace tunkit::detail {

/// True when descriptor `fd` no longer has an interface: TUNGETIFF answers EBADFD only then
/// (the kernel detaches every descriptor when the interface is deleted; a queue disabled with
/// IFF_DETACH_QUEUE still answers, with IFF_DETACH_QUEUE in its flags).
[[nodiscard]] inline bool interface_gone(sys::Syscalls& sys, int fd) noexcept {
  if (fd < 0) return false;
  ifreq ifr{};
  return retry_eintr([&] { return sys.ioctl(fd, TUNGETIFF, &ifr); }) == -EBADFD;
}

/// The error to report for `ec`, a failed operation on descriptor `fd`: EBADFD ("device removed
/// or not attached", with the hint that the interface was deleted) when the descriptor's
/// interface is gone, whatever errno the failed call chose (TUNSETQUEUE answers EINVAL, for
/// one); otherwise `ec`. Looks only on failure, never on the hot path.
[[nodiscard]] inline std::error_code observed_cause(sys::Syscalls& sys, int fd,
                                                    std::error_code ec) noexcept {
  if (!ec || is_errno(ec, EBADFD) || ec.category() != std::system_category()) return ec;
  return interface_gone(sys, fd) ? sys_error(EBADFD) : ec;
}

}  // namespace tunkit::detail
