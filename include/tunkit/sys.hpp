#pragma once
/// @file
/// The syscall seam: the only path by which tunkit reaches the kernel.
///
/// Every system call tunkit makes (open/close/ioctl/read/write/readv/writev/poll, eventfd, and the
/// socket calls used for rtnetlink and interface look-ups, and setns for network namespaces) goes
/// through a `tunkit::sys::Syscalls`
/// object. Production code uses `sys::real()`; tests inject `tunkit::testing::FakeKernel` (target
/// `tunkit::testing`) to script any errno on any call without privileges.
///
/// Convention (as in liburing's syscall wrappers): every call returns its result, or `-errno` on
/// failure; `errno` itself is never part of the contract.
///
/// Cost: per-packet I/O on a queue opened through `sys::real()` calls the kernel directly (an
/// inline comparison picks the path); any other seam gets every call through its virtual
/// functions. Either way a fake kernel sees all I/O, and the real path pays no indirect call
/// (bench/io_bench: 80 user-space instructions per write+read round trip, raw syscalls 45).

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include "tunkit/export.hpp"

namespace tunkit::sys {

/// The interface to the kernel. Each member returns a non-negative result or `-errno`.
/// Implementations must be thread-safe: tunkit calls them from any thread.
class TUNKIT_EXPORT Syscalls {
 public:
  virtual ~Syscalls() = default;

  /// open(2) of a character device; `flags` as for open (tunkit always adds O_CLOEXEC).
  virtual int open(const char* path, int flags) noexcept = 0;
  /// close(2). Called exactly once per descriptor; never retried on EINTR.
  virtual int close(int fd) noexcept = 0;
  /// ioctl(2) with a pointer argument (the TUN and SIOC* requests).
  virtual int ioctl(int fd, unsigned long request, void* arg) noexcept = 0;
  /// read(2).
  virtual ssize_t read(int fd, void* buf, std::size_t count) noexcept = 0;
  /// write(2).
  virtual ssize_t write(int fd, const void* buf, std::size_t count) noexcept = 0;
  /// readv(2).
  virtual ssize_t readv(int fd, const iovec* iov, int iovcnt) noexcept = 0;
  /// writev(2).
  virtual ssize_t writev(int fd, const iovec* iov, int iovcnt) noexcept = 0;
  /// poll(2); returns the number of ready descriptors.
  virtual int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept = 0;
  /// eventfd(2) (`flags` from <sys/eventfd.h>).
  virtual int eventfd(unsigned int initval, int flags) noexcept = 0;
  /// fcntl(2) with an integer argument (F_GETFL / F_SETFL, F_GETSIG / F_SETSIG).
  virtual int fcntl(int fd, int cmd, int arg) noexcept = 0;
  /// socket(2).
  virtual int socket(int domain, int type, int protocol) noexcept = 0;
  /// bind(2).
  virtual int bind(int fd, const sockaddr* addr, socklen_t len) noexcept = 0;
  /// getsockname(2).
  virtual int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept = 0;
  /// setsockopt(2).
  virtual int setsockopt(int fd, int level, int name, const void* value,
                         socklen_t len) noexcept = 0;
  /// sendto(2).
  virtual ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* addr,
                         socklen_t addrlen) noexcept = 0;
  /// recvfrom(2).
  virtual ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                           socklen_t* addrlen) noexcept = 0;
  /// setns(2): moves the calling thread into the namespace of descriptor `fd` (`nstype`
  /// CLONE_NEWNET, or 0 for any type). tunkit calls it only on threads it starts and ends for
  /// the purpose (`tunkit::in_netns`).
  virtual int setns(int fd, int nstype) noexcept = 0;

  // The calls of descriptor adoption and hand-over (tunkit/handover.hpp, `Queue::adopt`). They
  // have defaults answering -ENOSYS so that seams written before them still compile; tunkit then
  // reports ENOSYS for what needs them (adopt works without `fstat`, trusting TUNGETIFF alone).

  /// fstat(2): tells a /dev/net/tun descriptor (character device 10:200) from any other.
  virtual int fstat(int fd, struct stat* st) noexcept {
    (void)fd;
    (void)st;
    return -ENOSYS;
  }
  /// socketpair(2).
  virtual int socketpair(int domain, int type, int protocol, int sv[2]) noexcept {
    (void)domain;
    (void)type;
    (void)protocol;
    (void)sv;
    return -ENOSYS;
  }
  /// sendmsg(2) (descriptors travel as SCM_RIGHTS control messages).
  virtual ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept {
    (void)fd;
    (void)msg;
    (void)flags;
    return -ENOSYS;
  }
  /// recvmsg(2).
  virtual ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept {
    (void)fd;
    (void)msg;
    (void)flags;
    return -ENOSYS;
  }
  /// fcntl(2) with a pointer argument (F_GETOWN_EX / F_SETOWN_EX: signal-driven I/O).
  virtual int fcntl_ptr(int fd, int cmd, void* arg) noexcept {
    (void)fd;
    (void)cmd;
    (void)arg;
    return -ENOSYS;
  }
  /// getsockopt(2) (SO_PEERCRED, SO_TYPE).
  virtual int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept {
    (void)fd;
    (void)level;
    (void)name;
    (void)value;
    (void)len;
    return -ENOSYS;
  }

  /// bpf(2) (BPF_PROG_LOAD: `EbpfFilter::load`); `attr` points to a `union bpf_attr` of `size`
  /// bytes. Has a -ENOSYS default like the calls above.
  virtual long bpf(int cmd, void* attr, unsigned int size) noexcept {
    (void)cmd;
    (void)attr;
    (void)size;
    return -ENOSYS;
  }

  /// True when the descriptors this seam hands out are the kernel's own, so that engines making
  /// their own system calls on them (io_uring in `BatchIo`) may be used. False unless an
  /// implementation says otherwise: a fake's descriptors mean nothing to the kernel.
  [[nodiscard]] virtual bool kernel_descriptors() const noexcept { return false; }
};

/// The real kernel: a process-wide, stateless, thread-safe instance.
[[nodiscard]] TUNKIT_EXPORT Syscalls& real() noexcept;

}  // namespace tunkit::sys
