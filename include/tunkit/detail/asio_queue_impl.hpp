// No include guard: included once by each Asio adapter, tunkit/asio.hpp (standalone Asio) and
// tunkit/boost_asio.hpp (Boost.Asio), with these macros defined (and undefined again at the end):
//   TUNKIT_ASIO_NS          the Asio namespace: ::asio or ::boost::asio
//   TUNKIT_ASIO_ERROR_CODE  its error_code: std::error_code or ::boost::system::error_code
//   TUNKIT_ASIO_NAMESPACE   where the adapter goes: tunkit or tunkit::boost_asio
// The including header has declared, in TUNKIT_ASIO_NAMESPACE::detail, the flavour's
// `TUNKIT_ASIO_ERROR_CODE kernel_error(TUNKIT_ASIO_ERROR_CODE)` (the code a descriptor operation
// completed with, as the adapter reports it) and included the Asio headers listed there. Both
// flavours can be included in one translation unit: nothing here is defined outside
// TUNKIT_ASIO_NAMESPACE, and the parts that do not depend on Asio are in detail/asio_scratch.hpp.
/// @file
/// The implementation of `BasicAsyncQueue`, shared by tunkit/asio.hpp and tunkit/boost_asio.hpp.
/// Internal: include one of those.

#if !defined(TUNKIT_ASIO_NS) || !defined(TUNKIT_ASIO_ERROR_CODE) || !defined(TUNKIT_ASIO_NAMESPACE)
#error \
    "tunkit/detail/asio_queue_impl.hpp is internal: include tunkit/asio.hpp or tunkit/boost_asio.hpp"
#endif

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

#include "tunkit/detail/asio_scratch.hpp"
#include "tunkit/detail/tun_wire.hpp"
#include "tunkit/error.hpp"
#include "tunkit/options.hpp"
#include "tunkit/queue.hpp"

namespace TUNKIT_ASIO_NAMESPACE {

namespace detail {

/// The composed read: one `async_read_some` (one read(2) of the TUN descriptor is exactly one
/// packet), then the packet-information header is stripped and truncation reported.
template <class Descriptor>
struct AsioReadOp {
  Descriptor* descriptor;                                  ///< the queue's descriptor
  std::span<std::byte> buffer;                             ///< the caller's buffer
  std::shared_ptr<::tunkit::detail::AsioScratch> scratch;  ///< header and spare byte
  bool packet_info;                                        ///< the queue has the 4-byte header

  /// Starts the read.
  template <class Self>
  void operator()(Self& self) {
    // A read that is cancelled has consumed no packet, so every kind of cancellation is safe.
    self.reset_cancellation_state(TUNKIT_ASIO_NS::enable_total_cancellation());
    std::array<TUNKIT_ASIO_NS::mutable_buffer, 2> bufs;
    if (packet_info) {
      bufs = {TUNKIT_ASIO_NS::buffer(scratch->read_info),
              TUNKIT_ASIO_NS::buffer(buffer.data(), buffer.size())};
    } else {
      bufs = {TUNKIT_ASIO_NS::buffer(buffer.data(), buffer.size()),
              TUNKIT_ASIO_NS::buffer(&scratch->spare, 1)};
    }
    descriptor->async_read_some(bufs, std::move(self));
  }

  /// The read completed.
  template <class Self>
  void operator()(Self& self, TUNKIT_ASIO_ERROR_CODE ec, std::size_t n) {
    ec = kernel_error(ec);
    if (!ec) {
      // The same rules as Queue::read: the header's TUN_PKT_STRIP, or the spare byte filled.
      const ::tunkit::detail::ReadOutcome out =
          packet_info ? ::tunkit::detail::read_outcome_pi(n, scratch->read_info)
                      : ::tunkit::detail::read_outcome(n, buffer.size());
      n = out.length;
      if (out.short_read) {
        // The kernel never does this.
        ec = TUNKIT_ASIO_ERROR_CODE(std::make_error_code(std::errc::protocol_error));
      } else if (out.truncated) {
        ec = TUNKIT_ASIO_ERROR_CODE(errc::packet_truncated);
      }
    }
    self.complete(ec, ec && ec != errc::packet_truncated ? 0 : n);
  }
};

/// The composed write: one `async_write_some` (one write(2) is one packet; the tun driver takes
/// it whole or fails), with the packet-information header put in front when the queue has one.
template <class Descriptor>
struct AsioWriteOp {
  Descriptor* descriptor;                                  ///< the queue's descriptor
  std::span<const std::byte> packet;                       ///< the caller's packet
  std::shared_ptr<::tunkit::detail::AsioScratch> scratch;  ///< header
  bool packet_info;                                        ///< the queue has the 4-byte header
  Mode mode;  ///< TUN or TAP, for the header's protocol
  bool vnet;  ///< the packet starts with a virtio-net header

