# Run by CPack after it installed nettool into its staging tree and before it builds the .deb
# (CPACK_PRE_BUILD_SCRIPTS): adds what a Debian package carries beside the installed files and
# compresses what Debian keeps compressed (gzip -9n: no name or time stamp, so the same
# sources give the same package).
set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}${CPACK_PACKAGING_INSTALL_PREFIX}")
if(NOT EXISTS "${root}/bin/nettool")
  message(FATAL_ERROR "deb-extras: no ${root}/bin/nettool in the staging tree")
endif()
find_program(GZIP gzip REQUIRED)
set(doc "${root}/share/doc/nettool")
file(MAKE_DIRECTORY "${doc}/examples")
file(COPY "${CPACK_NETTOOL_SOURCE_DIR}/packaging/debian/copyright" DESTINATION "${doc}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(COPY "${CPACK_NETTOOL_BINARY_DIR}/packaging/changelog" DESTINATION "${doc}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(COPY "${CPACK_NETTOOL_SOURCE_DIR}/contrib/systemd" DESTINATION "${doc}/examples"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                        WORLD_READ WORLD_EXECUTE)
file(GLOB pages "${root}/share/man/man1/*.1")
foreach(file IN LISTS pages ITEMS "${doc}/changelog")
  execute_process(COMMAND ${GZIP} -9nf "${file}" RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "deb-extras: gzip ${file} failed")
  endif()
endforeach()
