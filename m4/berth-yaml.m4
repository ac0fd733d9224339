dnl yaml-0.1, from Debian's libyaml-dev.
AC_DEFUN([BERTH_CHECK_YAML], [BERTH_REQUIRE([YAML], [yaml-0.1], [libyaml-dev])])