  /// Starts the write.
  template <class Self>
  void operator()(Self& self) {
    if (packet.empty()) {
      // The kernel would answer EINVAL; say what is wrong instead. A write of no bytes completes
      // at once without a system call, and through the handler's executor (never inside the
      // initiating call, as Asio requires); the completion below turns it into the error.
      descriptor->async_write_some(TUNKIT_ASIO_NS::const_buffer(), std::move(self));
      return;
    }
    std::array<TUNKIT_ASIO_NS::const_buffer, 2> bufs;
    std::size_t count = 1;
    if (packet_info) {
      // The protocol of the packet after the virtio-net header, whose size the device holds
      // (any descriptor may change it); only TUN takes it from this header, TAP from the frame.
      std::size_t offset = 0;
      if (vnet && mode == Mode::tun) {
        int size = 0;
        if (::ioctl(descriptor->native_handle(), ::tunkit::detail::kTunGetVnetHdrSz, &size) == 0 &&
            size > 0)
          offset = static_cast<std::size_t>(size);
      }
      const std::span<const std::byte> whole[1] = {packet};
      scratch->write_info =
          ::tunkit::detail::encode_pi(::tunkit::detail::protocol_at(mode, whole, offset));
      bufs[0] = TUNKIT_ASIO_NS::buffer(scratch->write_info);
      bufs[1] = TUNKIT_ASIO_NS::buffer(packet.data(), packet.size());
      count = 2;
    } else {
      bufs[0] = TUNKIT_ASIO_NS::buffer(packet.data(), packet.size());
    }
    if (count == 1) {
      descriptor->async_write_some(bufs[0], std::move(self));
    } else {
      descriptor->async_write_some(bufs, std::move(self));
    }
  }

  /// The write completed.
  template <class Self>
  void operator()(Self& self, TUNKIT_ASIO_ERROR_CODE ec, std::size_t n) {
    ec = kernel_error(ec);
    if (packet.empty()) {
      self.complete(ec ? ec : TUNKIT_ASIO_ERROR_CODE(errc::empty_packet), 0);
      return;
    }
    const std::size_t header = scratch->write_info.size();
    if (!ec && packet_info) n = n >= header ? n - header : 0;
    if (!ec && n != packet.size()) {
      ec = TUNKIT_ASIO_ERROR_CODE(std::error_code(EIO, std::system_category()));  // never
    }
    self.complete(ec, ec ? 0 : n);
  }
};

}  // namespace detail

/// Asynchronous packet I/O on one queue of a TUN/TAP device, through an
/// `asio::posix::basic_stream_descriptor`. Every operation takes an Asio completion token:
/// a callback `void(std::error_code, std::size_t)`, `asio::use_awaitable` (C++20 coroutines),
/// `asio::use_future`, `asio::redirect_error`, ...; the completion signature is
/// `void(std::error_code, std::size_t)` and the errors are those of `Queue::read` and
/// `Queue::write` (errno codes from the kernel in `std::system_category()`, e.g. EBADFD once the
/// interface is deleted, `tunkit::errc::packet_truncated`,
/// `tunkit::errc::empty_packet`), plus `asio::error::operation_aborted` for a cancelled operation
/// and `asio::error::bad_descriptor` on a closed object.
///
/// **Two flavours.** `tunkit::BasicAsyncQueue` (tunkit/asio.hpp) is on standalone Asio;
/// `tunkit::boost_asio::BasicAsyncQueue` (tunkit/boost_asio.hpp) is the same class on Boost.Asio
/// (1.77 or later), where every `asio::` here reads `boost::asio::`, the completion signature is
/// `void(boost::system::error_code, std::size_t)`, and the kernel's errno codes are in
/// `boost::system::system_category()`, which compare equal to the same codes in
/// `std::system_category()`. Both can be used in one program.
///
/// **One packet per operation.** One read(2) of a TUN descriptor returns exactly one packet, so
/// `async_read` is one `async_read_some` on the descriptor, and `async_write` is one
/// `async_write_some`: the driver takes a packet whole or fails. Never use `asio::async_read` or
/// `asio::async_write` on the descriptor: they loop until the buffer is full and would run
/// several packets together.
///
/// **Ownership: a duplicate descriptor.** The object holds its own descriptor, a duplicate
/// (`F_DUPFD_CLOEXEC`) of `queue.native_handle()`, and closes it when destroyed; the `Queue` stays
/// the owner of its own. Both refer to the same open file, hence the same queue: a packet is read
/// through one or the other, `Queue::disable()` applies to both, and device-wide settings
/// (`TunDevice::set_carrier`, ...) keep working through the device. The object may outlive the
/// `Queue` (it never refers to it after construction). The alternative, taking the descriptor with
/// `Queue::release()`, would leave a closed `Queue` behind in its `TunDevice`, which then could
/// not attach it again nor use it for device-wide ioctls. Note that the kernel detaches the queue
/// (and deletes a non-persistent device) only when the last descriptor is closed: destroy the
/// `AsyncQueue`s together with the device.
///
/// **Cancellation.** `cancel()` ends every outstanding operation of this object with
/// `asio::error::operation_aborted`. Per-operation cancellation works through the completion
/// handler's cancellation slot (`asio::bind_cancellation_slot`, or awaitable operators and
/// `asio::experimental::parallel_group`, which use it); reads and writes support terminal,
/// partial and total cancellation, because a cancelled operation has moved no packet. A read
/// completes either with a packet or aborted without one; no packet is lost to a cancellation.
///
/// **Concurrency.** Like Asio's own I/O objects this one is not thread-safe: use it from one
/// thread or strand (one strand per queue of a multi-queue device spreads the queues over the
/// threads of an `io_context`). At most one `async_read` and one `async_write` may be
/// outstanding at a time; for more readers of one queue, make one object each.
///
/// **Not through the seam.** Asio makes the system calls itself, so this adapter does not go
/// through `sys::Syscalls` and cannot run over `testing::FakeKernel`; test it in a network
/// namespace (`testing::NetNsSandbox`).
///
/// @tparam Executor the I/O executor (`asio::any_io_executor` by default; `AsyncQueue` is that).
template <class Executor = TUNKIT_ASIO_NS::any_io_executor>
class BasicAsyncQueue {
 public:
  /// The type of the I/O executor.
  using executor_type = Executor;
  /// The Asio descriptor type underneath.
  using descriptor_type = TUNKIT_ASIO_NS::posix::basic_stream_descriptor<Executor>;
  /// The completion signature of `async_read` and `async_write`.
  using signature_type = void(TUNKIT_ASIO_ERROR_CODE, std::size_t);

