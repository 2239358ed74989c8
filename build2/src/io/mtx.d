build2/src/io/mtx.o: src/io/mtx.c src/io/io_internal.h include/scfm/io.h \
 include/scfm/core.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
