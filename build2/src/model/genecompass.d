build2/src/model/genecompass.o: src/model/genecompass.c \
 src/model/model_internal.h include/scfm/model.h include/scfm/core.h \
 include/scfm/json.h include/scfm/nn.h include/scfm/rng.h
src/model/model_internal.h:
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
