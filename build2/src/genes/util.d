build2/src/genes/util.o: src/genes/util.c src/genes/genes_internal.h \
 include/scfm/core.h include/scfm/pickle.h include/scfm/io.h
src/genes/genes_internal.h:
include/scfm/core.h:
include/scfm/pickle.h:
include/scfm/io.h:
