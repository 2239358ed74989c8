build2/src/genes/prior_table.o: src/genes/prior_table.c \
 include/scfm/prior_table.h include/scfm/core.h include/scfm/genes.h \
 src/genes/genes_internal.h include/scfm/pickle.h include/scfm/json.h \
 include/scfm/rng.h include/scfm/safetensors.h
include/scfm/prior_table.h:
include/scfm/core.h:
include/scfm/genes.h:
src/genes/genes_internal.h:
include/scfm/pickle.h:
include/scfm/json.h:
include/scfm/rng.h:
include/scfm/safetensors.h:
