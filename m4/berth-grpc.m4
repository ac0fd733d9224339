dnl gRPC C core (libgrpc-dev), linked by berthd only.
AC_DEFUN([BERTH_CHECK_GRPC], [BERTH_REQUIRE([GRPC], [grpc], [libgrpc-dev])])
