# InstallTemplate.cmake — run by `cmake --install` for each
# p11jwt_install_template() of cmake/Install.cmake: fills in one template
# for the prefix being installed to and installs the result.
#
# In: P11JWT_TEMPLATE (the NAME.in), P11JWT_TEMPLATE_NAME (installed name),
# P11JWT_TEMPLATE_DEST (destination, relative to the prefix or absolute),
# P11JWT_TEMPLATE_RELOCATED (for an absolute one: the place under another
# prefix than P11JWT_CONFIGURED_PREFIX, the one the build was configured with),
# P11JWT_TEMPLATE_WORK (a folder of the build tree), PROJECT_VERSION and
# CMAKE_INSTALL_<DIR> as configured. CMAKE_INSTALL_PREFIX is the prefix of
# this install (`--prefix` included); DESTDIR is file(INSTALL)'s business,
# so a staged install (dh, DESTDIR=debian/tmp) gets files for the real prefix.
foreach(dir BINDIR LIBDIR LIBEXECDIR INCLUDEDIR DATADIR DOCDIR MANDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(CMAKE_INSTALL_FULL_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(CMAKE_INSTALL_FULL_${dir} "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
# p11jwt.pc's dirs: relative to ${prefix} where they are under it, so
# that `pkg-config --define-prefix` and --define-variable=prefix= work.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(P11JWT_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(P11JWT_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(dest "${P11JWT_TEMPLATE_DEST}")
# An absolute destination (a /usr build's /lib/systemd/system) is the
# configured prefix's; `cmake --install --prefix P` puts the file under P.
if(IS_ABSOLUTE "${dest}" AND P11JWT_TEMPLATE_RELOCATED AND
    NOT CMAKE_INSTALL_PREFIX STREQUAL P11JWT_CONFIGURED_PREFIX)
  set(dest "${P11JWT_TEMPLATE_RELOCATED}")
endif()
if(NOT IS_ABSOLUTE "${dest}")
  set(dest "${CMAKE_INSTALL_PREFIX}/${dest}")
endif()

# A folder of its own per run: two installs of one build at once (ctest -j)
# do not fill in each other's files.
string(RANDOM LENGTH 12 run)
set(work "${P11JWT_TEMPLATE_WORK}/${run}")
configure_file("${P11JWT_TEMPLATE}" "${work}/${P11JWT_TEMPLATE_NAME}" @ONLY)
file(INSTALL "${work}/${P11JWT_TEMPLATE_NAME}" DESTINATION "${dest}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(REMOVE_RECURSE "${work}")
