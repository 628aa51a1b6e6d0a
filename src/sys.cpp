#include "tunkit/sys.hpp"

#include "detail/real_sys.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace tunkit::sys::detail {

class RealSyscalls final : public Syscalls {
 public:
  bool kernel_descriptors() const noexcept override { return true; }
  int open(const char* path, int flags) noexcept override { return ret(::open(path, flags)); }
  int close(int fd) noexcept override { return ret(::close(fd)); }
  int ioctl(int fd, unsigned long request, void* arg) noexcept override {
    return ret(::ioctl(fd, request, arg));
  }
  ssize_t read(int fd, void* buf, std::size_t count) noexcept override {
    return ret(::read(fd, buf, count));
  }
  ssize_t write(int fd, const void* buf, std::size_t count) noexcept override {
    return ret(::write(fd, buf, count));
  }
  ssize_t readv(int fd, const iovec* iov, int iovcnt) noexcept override {
    return ret(::readv(fd, iov, iovcnt));
  }
  ssize_t writev(int fd, const iovec* iov, int iovcnt) noexcept override {
    return ret(::writev(fd, iov, iovcnt));
  }
  int poll(pollfd* fds, nfds_t nfds, int timeout_ms) noexcept override {
    return ret(::poll(fds, nfds, timeout_ms));
  }
  int eventfd(unsigned int initval, int flags) noexcept override {
    return ret(::eventfd(initval, flags));
  }
  int fcntl(int fd, int cmd, int arg) noexcept override { return ret(::fcntl(fd, cmd, arg)); }
  int socket(int domain, int type, int protocol) noexcept override {
    return ret(::socket(domain, type, protocol));
  }
  int bind(int fd, const sockaddr* addr, socklen_t len) noexcept override {
    return ret(::bind(fd, addr, len));
  }
  int getsockname(int fd, sockaddr* addr, socklen_t* len) noexcept override {
    return ret(::getsockname(fd, addr, len));
  }
  int setsockopt(int fd, int level, int name, const void* value, socklen_t len) noexcept override {
    return ret(::setsockopt(fd, level, name, value, len));
  }
  ssize_t sendto(int fd, const void* buf, std::size_t len, int flags, const sockaddr* addr,
                 socklen_t addrlen) noexcept override {
    return ret(::sendto(fd, buf, len, flags, addr, addrlen));
  }
  ssize_t recvfrom(int fd, void* buf, std::size_t len, int flags, sockaddr* addr,
                   socklen_t* addrlen) noexcept override {
    return ret(::recvfrom(fd, buf, len, flags, addr, addrlen));
  }
  int setns(int fd, int nstype) noexcept override { return ret(::setns(fd, nstype)); }
  int fstat(int fd, struct stat* st) noexcept override { return ret(::fstat(fd, st)); }
  int socketpair(int domain, int type, int protocol, int sv[2]) noexcept override {
    return ret(::socketpair(domain, type, protocol, sv));
  }
  ssize_t sendmsg(int fd, const msghdr* msg, int flags) noexcept override {
    return ret(::sendmsg(fd, msg, flags));
  }
  ssize_t recvmsg(int fd, msghdr* msg, int flags) noexcept override {
    return ret(::recvmsg(fd, msg, flags));
  }
  int fcntl_ptr(int fd, int cmd, void* arg) noexcept override { return ret(::fcntl(fd, cmd, arg)); }
  int getsockopt(int fd, int level, int name, void* value, socklen_t* len) noexcept override {
    return ret(::getsockopt(fd, level, name, value, len));
  }
  long bpf(int cmd, void* attr, unsigned int size) noexcept override {
    return ret(::syscall(SYS_bpf, cmd, attr, size));
  }
};

constinit RealSyscalls g_real;  // NOLINT(cppcoreguidelines-avoid-non-const-global-variables)

}  // namespace tunkit::sys::detail

namespace tunkit::sys {

Syscalls& real() noexcept {
  return detail::g_real;
}

}  // namespace tunkit::sys
