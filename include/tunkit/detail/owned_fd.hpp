#pragma once
/// @file
/// Internal: `detail::OwnedFd`, the one owner of a descriptor in tunkit (not part of the API;
/// installed because Queue and NetNs hold theirs in it), so that every class holding descriptors
/// follows the rule of zero.

#include <utility>

#include "tunkit/sys.hpp"

namespace tunkit::detail {

/// Owns one descriptor opened through a `sys::Syscalls` seam and closes it there exactly once
/// (never retried on EINTR, as fmt's file class: on Linux the descriptor is gone even then).
/// Move-only; a moved-from or default-constructed object holds nothing (`get() == -1`).
class OwnedFd {
 public:
  OwnedFd() noexcept = default;
  /// Takes ownership of `fd` (a negative value means none), to be closed through `sys`.
  OwnedFd(int fd, sys::Syscalls& sys) noexcept : fd_(fd), sys_(&sys) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)), sys_(other.sys_) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
      sys_ = other.sys_;
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  /// The descriptor, or -1.
  [[nodiscard]] int get() const noexcept { return fd_; }
  /// True while a descriptor is held.
  explicit operator bool() const noexcept { return fd_ >= 0; }
  /// The seam the descriptor was opened (and will be closed) through.
  [[nodiscard]] sys::Syscalls& sys() const noexcept { return *sys_; }
  /// Gives the descriptor up without closing it.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the descriptor, if any. Idempotent.
  void reset() noexcept {
    if (fd_ >= 0) (void)sys_->close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
  sys::Syscalls* sys_ = &sys::real();
};

}  // namespace tunkit::detail
