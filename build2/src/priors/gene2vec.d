build2/src/priors/gene2vec.o: src/priors/gene2vec.c include/scfm/priors.h \
 include/scfm/core.h include/scfm/genes.h include/scfm/rng.h
include/scfm/priors.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/rng.h:
