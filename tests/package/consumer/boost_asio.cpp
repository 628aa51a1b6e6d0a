// Uses tunkit::boost_asio without privileges: a closed queue, and an operation completing with an
// error through boost::asio::use_future.
#include <tunkit/boost_asio.hpp>

#include <array>
#include <cstdio>
#include <future>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>

int main() {
  boost::asio::io_context io;
  tunkit::boost_asio::AsyncQueue queue(io);
  std::error_code ec;
  queue.open(tunkit::Queue{}, ec);
  if (ec != tunkit::errc::not_open) return 1;
  std::array<std::byte, 64> buf{};
  std::future<std::size_t> read = queue.async_read(buf, boost::asio::use_future);
  io.run();
  try {
    (void)read.get();
    return 1;
  } catch (const boost::system::system_error& e) {
    if (e.code() != boost::asio::error::bad_descriptor) return 1;
  }
  std::printf("consumer_boost_asio ok\n");
  return 0;
}
