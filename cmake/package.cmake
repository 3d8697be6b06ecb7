# The Debian package, built by CPack (scripts/package.sh runs it): what `cmake --install`
# installs (component nettool; not the debug component), plus what a Debian package carries
# beside it (packaging/deb-extras.cmake: the copyright file, the changelog, the example
# systemd units, compressed man pages). Its dependencies come from dpkg-shlibdeps.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME nettool)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "network multi-tool: serve, connect, get, retrieve, ports")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_COMPONENTS_ALL nettool)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_STRIP_FILES OFF) # cmake/install.cmake strips, keeping the symbols apart
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # nettool_VERSION_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The project has no mailing address yet: a release sets its own (-DNETTOOL_DEB_MAINTAINER=...).
set(NETTOOL_DEB_MAINTAINER "nettool developers <nettool@example.org>" CACHE STRING
  "Maintainer of the Debian package (name <address>)")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${NETTOOL_DEB_MAINTAINER}")
# The extended description; CPack puts the summary above it.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "One command for what people reach for netcat, ncat, socat, curl and wget to do:
serve a port (greet, echo, relay, send a file, run a program; TCP, UDP and Unix
sockets, TLS, systemd socket activation), connect to one, stream or save a URL
safely and resumably, clean up temporary downloads, and list who listens where.")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# The changelog's top entry carries the project's version (configure_file), so the two agree.
configure_file(${CMAKE_SOURCE_DIR}/packaging/debian/changelog.in
  ${CMAKE_BINARY_DIR}/packaging/changelog @ONLY)
set(CPACK_NETTOOL_SOURCE_DIR ${CMAKE_SOURCE_DIR})
set(CPACK_NETTOOL_BINARY_DIR ${CMAKE_BINARY_DIR})
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_SOURCE_DIR}/packaging/deb-extras.cmake)
include(CPack)
