build2/src/analysis/embed_summary.o: src/analysis/embed_summary.c \
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
