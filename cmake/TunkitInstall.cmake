# Install rules: headers, libraries, the exported CMake package (tunkitConfig.cmake + version file)
# and a pkg-config file.
include(CMakePackageConfigHelpers)

set(TUNKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tunkit)
set(tunkit_install_targets tunkit)
if(TARGET tunkit_testing)
  list(APPEND tunkit_install_targets tunkit_testing)
endif()

install(TARGETS ${tunkit_install_targets} EXPORT tunkitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The headers, and the generated ones (tunkit/version.hpp, tunkit/export.hpp); those of
# tunkit::testing (tunkit/testing/), tunkit::asio (tunkit/asio.hpp) and tunkit::pcap
# (tunkit/pcap.hpp, tunkit/pcap_export.hpp) only with their target.
foreach(headers ${PROJECT_SOURCE_DIR}/include/tunkit ${TUNKIT_GENERATED_INCLUDE_DIR}/tunkit)
  install(DIRECTORY ${headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    PATTERN testing EXCLUDE PATTERN asio.hpp EXCLUDE PATTERN boost_asio.hpp EXCLUDE
    PATTERN asio_queue_impl.hpp EXCLUDE PATTERN asio_scratch.hpp EXCLUDE PATTERN pcap.hpp EXCLUDE
    PATTERN pcap_export.hpp EXCLUDE)
endforeach()
if(TARGET tunkit_testing)
  # tunkit/testing/*.hpp and the generated tunkit/testing/export.hpp.
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tunkit/testing
    ${TUNKIT_GENERATED_INCLUDE_DIR}/tunkit/testing DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tunkit)
endif()
if(TARGET tunkit_asio)
  install(FILES ${PROJECT_SOURCE_DIR}/include/tunkit/asio.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tunkit)
endif()
if(TARGET tunkit_boost_asio)
  install(FILES ${PROJECT_SOURCE_DIR}/include/tunkit/boost_asio.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tunkit)
endif()
if(TARGET tunkit_asio OR TARGET tunkit_boost_asio)
  install(FILES ${PROJECT_SOURCE_DIR}/include/tunkit/detail/asio_queue_impl.hpp
    ${PROJECT_SOURCE_DIR}/include/tunkit/detail/asio_scratch.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tunkit/detail)
endif()
install(EXPORT tunkitTargets NAMESPACE tunkit:: DESTINATION ${TUNKIT_CMAKE_DIR})
# tunkit::pcap (libtunkit-pcap) in an export set of its own, loaded by tunkitConfig.cmake only
# where pkg-config finds libpcap (the component "pcap").
if(TARGET tunkit_pcap)
  install(TARGETS tunkit_pcap EXPORT tunkitPcapTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(FILES ${PROJECT_SOURCE_DIR}/include/tunkit/pcap.hpp
    ${TUNKIT_GENERATED_INCLUDE_DIR}/tunkit/pcap_export.hpp
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tunkit)
  install(EXPORT tunkitPcapTargets NAMESPACE tunkit:: DESTINATION ${TUNKIT_CMAKE_DIR})
endif()
# tunkit::asio in an export set of its own, loaded by tunkitConfig.cmake only where Asio is found
# (the component "asio"), so that consumers without Asio still find tunkit.
if(TARGET tunkit_asio)
  install(TARGETS tunkit_asio EXPORT tunkitAsioTargets)
  install(EXPORT tunkitAsioTargets NAMESPACE tunkit:: DESTINATION ${TUNKIT_CMAKE_DIR})
  install(FILES cmake/FindAsio.cmake DESTINATION ${TUNKIT_CMAKE_DIR})
endif()
# tunkit::boost_asio likewise (the component "boost_asio"), loaded where Boost >= 1.77 is found.
if(TARGET tunkit_boost_asio)
  install(TARGETS tunkit_boost_asio EXPORT tunkitBoostAsioTargets)
  install(EXPORT tunkitBoostAsioTargets NAMESPACE tunkit:: DESTINATION ${TUNKIT_CMAKE_DIR})
endif()

get_target_property(tunkit_type tunkit TYPE)
if(tunkit_type STREQUAL "SHARED_LIBRARY")
  set(TUNKIT_SHARED TRUE)
else()
  set(TUNKIT_SHARED FALSE)
endif()
configure_package_config_file(cmake/tunkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/tunkitConfig.cmake INSTALL_DESTINATION ${TUNKIT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tunkitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tunkitConfig.cmake ${PROJECT_BINARY_DIR}/tunkitConfigVersion.cmake
  DESTINATION ${TUNKIT_CMAKE_DIR})

# pkg-config: `pkg-config --cflags --libs tunkit` (without --static) must link with either kind
# of library. A static tunkit needs libmnl (and liburing, when built in) and -pthread at the
# consumer's link, so they are in Requires and Libs, not in the .private fields that only
# --static reads; a shared tunkit records them itself (DT_NEEDED), so its consumers get fmt only
# (the public headers use it).
# A shared tunkit's files name the static dependencies in the .private fields, for
# `pkg-config --static` against a static library installed next to the shared one (as Debian's
# libtunkit-dev ships both).
set(TUNKIT_PC_REQUIRES "fmt")
set(TUNKIT_PC_REQUIRES_PRIVATE "libmnl")
if(TUNKIT_HAVE_URING)
  string(APPEND TUNKIT_PC_REQUIRES_PRIVATE " liburing")
endif()
set(TUNKIT_PC_LIBS "")
set(TUNKIT_PC_LIBS_PRIVATE "-pthread")
set(TUNKIT_PC_TESTING_REQUIRES "")
set(TUNKIT_PC_TESTING_REQUIRES_PRIVATE "libmnl")
set(TUNKIT_PC_PCAP_REQUIRES "")
set(TUNKIT_PC_PCAP_REQUIRES_PRIVATE "libpcap")
if(NOT TUNKIT_SHARED)
  string(APPEND TUNKIT_PC_REQUIRES " libmnl")
  if(TUNKIT_HAVE_URING)
    string(APPEND TUNKIT_PC_REQUIRES " liburing")
  endif()
  set(TUNKIT_PC_REQUIRES_PRIVATE "")
  set(TUNKIT_PC_LIBS "-pthread")
  set(TUNKIT_PC_LIBS_PRIVATE "")
  # libtunkit-testing.a uses libmnl itself (after -ltunkit-testing, before -ltunkit: tunkit's
  # Requires bring it).
  set(TUNKIT_PC_TESTING_REQUIRES "libmnl")
  set(TUNKIT_PC_TESTING_REQUIRES_PRIVATE "")
  # libtunkit-pcap.a needs libpcap at the consumer's link (its headers do not include pcap.h).
  set(TUNKIT_PC_PCAP_REQUIRES "libpcap")
  set(TUNKIT_PC_PCAP_REQUIRES_PRIVATE "")
endif()
# The .pc file is relocatable: its prefix is found from its own location (${pcfiledir}), so the
# installed tree works wherever it is copied or installed with --prefix.
set(tunkit_pc_up "..")
string(REPLACE "/" ";" tunkit_libdir_parts "${CMAKE_INSTALL_LIBDIR}")
foreach(part IN LISTS tunkit_libdir_parts)
  string(APPEND tunkit_pc_up "/..")
endforeach()
set(TUNKIT_PC_PREFIX "\${pcfiledir}/${tunkit_pc_up}")
configure_file(cmake/tunkit.pc.in ${PROJECT_BINARY_DIR}/tunkit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tunkit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
# tunkit-testing.pc for tunkit::testing (libtunkit-testing), installed with it.
if(TARGET tunkit_testing)
  configure_file(cmake/tunkit-testing.pc.in ${PROJECT_BINARY_DIR}/tunkit-testing.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/tunkit-testing.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
# tunkit-pcap.pc for tunkit::pcap (libtunkit-pcap), installed with it.
if(TARGET tunkit_pcap)
  configure_file(cmake/tunkit-pcap.pc.in ${PROJECT_BINARY_DIR}/tunkit-pcap.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/tunkit-pcap.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
