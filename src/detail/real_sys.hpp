#pragma once
// The real kernel behind the syscall seam, visible to the library's own hot paths.
//
// `sys::real()` hands out the one `RealSyscalls` object. Per-packet I/O (Queue's read, write,
// readv, writev) checks whether its descriptor was opened through that object and, if so, calls
// the kernel directly (`sys::io::read` and friends): the compiler inlines them, so the real path
// costs a comparison instead of an indirect call, and a fake kernel still sees every call.

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "tunkit/detail/owned_fd.hpp"
#include "tunkit/sys.hpp"

namespace tunkit::sys::detail {

// Converts the libc convention (-1 and errno) into the seam's (-errno).
template <typename T>
[[gnu::always_inline]] inline T ret(T r) noexcept {
  return r < 0 ? static_cast<T>(-errno) : r;
}

// The seam of the real kernel (defined in src/sys.cpp).
class RealSyscalls;
// The process-wide instance `sys::real()` returns: constant-initialised, so it exists before any
// dynamic initialisation and outlives every object that uses it.
extern RealSyscalls g_real;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

// True when descriptors of `fd` go straight to the kernel.
[[gnu::always_inline]] inline bool is_real(const tunkit::detail::OwnedFd& fd) noexcept {
  return static_cast<const void*>(&fd.sys()) == static_cast<const void*>(&g_real);
}

}  // namespace tunkit::sys::detail

namespace tunkit::sys::io {

// read(2), write(2), readv(2), writev(2) on `fd` through its seam, without the virtual call when
// the seam is the real kernel. Results as the seam's: the count or -errno.
[[gnu::always_inline]] inline ssize_t read(const tunkit::detail::OwnedFd& fd, void* buf,
                                           std::size_t n) noexcept {
  if (detail::is_real(fd)) [[likely]]
    return detail::ret(::read(fd.get(), buf, n));
  return fd.sys().read(fd.get(), buf, n);
}
[[gnu::always_inline]] inline ssize_t write(const tunkit::detail::OwnedFd& fd, const void* buf,
                                            std::size_t n) noexcept {
  if (detail::is_real(fd)) [[likely]]
    return detail::ret(::write(fd.get(), buf, n));
  return fd.sys().write(fd.get(), buf, n);
}
[[gnu::always_inline]] inline ssize_t readv(const tunkit::detail::OwnedFd& fd, const iovec* iov,
                                            int n) noexcept {
  if (detail::is_real(fd)) [[likely]]
    return detail::ret(::readv(fd.get(), iov, n));
  return fd.sys().readv(fd.get(), iov, n);
}
[[gnu::always_inline]] inline ssize_t writev(const tunkit::detail::OwnedFd& fd, const iovec* iov,
                                             int n) noexcept {
  if (detail::is_real(fd)) [[likely]]
    return detail::ret(::writev(fd.get(), iov, n));
  return fd.sys().writev(fd.get(), iov, n);
}

}  // namespace tunkit::sys::io
