dnl json-c, from Debian's libjson-c-dev.
AC_DEFUN([BERTH_CHECK_JSONC], [BERTH_REQUIRE([JSONC], [json-c], [libjson-c-dev])])
