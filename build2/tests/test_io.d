build2/tests/test_io: tests/test_io.c include/scfm/io.h \
 include/scfm/core.h tests/testutil.h
include/scfm/io.h:
include/scfm/core.h:
tests/testutil.h:
