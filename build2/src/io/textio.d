build2/src/io/textio.o: src/io/textio.c src/io/io_internal.h \
 include/scfm/io.h include/scfm/core.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
