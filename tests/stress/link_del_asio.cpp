// tunkit_stress, part "link-del": the Asio reader (built when tunkit::asio is).
#include <array>
#include <atomic>
#include <cstddef>
#include <system_error>

#include <asio/io_context.hpp>

#include "stress.hpp"
#include "tunkit/asio.hpp"

namespace tunkit::stress {

std::error_code asio_read(tunkit::Queue& queue, std::atomic<int>& entered) {
  ::asio::io_context context;
  tunkit::AsyncQueue async(context, queue);
  std::array<std::byte, 2048> buf{};
  std::error_code result = std::make_error_code(std::errc::operation_in_progress);
  async.async_read(buf, [&](std::error_code ec, std::size_t) { result = ec; });
  ++entered;
  context.run();  // until the read completes: only a packet or an error ends it
  return result;
}

}  // namespace tunkit::stress
