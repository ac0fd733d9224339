dnl One macro per dependency. Each names the Debian package that provides it,
dnl so a missing library is reported in words an operator can act on.

dnl BERTH_REQUIRE(VAR, pkg-config module, Debian package)
AC_DEFUN([BERTH_REQUIRE], [
  PKG_CHECK_MODULES([$1], [$2], [],
    [AC_MSG_ERROR([missing $2: install the Debian package $3 (apt-get install $3)])])
])
