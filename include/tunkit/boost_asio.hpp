#pragma once
/// @file
/// `tunkit::boost_asio::BasicAsyncQueue`: the adapter of tunkit/asio.hpp on Boost.Asio instead of
/// standalone Asio, for programs whose event loop is a `boost::asio::io_context`. The same class
/// and the same behaviour (see `tunkit::BasicAsyncQueue`), in namespace `tunkit::boost_asio`,
/// with `boost::asio` types and `boost::system::error_code` in its completion signature
/// (compare it with `boost::asio::error::operation_aborted`, `tunkit::errc::packet_truncated` or
/// a `std::error_code` from `Queue::read`; `boost::asio::redirect_error` takes it). Needs Boost
/// 1.77 or later (per-operation cancellation of descriptor operations; Debian 12:
/// `libboost1.81-dev`). Header-only; link the CMake target `tunkit::boost_asio`, which exists
/// when tunkit was configured with Boost found. Both headers can be included in one program.
///
/// @code
/// boost::asio::awaitable<void> echo(tunkit::Queue& queue) {
///   tunkit::boost_asio::AsyncQueue async(co_await boost::asio::this_coro::executor, queue);
///   std::array<std::byte, 65536> buf;
///   for (;;) {
///     boost::system::error_code ec;
///     std::size_t n = co_await async.async_read(
///         buf, boost::asio::redirect_error(boost::asio::use_awaitable, ec));  // one packet
///     if (ec == boost::asio::error::operation_aborted) co_return;
///     if (ec) continue;
///     auto pkt = tunkit::parse_ip(std::span(buf).first(n));
///     if (!pkt) continue;
///     if (auto len = tunkit::build_echo_reply(*pkt, buf))
///       co_await async.async_write(std::span(buf).first(*len), boost::asio::use_awaitable);
///   }
/// }
/// @endcode

#include <boost/version.hpp>

#if BOOST_VERSION < 107700
#error "tunkit/boost_asio.hpp needs Boost 1.77 or later (per-operation cancellation)"
#endif

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/posix/basic_stream_descriptor.hpp>
#include <boost/system/error_code.hpp>

/// The Asio adapter on Boost.Asio: `BasicAsyncQueue` and `AsyncQueue`, the same classes as
/// `tunkit::BasicAsyncQueue` and `tunkit::AsyncQueue` but with `boost::asio` executors,
/// descriptors and completion tokens, and `boost::system::error_code` in the completion
/// signature `void(boost::system::error_code, std::size_t)`.
namespace tunkit::boost_asio {

namespace detail {

/// The code a Boost.Asio descriptor operation completed with, as the adapter reports it: as it
/// is. Boost.Asio reports the kernel's errno in `boost::system::system_category()`, which
/// compares equal to the same errno in `std::system_category()` (the code `Queue::read` and
/// `Queue::write` report), because Boost.System maps its system category onto the standard one.
inline ::boost::system::error_code kernel_error(::boost::system::error_code ec) noexcept {
  return ec;
}

}  // namespace detail

}  // namespace tunkit::boost_asio

// tunkit::boost_asio::BasicAsyncQueue and AsyncQueue, from the implementation shared with
// tunkit/asio.hpp.
/// @cond
#define TUNKIT_ASIO_NS ::boost::asio
#define TUNKIT_ASIO_ERROR_CODE ::boost::system::error_code
#define TUNKIT_ASIO_NAMESPACE tunkit::boost_asio
/// @endcond
#include "tunkit/detail/asio_queue_impl.hpp"  // IWYU pragma: export
