build2/src/genes/vocab.o: src/genes/vocab.c src/genes/genes_internal.h \
 include/scfm/core.h include/scfm/pickle.h include/scfm/genes.h
src/genes/genes_internal.h:
include/scfm/core.h:
include/scfm/pickle.h:
include/scfm/genes.h:
