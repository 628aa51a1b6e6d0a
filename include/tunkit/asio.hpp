#pragma once
/// @file
/// `tunkit::BasicAsyncQueue`: asynchronous packet I/O on a `tunkit::Queue` with standalone Asio
/// (Debian's `libasio-dev`), for programs whose event loop is an `asio::io_context`. Header-only;
/// link the CMake target `tunkit::asio`, which exists when tunkit was configured with Asio found.
/// The same adapter on Boost.Asio is `tunkit::boost_asio::AsyncQueue` (tunkit/boost_asio.hpp);
/// both can be included in one program.
///
/// @code
/// asio::awaitable<void> echo(tunkit::Queue& queue) {
///   tunkit::AsyncQueue async(co_await asio::this_coro::executor, queue);
///   std::array<std::byte, 65536> buf;
///   for (;;) {
///     std::size_t n = co_await async.async_read(buf, asio::use_awaitable);  // one packet
///     auto pkt = tunkit::parse_ip(std::span(buf).first(n));
///     if (!pkt) continue;
///     if (auto len = tunkit::build_echo_reply(*pkt, buf))
///       co_await async.async_write(std::span(buf).first(*len), asio::use_awaitable);
///   }
/// }
/// @endcode

#include <system_error>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/compose.hpp>
#include <asio/error.hpp>
#include <asio/execution_context.hpp>
#include <asio/posix/basic_stream_descriptor.hpp>

namespace tunkit::detail {

/// The code an Asio descriptor operation completed with, as the adapter reports it.
/// Asio reports the kernel's errno in its own category ("asio.system"); Queue::read and
/// Queue::write report it in std::system_category(), and so does the adapter, so that one
/// comparison serves both. Asio's own outcomes (a cancelled operation, a closed object) keep
/// Asio's codes, which callers compare with `asio::error::operation_aborted` and `bad_descriptor`.
inline std::error_code kernel_error(std::error_code ec) noexcept {
  if (ec && ec.category() == ::asio::error::get_system_category() &&
      ec != ::asio::error::operation_aborted && ec != ::asio::error::bad_descriptor) {
    return {ec.value(), std::system_category()};
  }
  return ec;
}

}  // namespace tunkit::detail

// tunkit::BasicAsyncQueue and tunkit::AsyncQueue, from the implementation shared with
// tunkit/boost_asio.hpp.
/// @cond
#define TUNKIT_ASIO_NS ::asio
#define TUNKIT_ASIO_ERROR_CODE std::error_code
#define TUNKIT_ASIO_NAMESPACE tunkit
/// @endcond
#include "tunkit/detail/asio_queue_impl.hpp"  // IWYU pragma: export