  /// Rebinds the queue to another executor type (Asio's I/O object convention).
  template <class OtherExecutor>
  struct rebind_executor {
    /// The queue type for `OtherExecutor`.
    using other = BasicAsyncQueue<OtherExecutor>;
  };

  /// A closed queue using `executor`; attach it with `open`.
  explicit BasicAsyncQueue(const executor_type& executor) : descriptor_(executor) {}

  /// A closed queue using the executor of `context`; attach it with `open`.
  template <class ExecutionContext>
  requires std::is_convertible_v<ExecutionContext&, TUNKIT_ASIO_NS::execution_context&>
  explicit BasicAsyncQueue(ExecutionContext& context) : descriptor_(context) {}

  /// Duplicates `queue`'s descriptor for I/O on `executor` (see the class notes on ownership).
  /// @throws tunkit::Error when `queue` is closed (`errc::not_open`) or the descriptor cannot be
  ///   duplicated (EMFILE) or registered with the reactor.
  BasicAsyncQueue(const executor_type& executor, const Queue& queue) : BasicAsyncQueue(executor) {
    open(queue);
  }

  /// Duplicates `queue`'s descriptor for I/O on the executor of `context`.
  /// @throws tunkit::Error as the constructor taking an executor.
  template <class ExecutionContext>
  requires std::is_convertible_v<ExecutionContext&, TUNKIT_ASIO_NS::execution_context&>
  BasicAsyncQueue(ExecutionContext& context, const Queue& queue) : BasicAsyncQueue(context) {
    open(queue);
  }

  /// Takes over `other`'s descriptor and outstanding operations; `other` is left closed.
  BasicAsyncQueue(BasicAsyncQueue&& other) noexcept = default;
  /// Closes this object's descriptor (cancelling its operations) and takes over `other`'s.
  BasicAsyncQueue& operator=(BasicAsyncQueue&& other) noexcept = default;
  BasicAsyncQueue(const BasicAsyncQueue&) = delete;
  BasicAsyncQueue& operator=(const BasicAsyncQueue&) = delete;
  /// Closes the duplicate descriptor; outstanding operations complete with
  /// `asio::error::operation_aborted`. The `Queue` is not affected.
  ~BasicAsyncQueue() = default;

  /// Closes any descriptor held, then duplicates `queue`'s.
  /// @throws tunkit::Error naming the queue and the cause.
  void open(const Queue& queue) {
    std::error_code ec;
    open(queue, ec);
    if (ec) throw make_error(ec, "duplicate for Asio the descriptor of", queue.name());
  }

