build2/src/io/reader.o: src/io/reader.c src/io/io_internal.h \
 include/scfm/io.h include/scfm/core.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
