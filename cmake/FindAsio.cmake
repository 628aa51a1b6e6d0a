# FindAsio: standalone (non-Boost) Asio, a header-only library (Debian: libasio-dev).
#
# Result: Asio_FOUND, Asio_VERSION, Asio_INCLUDE_DIR and the imported target Asio::Asio (include
# directory plus Threads::Threads, which Asio's io_context needs). Installed with tunkit's CMake
# package, whose tunkit::asio target depends on it.
find_path(Asio_INCLUDE_DIR NAMES asio.hpp)
mark_as_advanced(Asio_INCLUDE_DIR)

if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  # ASIO_VERSION is MAJOR * 100000 + MINOR * 100 + PATCH (102201 is 1.22.1).
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" asio_version_line
    REGEX "^#define ASIO_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ASIO_VERSION ([0-9]+).*" "\\1" asio_version "${asio_version_line}")
  math(EXPR asio_major "${asio_version} / 100000")
  math(EXPR asio_minor "${asio_version} / 100 % 1000")
  math(EXPR asio_patch "${asio_version} % 100")
  set(Asio_VERSION "${asio_major}.${asio_minor}.${asio_patch}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio REQUIRED_VARS Asio_INCLUDE_DIR VERSION_VAR Asio_VERSION)

if(Asio_FOUND AND NOT TARGET Asio::Asio)
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads REQUIRED)
  add_library(Asio::Asio INTERFACE IMPORTED)
  set_target_properties(Asio::Asio PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()
