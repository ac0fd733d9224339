dnl protobuf-c runtime (libprotobuf-c-dev) and its code generator protoc-c
dnl (protobuf-c-compiler), used to build proto/lighthouse.proto.
AC_DEFUN([BERTH_CHECK_PROTOBUFC], [
  BERTH_REQUIRE([PROTOBUFC], [libprotobuf-c], [libprotobuf-c-dev])
  AC_PATH_PROG([PROTOC_C], [protoc-c])
  AS_IF([test -z "$PROTOC_C"],
    [AC_MSG_ERROR([missing protoc-c: install the Debian package protobuf-c-compiler])])
])
