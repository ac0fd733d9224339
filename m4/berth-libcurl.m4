dnl libcurl, from Debian's libcurl4-openssl-dev.
AC_DEFUN([BERTH_CHECK_LIBCURL], [BERTH_REQUIRE([LIBCURL], [libcurl], [libcurl4-openssl-dev])])
