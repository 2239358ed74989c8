build2/src/io/h5guard.o: src/io/h5guard.c src/io/io_internal.h \
 include/scfm/io.h include/scfm/core.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
