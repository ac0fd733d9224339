dnl libpq, from Debian's libpq-dev.
AC_DEFUN([BERTH_CHECK_LIBPQ], [BERTH_REQUIRE([LIBPQ], [libpq], [libpq-dev])])
