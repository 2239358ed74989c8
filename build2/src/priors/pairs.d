build2/src/priors/pairs.o: src/priors/pairs.c include/scfm/priors.h \
 include/scfm/core.h include/scfm/genes.h
include/scfm/priors.h:
include/scfm/core.h:
include/scfm/genes.h:
