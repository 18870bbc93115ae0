# Install.cmake — what `cmake --install` puts where: the library (shared and
# static), the header, the pkg-config file and the CMake package; the
# programs; shell completion; the systemd units, the sysusers.d file that
# makes their user, and the docs the units cite. The man pages install
# from man/CMakeLists.txt. Included by the top CMakeLists.txt once the
# targets exist; docs/install.md says what lands where and why.
#
# The design decision: files that name installed paths (p11jwt.pc, the
# units) are filled in at INSTALL time from the prefix the install runs
# with (cmake/InstallTemplate.cmake), so `cmake --install build --prefix P`
# gives files right for P, not for the configure-time prefix; and every
# destination under the prefix is kept relative to it, so such an install
# writes nothing outside P. Only what must live elsewhere for a /usr build
# (systemd's unit directory, /lib/systemd/system on Debian 12) is absolute,
# and an install of such a build with --prefix P puts it under P too.

include(CMakePackageConfigHelpers)

# A path under CMAKE_INSTALL_PREFIX made relative to it (pkg-config answers
# with absolute ones); a path elsewhere stays as it is.
function(p11jwt_under_prefix var)
  set(p "${${var}}")
  if(IS_ABSOLUTE "${p}")
    file(RELATIVE_PATH rel "${CMAKE_INSTALL_PREFIX}" "${p}")
    if(NOT rel STREQUAL "" AND NOT rel MATCHES "^\\.\\.(/|$)")
      set(${var} "${rel}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

# p11jwt_pkg_config_dir(VAR PACKAGE VARIABLE FALLBACK): VAR (a cache entry
# the user may set) or, when empty, PACKAGE's pkg-config VARIABLE if the
# prefix is /usr (where the distribution's own files go), else FALLBACK
# under the prefix — /usr/local must not write into /usr.
function(p11jwt_pkg_config_dir var package variable fallback)
  set(dir "${${var}}")
  if(NOT dir AND CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE} --variable=${variable} ${package}
      OUTPUT_VARIABLE dir OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE rc ERROR_QUIET)
    if(NOT rc EQUAL 0)
      set(dir "")
    endif()
  endif()
  if(NOT dir)
    set(dir "${fallback}")
  endif()
  p11jwt_under_prefix(dir)
  set(${var} "${dir}" PARENT_SCOPE)
endfunction()

# p11jwt_install_template(TEMPLATE DESTINATION [RENAME NAME] [RELOCATED DIR]):
# TEMPLATE (NAME.in, @VAR@ references) filled in at install time with
# CMAKE_INSTALL_FULL_<DIR> of the prefix installed to and PROJECT_VERSION,
# then installed to DESTINATION as NAME. An absolute DESTINATION belongs to
# the configured prefix: an install to another one (--prefix P) uses DIR
# under P instead, so that it writes nothing outside P.
set(P11JWT_TEMPLATE_VARS PROJECT_VERSION CMAKE_INSTALL_BINDIR CMAKE_INSTALL_LIBDIR
  CMAKE_INSTALL_LIBEXECDIR CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_DATADIR
  CMAKE_INSTALL_DOCDIR CMAKE_INSTALL_MANDIR)
