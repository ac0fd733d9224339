dnl fcgi, from Debian's libfcgi-dev.
AC_DEFUN([BERTH_CHECK_FCGI], [BERTH_REQUIRE([FCGI], [fcgi], [libfcgi-dev])])
