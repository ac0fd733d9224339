dnl openssl, from Debian's libssl-dev.
AC_DEFUN([BERTH_CHECK_OPENSSL], [BERTH_REQUIRE([OPENSSL], [openssl], [libssl-dev])])
