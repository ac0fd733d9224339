dnl libsecret (Secret Service client), from Debian's libsecret-1-dev.
dnl Optional: without it `berth login` keeps session tokens only in its
dnl 0600 file. --without-libsecret forces that; --with-libsecret requires it.
AC_DEFUN([BERTH_CHECK_LIBSECRET], [
  AC_ARG_WITH([libsecret],
    [AS_HELP_STRING([--with-libsecret],
      [store CLI session tokens in the Secret Service (default: when found)])],
    [], [with_libsecret=check])
  have_libsecret=no
  AS_IF([test "x$with_libsecret" != xno], [
    PKG_CHECK_MODULES([LIBSECRET], [libsecret-1], [have_libsecret=yes], [
      AS_IF([test "x$with_libsecret" = xyes],
        [AC_MSG_ERROR([missing libsecret-1: install the Debian package libsecret-1-dev (apt-get install libsecret-1-dev)])])
    ])
  ])
  AS_IF([test "x$have_libsecret" = xyes],
    [AC_DEFINE([HAVE_LIBSECRET], [1], [Define when libsecret is available.])])
  AM_CONDITIONAL([HAVE_LIBSECRET], [test "x$have_libsecret" = xyes])
])
