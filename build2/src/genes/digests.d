build2/src/genes/digests.o: src/genes/digests.c include/scfm/genes.h \
 include/scfm/core.h src/genes/genes_internal.h include/scfm/pickle.h
include/scfm/genes.h:
include/scfm/core.h:
src/genes/genes_internal.h:
include/scfm/pickle.h:
