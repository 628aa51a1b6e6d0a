# A stand-in for an installed Catch2 3 package, used only by tests/catch2_v3 (Debian 12 ships
# Catch2 v2 alone). It has the shape of v3's package: version 3, targets Catch2::Catch2 and
# Catch2::Catch2WithMain, v3's header names, and Catch.cmake found beside this file; underneath,
# each header forwards to Debian's Catch2 v2. It proves tunkit's selection of v3 and the v3
# branch of tests/support/catch.hpp by configure and build, not Catch2 v3 itself.
get_filename_component(stub_root "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")
if(NOT TARGET Catch2::Catch2)
  add_library(Catch2::Catch2 INTERFACE IMPORTED)
  set_target_properties(Catch2::Catch2 PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${stub_root}/include")
  add_library(Catch2::Catch2WithMain INTERFACE IMPORTED)
  set_target_properties(Catch2::Catch2WithMain PROPERTIES
    INTERFACE_SOURCES "${stub_root}/src/main.cpp"
    INTERFACE_LINK_LIBRARIES Catch2::Catch2)
endif()