function(p11jwt_install_template template destination)
  cmake_parse_arguments(A "" "RENAME;RELOCATED" "" ${ARGN})
  get_filename_component(name "${template}" NAME)
  string(REGEX REPLACE "\\.in$" "" name "${name}")
  if(A_RENAME)
    set(name "${A_RENAME}")
  endif()
  set(src "${PROJECT_SOURCE_DIR}/${template}")
  if(NOT EXISTS "${src}")
    message(FATAL_ERROR "install template ${src} does not exist")
  endif()
  set(code "")
  foreach(v IN LISTS P11JWT_TEMPLATE_VARS)
    string(APPEND code "set(${v} [==[${${v}}]==])\n")
  endforeach()
  string(APPEND code
    "set(P11JWT_TEMPLATE [==[${src}]==])\n"
    "set(P11JWT_TEMPLATE_NAME [==[${name}]==])\n"
    "set(P11JWT_TEMPLATE_DEST [==[${destination}]==])\n"
    "set(P11JWT_TEMPLATE_RELOCATED [==[${A_RELOCATED}]==])\n"
    "set(P11JWT_CONFIGURED_PREFIX [==[${CMAKE_INSTALL_PREFIX}]==])\n"
    "set(P11JWT_TEMPLATE_WORK [==[${PROJECT_BINARY_DIR}/install-time]==])\n"
    "include([==[${PROJECT_SOURCE_DIR}/cmake/InstallTemplate.cmake]==])\n")
  install(CODE "${code}")
  # Re-run the configure step when a template changes, as configure_file would.
  set_property(DIRECTORY "${PROJECT_SOURCE_DIR}" APPEND PROPERTY
    CMAKE_CONFIGURE_DEPENDS "${src}")
endfunction()

# ---- library, header, pkg-config file, CMake package ----------------------