  /// Closes any descriptor held, then duplicates `queue`'s; on failure `ec` is set and the
  /// object is closed.
  void open(const Queue& queue, std::error_code& ec) noexcept {
    ec.clear();
    close();
    if (!queue.is_open()) {
      ec = errc::not_open;
      return;
    }
    const int fd = ::fcntl(queue.native_handle(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      ec = std::error_code(errno, std::system_category());
      return;
    }
    TUNKIT_ASIO_ERROR_CODE assigned;
    descriptor_.assign(fd, assigned);
    if (assigned) {
      ec = static_cast<std::error_code>(assigned);
      ::close(fd);  // never retried on EINTR: Linux releases the descriptor anyway
      return;
    }
    packet_info_ = queue.has_packet_info();
    mode_ = queue.mode();
    // IFF_VNET_HDR is fixed for the life of the open file; only its size may change.
    std::error_code flags_ec;
    const Flags flags = packet_info_ ? queue.flags(flags_ec) : Flags();
    vnet_ = !flags_ec && flags.has(Flag::vnet_hdr);
  }

  /// True while a descriptor is held.
  [[nodiscard]] bool is_open() const noexcept { return descriptor_.is_open(); }

  /// Closes the duplicate descriptor; outstanding operations complete with
  /// `asio::error::operation_aborted`. Idempotent.
  void close() noexcept {
    TUNKIT_ASIO_ERROR_CODE ignored;
    descriptor_.close(ignored);
  }

  /// Cancels every outstanding operation of this object: they complete with
  /// `asio::error::operation_aborted` (those that already finished keep their result).
  /// @throws std::system_error (`boost::system::system_error` with Boost.Asio) when the object
  ///   is closed.
  void cancel() { descriptor_.cancel(); }
  /// Cancels every outstanding operation; `ec` is set when the object is closed.
  void cancel(TUNKIT_ASIO_ERROR_CODE& ec) noexcept { descriptor_.cancel(ec); }

  /// The I/O executor.
  [[nodiscard]] executor_type get_executor() noexcept { return descriptor_.get_executor(); }
  /// The Asio descriptor (an escape hatch; reading or writing it directly is one packet per
  /// operation too, without the header handling of this class).
  [[nodiscard]] descriptor_type& descriptor() noexcept { return descriptor_; }
  /// The duplicate descriptor (owned by this object), or -1.
  [[nodiscard]] int native_handle() noexcept { return descriptor_.native_handle(); }

  /// Reads one packet into `buffer`. Completes with its length; a packet longer than `buffer`
  /// completes with `errc::packet_truncated` and the length of its head, which is in `buffer`
  /// (the tail is lost). With `Options::packet_info` the header is stripped. `buffer` must stay
  /// valid until completion.
  /// @param buffer where the packet goes
  /// @param token an Asio completion token for `signature_type`
  template <class CompletionToken = TUNKIT_ASIO_NS::default_completion_token_t<executor_type>>
  auto async_read(
      std::span<std::byte> buffer,
      CompletionToken&& token = TUNKIT_ASIO_NS::default_completion_token_t<executor_type>()) {
    return TUNKIT_ASIO_NS::async_compose<CompletionToken, signature_type>(
        detail::AsioReadOp<descriptor_type>{&descriptor_, buffer, scratch(), packet_info_}, token,
        descriptor_);
  }

  /// Writes one packet (an IP packet for TUN, an Ethernet frame for TAP). Completes with its
  /// length. An empty packet completes with `errc::empty_packet`; a packet the kernel rejects
  /// with its errno (EINVAL for a TUN packet that is not IPv4/IPv6, EIO while the interface is
  /// down). `packet` must stay valid until completion.
  /// @param packet the whole packet
  /// @param token an Asio completion token for `signature_type`
  template <class CompletionToken = TUNKIT_ASIO_NS::default_completion_token_t<executor_type>>
  auto async_write(
      std::span<const std::byte> packet,
      CompletionToken&& token = TUNKIT_ASIO_NS::default_completion_token_t<executor_type>()) {
    return TUNKIT_ASIO_NS::async_compose<CompletionToken, signature_type>(
        detail::AsioWriteOp<descriptor_type>{&descriptor_, packet, scratch(), packet_info_, mode_,
                                             vnet_},
        token, descriptor_);
  }

 private:
  // Made at the first operation (and again after a move took it away).
  const std::shared_ptr<::tunkit::detail::AsioScratch>& scratch() {
    if (!scratch_) scratch_ = std::make_shared<::tunkit::detail::AsioScratch>();
    return scratch_;
  }

  descriptor_type descriptor_;
  std::shared_ptr<::tunkit::detail::AsioScratch> scratch_;
  bool packet_info_ = false;
  Mode mode_ = Mode::tun;
  bool vnet_ = false;  // with packet information only: where the write's protocol is
};

/// `BasicAsyncQueue` with `asio::any_io_executor`.
using AsyncQueue = BasicAsyncQueue<>;

}  // namespace TUNKIT_ASIO_NAMESPACE

#undef TUNKIT_ASIO_NS
#undef TUNKIT_ASIO_ERROR_CODE
#undef TUNKIT_ASIO_NAMESPACE
