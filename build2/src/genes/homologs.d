build2/src/genes/homologs.o: src/genes/homologs.c \
 src/genes/genes_internal.h include/scfm/core.h include/scfm/pickle.h \
 include/scfm/genes.h include/scfm/json.h
src/genes/genes_internal.h:
include/scfm/core.h:
include/scfm/pickle.h:
include/scfm/genes.h:
include/scfm/json.h:
