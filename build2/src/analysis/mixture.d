build2/src/analysis/mixture.o: src/analysis/mixture.c \
 include/scfm/analysis.h include/scfm/core.h include/scfm/corpus.h \
 include/scfm/genes.h include/scfm/json.h include/scfm/model.h \
 include/scfm/nn.h
include/scfm/analysis.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/model.h:
include/scfm/nn.h:
