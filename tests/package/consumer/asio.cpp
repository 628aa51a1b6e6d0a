// Uses tunkit::asio without privileges: a closed queue, and an operation completing with an error
// through asio::use_future.
#include <tunkit/asio.hpp>

#include <array>
#include <cstdio>
#include <future>
#include <system_error>

#include <asio/io_context.hpp>
#include <asio/use_future.hpp>

int main() {
  asio::io_context io;
  tunkit::AsyncQueue queue(io);
  std::error_code ec;
  queue.open(tunkit::Queue{}, ec);
  if (ec != tunkit::errc::not_open) return 1;
  std::array<std::byte, 64> buf{};
  std::future<std::size_t> read = queue.async_read(buf, asio::use_future);
  io.run();
  try {
    (void)read.get();
    return 1;
  } catch (const std::system_error& e) {
    if (e.code() != asio::error::bad_descriptor) return 1;
  }
  std::printf("consumer_asio ok\n");
  return 0;
}
