dnl cunit, from Debian's libcunit1-dev.
AC_DEFUN([BERTH_CHECK_CUNIT], [BERTH_REQUIRE([CUNIT], [cunit], [libcunit1-dev])])
