build2/src/corpus/merge.o: src/corpus/merge.c include/scfm/corpus.h \
 include/scfm/core.h include/scfm/genes.h include/scfm/json.h
include/scfm/corpus.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/json.h:
