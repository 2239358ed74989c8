build2/src/io/bytesrc.o: src/io/bytesrc.c src/io/io_internal.h \
 include/scfm/io.h include/scfm/core.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
