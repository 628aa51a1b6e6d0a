#include "tunkit/version.hpp"

namespace tunkit {

// Compiled into the library, so it reports the version of the library actually loaded.
const char* library_version() noexcept {
  return TUNKIT_VERSION_STRING;
}

}  // namespace tunkit
