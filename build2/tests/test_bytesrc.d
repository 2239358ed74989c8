build2/tests/test_bytesrc: tests/test_bytesrc.c src/io/io_internal.h \
 include/scfm/io.h include/scfm/core.h tests/testutil.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
tests/testutil.h:
