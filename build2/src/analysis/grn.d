build2/src/analysis/grn.o: src/analysis/grn.c include/scfm/grn.h \
 include/scfm/analysis.h include/scfm/core.h include/scfm/corpus.h \
 include/scfm/genes.h include/scfm/json.h include/scfm/model.h \
 include/scfm/nn.h include/scfm/rng.h
include/scfm/grn.h:
include/scfm/analysis.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/model.h:
include/scfm/nn.h:
include/scfm/rng.h:
