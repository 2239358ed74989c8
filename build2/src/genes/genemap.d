build2/src/genes/genemap.o: src/genes/genemap.c \
 src/genes/genes_internal.h include/scfm/core.h include/scfm/pickle.h \
 include/scfm/genes.h
src/genes/genes_internal.h:
include/scfm/core.h:
include/scfm/pickle.h:
include/scfm/genes.h:
