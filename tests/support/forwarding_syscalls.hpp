#pragma once
// A syscall seam that forwards to another one (usually a FakeKernel) and lets a test replace the
// answer of one call, for the answers no fake kernel gives (a read shorter than the kernel ever
// returns).

#include <atomic>
#include <functional>

#include "tunkit/sys.hpp"

namespace test {

class ForwardingSyscalls : public tunkit::sys::Syscalls {
 public:
  explicit ForwardingSyscalls(tunkit::sys::Syscalls& inner) : inner_(inner) {}

  /// When set, readv(2) answers this instead of the inner seam's result (which it is given).
  std::function<ssize_t(ssize_t inner_result)> on_readv;
  /// Calls of read(2) or readv(2), and of write(2) or writev(2), that reached this seam.
  std::atomic<int> reads{0};
  std::atomic<int> writes{0};

  int open(const char* path, int flags) noexcept override { return inner_.open(path, flags); }
  int close(int fd) noexcept override { return inner_.close(fd); }
  int ioctl(int fd, unsigned long request, void* arg) noexcept override {
    return inner_.ioctl(fd, request, arg);
  }
  ssize_t read(int fd, void* buf, std::size_t count) noexcept override {
    ++reads;
    return inner_.read(fd, buf, count);
  }
  ssize_t write(int fd, const void* buf, std::size_t count) noexcept override {
    ++writes;
    return inner_.write(fd, buf, count);
  }
  ssize_t readv(int fd, const iovec* iov, int iovcnt) noexcept override {
    ++reads;
    const ssize_t r = inner_.readv(fd, iov, iovcnt);
    return on_readv ? on_readv(r) : r;
  }
  ssize_t writev(int fd, const iovec* iov, int iovcnt) noexcept override {
    ++writes;
    return inner_.writev(fd, iov, iovcnt);
  }
  int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept override {
    return inner_.poll(fds, nfds, timeout_ms);
  }
  int eventfd(unsigned int initval, int flags) noexcept override {
    return inner_.eventfd(initval, flags);
  }
  int fcntl(int fd, int cmd, int arg) noexcept override { return inner_.fcntl(fd, cmd, arg); }
  int socket(int domain, int type, int protocol) noexcept override {
    return inner_.socket(domain, type, protocol);
  }
  int bind(int fd, const sockaddr* addr, socklen_t len) noexcept override {
    return inner_.bind(fd, addr, len);
  }
  int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept override {
    return inner_.getsockname(fd, addr, len);
  }
  int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept override {
    return inner_.setsockopt(fd, level, name, value, len);
  }
  ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* addr,
                 socklen_t addrlen) noexcept override {
    return inner_.sendto(fd, buf, len, flags, addr, addrlen);
  }
  ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                   socklen_t* addrlen) noexcept override {
    return inner_.recvfrom(fd, buf, len, flags, addr, addrlen);
  }
  int setns(int fd, int nstype) noexcept override { return inner_.setns(fd, nstype); }
  int fstat(int fd, struct stat* st) noexcept override { return inner_.fstat(fd, st); }
  int socketpair(int domain, int type, int protocol, int sv[2]) noexcept override {
    return inner_.socketpair(domain, type, protocol, sv);
  }
  ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept override {
    return inner_.sendmsg(fd, msg, flags);
  }
  ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept override {
    return inner_.recvmsg(fd, msg, flags);
  }
  int fcntl_ptr(int fd, int cmd, void* arg) noexcept override {
    return inner_.fcntl_ptr(fd, cmd, arg);
  }
  int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept override {
    return inner_.getsockopt(fd, level, name, value, len);
  }
  long bpf(int cmd, void* attr, unsigned int size) noexcept override {
    return inner_.bpf(cmd, attr, size);
  }

 private:
  tunkit::sys::Syscalls& inner_;
};

}  // namespace test