install(TARGETS p11jwt p11jwt_static EXPORT p11jwtTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES include/p11jwt.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# p11jwt.pc: prefix= is the install prefix; Requires.private and
# Libs.private make `pkg-config --static --libs p11jwt` link libp11jwt.a
# (p11jwt.pc.in says why libcurl is not among them).
p11jwt_install_template(p11jwt.pc.in ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The CMake package: p11jwt::p11jwt and p11jwt::p11jwt_static. The static
# library's link interface names PkgConfig::P11KIT, ::JANSSON, ::HIREDIS,
# OpenSSL::Crypto and Threads::Threads; p11jwtConfig.cmake finds them
# before it loads the targets. The files locate themselves (relative to
# where they are installed), so they need no install-time filling in.
set(P11JWT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/p11jwt)
install(EXPORT p11jwtTargets NAMESPACE p11jwt:: DESTINATION ${P11JWT_CMAKE_DIR})
configure_package_config_file(cmake/p11jwtConfig.cmake.in
  ${PROJECT_BINARY_DIR}/p11jwtConfig.cmake
  INSTALL_DESTINATION ${P11JWT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/p11jwtConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/p11jwtConfig.cmake
  ${PROJECT_BINARY_DIR}/p11jwtConfigVersion.cmake
  DESTINATION ${P11JWT_CMAKE_DIR})

# ---- programs ---------------------------------------------------------------

# The programs find libp11jwt.so.0 where they were installed with it: a
# RUNPATH relative to their own place ($ORIGIN), so `p11jwt` runs straight
# after `cmake --install` to /usr/local (whose lib/ the dynamic linker
# only knows once ldconfig ran) or to any --prefix P. None for a library
# directory the linker searches anyway (/usr: the packages; lintian
# refuses an RPATH there).
list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES "${CMAKE_INSTALL_FULL_LIBDIR}" _p11jwt_sys_libdir)
if(_p11jwt_sys_libdir EQUAL -1)
  foreach(_t_dir p11jwt_cli:${CMAKE_INSTALL_BINDIR}
                 p11jwt_agent_bin:${CMAKE_INSTALL_LIBEXECDIR}/p11jwt)
    string(REPLACE ":" ";" _t_dir "${_t_dir}")
    list(GET _t_dir 0 _t)
    list(GET _t_dir 1 _dir)
    file(RELATIVE_PATH _rel "${CMAKE_INSTALL_PREFIX}/${_dir}" "${CMAKE_INSTALL_FULL_LIBDIR}")
    set_target_properties(${_t} PROPERTIES INSTALL_RPATH "$ORIGIN/${_rel}")
  endforeach()
endif()

install(TARGETS p11jwt_cli p11jwt_token RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# `p11jwt agent` executes it from here (P11JWT_AGENT_PATH, a configure-time
# path: the programs, unlike the files below, are not relocatable).
install(TARGETS p11jwt_agent_bin RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/p11jwt)

# ---- shell completion (dist/completion/) ------------------------------------

# bash-completion loads completions/NAME on first use of NAME. Its
# completionsdir is asked of pkg-config with our prefix, so that a
# /usr/local build does not write into /usr; without bash-completion's .pc,
# the usual place under our prefix.
set(P11JWT_BASH_COMPLETION_DIR "" CACHE STRING
  "Where the bash completion goes (default: bash-completion's completionsdir)")
set(_bc_dir "${P11JWT_BASH_COMPLETION_DIR}")
if(NOT _bc_dir)
  execute_process(COMMAND ${PKG_CONFIG_EXECUTABLE}
      --define-variable=prefix=${CMAKE_INSTALL_PREFIX}
      --define-variable=datadir=${CMAKE_INSTALL_FULL_DATADIR}
      --variable=completionsdir bash-completion
    OUTPUT_VARIABLE _bc_dir OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _bc_rc ERROR_QUIET)
  if(NOT _bc_rc EQUAL 0 OR NOT _bc_dir)
    set(_bc_dir ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
  endif()
endif()
p11jwt_under_prefix(_bc_dir)
# zsh has no .pc to ask. PREFIX/share/zsh/site-functions is upstream's
# place, but Debian's zsh searches /usr/local/share/zsh/site-functions and,
# for packages, /usr/share/zsh/vendor-completions only: a /usr build on
# Debian (what dh does) takes vendor-completions.
set(P11JWT_ZSH_COMPLETION_DIR "" CACHE STRING
  "Where the zsh completion (_p11jwt) goes (default: see cmake/Install.cmake)")
set(_zsh_dir "${P11JWT_ZSH_COMPLETION_DIR}")
if(NOT _zsh_dir)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" AND EXISTS /etc/debian_version)
    set(_zsh_dir ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
  else()
    set(_zsh_dir ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)
  endif()
endif()
install(FILES dist/completion/p11jwt.bash RENAME p11jwt DESTINATION ${_bc_dir})
install(FILES dist/completion/_p11jwt DESTINATION ${_zsh_dir})

# ---- systemd units, their user, the docs they cite --------------------------

# systemd reads units from /usr/local/lib/systemd/system as well as from the
# distribution's directory (systemd.unit(5)), and sysusers.d files from
# /usr/local/lib/sysusers.d (sysusers.d(5)).
set(P11JWT_SYSTEMD_UNIT_DIR "" CACHE STRING
  "Where the systemd units go (default: systemd's systemdsystemunitdir for a /usr prefix, else PREFIX/lib/systemd/system)")
set(P11JWT_SYSUSERS_DIR "" CACHE STRING
  "Where the sysusers.d file making the p11jwt user goes (default: systemd's sysusersdir for a /usr prefix, else PREFIX/lib/sysusers.d)")
set(_unit_dir "${P11JWT_SYSTEMD_UNIT_DIR}")
p11jwt_pkg_config_dir(_unit_dir systemd systemdsystemunitdir lib/systemd/system)
set(_sysusers_dir "${P11JWT_SYSUSERS_DIR}")
p11jwt_pkg_config_dir(_sysusers_dir systemd sysusersdir lib/sysusers.d)
foreach(unit p11jwt-agent.service p11jwt-agent.socket
    p11jwt-rotate@.service p11jwt-rotate@.timer)
  p11jwt_install_template(dist/systemd/${unit}.in ${_unit_dir}
    RELOCATED lib/systemd/system)
endforeach()
# The user p11jwt (and group p11jwt-clients) the units name: the Debian
# package's postinst runs systemd-sysusers on it (dh_installsysusers); a
# source install runs `systemd-sysusers p11jwt.conf` (docs/install.md).
install(FILES dist/sysusers/p11jwt.conf DESTINATION ${_sysusers_dir})

# Documentation= in the units cites these by their installed path; the
# install tests check that every file a unit cites is installed.
install(FILES docs/install.md docs/agent.md docs/rotation.md
  docs/exchange.md docs/cli.md docs/architecture.md docs/performance.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
