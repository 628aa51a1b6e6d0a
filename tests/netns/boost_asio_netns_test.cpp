// tunkit::boost_asio::AsyncQueue (tunkit/boost_asio.hpp, Boost.Asio) against the real kernel:
// the tests of asio_netns_body.hpp, which asio_netns_test.cpp runs on standalone Asio, here with
// boost::asio's completion tokens and cancellation and boost::system::error_code. Built only
// with tunkit::boost_asio.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include "tunkit/boost_asio.hpp"

namespace {
namespace net = ::boost::asio;
namespace adapter = ::tunkit::boost_asio;
using error_code = ::boost::system::error_code;
using system_error = ::boost::system::system_error;
}  // namespace

#define TUNKIT_ASIO_TEST_PREFIX "boost_asio::"
#define TUNKIT_ASIO_TEST_TAG "[boost_asio]"
#include "asio_netns_body.hpp"
