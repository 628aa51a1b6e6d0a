# The API reference: `cmake --build <dir> --target docs` (HTML in <dir>/docs/html) where Doxygen
# is installed. Warnings, undocumented public entities included, fail the target.
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(TUNKIT_DOCS_OUTPUT ${PROJECT_BINARY_DIR}/docs)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/Doxyfile.in ${PROJECT_BINARY_DIR}/Doxyfile @ONLY)
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E remove_directory ${TUNKIT_DOCS_OUTPUT}
    COMMAND Doxygen::doxygen ${PROJECT_BINARY_DIR}/Doxyfile
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    COMMENT "tunkit: API reference with Doxygen ${DOXYGEN_VERSION} in ${TUNKIT_DOCS_OUTPUT}/html"
    VERBATIM)
else()
  message(STATUS "tunkit: Doxygen not found (apt-get install doxygen): no docs target")
endif()
