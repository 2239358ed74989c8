build2/src/genes/resolve.o: src/genes/resolve.c include/scfm/genes.h \
 include/scfm/core.h
include/scfm/genes.h:
include/scfm/core.h:
