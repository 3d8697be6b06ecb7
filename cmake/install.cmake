# What `cmake --install BUILD [--prefix DIR]` installs, in GNUInstallDirs places:
#   bin/nettool                                        stripped; symbols in nettool.debug
#   lib/<triplet>/nettool/nettool-http.so              the HTTP module (NETTOOL_MODULE_DIR), likewise
#   share/man/man1/nettool.1, nettool-SUBCOMMAND.1     every page in man/
#   share/bash-completion/completions/nettool
#   share/zsh/vendor-completions/_nettool
#   share/fish/vendor_completions.d/nettool.fish
# and nothing else. The symbols are the component `debug`, installed only when asked for:
#   cmake --install BUILD --component debug   (lib/debug/<full bindir>/nettool.debug, where gdb
# looks for it through the binary's .gnu_debuglink when the prefix is the configured one).
# A shared object loaded at run time (dlopen), such as the HTTP module, goes the same way as the
# binary: nettool_install_stripped(TARGET DESTINATION).
include(GNUInstallDirs)

if(NOT CMAKE_OBJCOPY)
  find_program(CMAKE_OBJCOPY objcopy REQUIRED)
endif()

# Installs TARGET's file into DESTINATION (component nettool) stripped, with its symbols (and
# debug information, if the build type has any) split off into TARGET_FILE_NAME.debug: the
# build tree keeps the unstripped file for tests and debugging, dist/ gets the two halves.
function(nettool_install_stripped target destination)
  set(dist ${CMAKE_BINARY_DIR}/dist)
  set(name $<TARGET_FILE_NAME:${target}>)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set(strip --strip-all)
  else()
    set(strip --strip-unneeded) # a shared object keeps the symbols it exports
  endif()
  add_custom_command(OUTPUT ${dist}/${target}.stamp
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dist}
    COMMAND ${CMAKE_OBJCOPY} --only-keep-debug $<TARGET_FILE:${target}> ${dist}/${name}.debug
    COMMAND ${CMAKE_OBJCOPY} ${strip} --remove-section=.comment
            --add-gnu-debuglink=${dist}/${name}.debug $<TARGET_FILE:${target}> ${dist}/${name}
    COMMAND ${CMAKE_COMMAND} -E touch ${dist}/${target}.stamp
    DEPENDS ${target}
    COMMENT "Splitting the symbols off ${target} (dist/)"
    VERBATIM)
  add_custom_target(${target}_dist ALL DEPENDS ${dist}/${target}.stamp)
  if(type STREQUAL "EXECUTABLE")
    install(PROGRAMS ${dist}/${name} DESTINATION ${destination} COMPONENT nettool)
  else()
    install(FILES ${dist}/${name} DESTINATION ${destination} COMPONENT nettool
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
  install(FILES ${dist}/${name}.debug DESTINATION lib/debug${CMAKE_INSTALL_PREFIX}/${destination}
    COMPONENT debug EXCLUDE_FROM_ALL)
endfunction()

nettool_install_stripped(nettool ${CMAKE_INSTALL_BINDIR})
# The binary finds it there, relative to its own directory (core/src/module/module_loader.hpp).
nettool_install_stripped(nettool_http_module ${NETTOOL_MODULE_DIR})

file(GLOB man_pages CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.1)
install(FILES ${man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT nettool)

install(FILES completions/nettool.bash RENAME nettool
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions COMPONENT nettool)
install(FILES completions/_nettool
  DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT nettool)
install(FILES completions/nettool.fish
  DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d COMPONENT nettool)
