build2/src/genes/pickle.o: src/genes/pickle.c include/scfm/pickle.h \
 include/scfm/core.h
include/scfm/pickle.h:
include/scfm/core.h:
