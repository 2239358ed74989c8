build2/src/corpus/corpus.o: src/corpus/corpus.c include/scfm/corpus.h \
 include/scfm/core.h include/scfm/genes.h include/scfm/json.h
include/scfm/corpus.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/json.h:
