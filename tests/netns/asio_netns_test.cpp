// tunkit::AsyncQueue (tunkit/asio.hpp, standalone Asio) against the real kernel: the tests of
// asio_netns_body.hpp, which boost_asio_netns_test.cpp runs on Boost.Asio. Built only with
// tunkit::asio.
#include <system_error>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>

#include "tunkit/asio.hpp"

namespace {
namespace net = ::asio;
namespace adapter = ::tunkit;
using error_code = std::error_code;
using system_error = std::system_error;
}  // namespace

#define TUNKIT_ASIO_TEST_PREFIX ""
#define TUNKIT_ASIO_TEST_TAG ""
#include "asio_netns_body.hpp"
