build2/src/io/csv.o: src/io/csv.c src/io/io_internal.h include/scfm/io.h \
 include/scfm/core.h
src/io/io_internal.h:
include/scfm/io.h:
include/scfm/core.h:
