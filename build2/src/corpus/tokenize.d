build2/src/corpus/tokenize.o: src/corpus/tokenize.c include/scfm/corpus.h \
 include/scfm/core.h include/scfm/genes.h include/scfm/json.h \
 include/scfm/io.h
include/scfm/corpus.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/io.h:
