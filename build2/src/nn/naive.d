build2/src/nn/naive.o: src/nn/naive.c include/scfm/core.h \
 include/scfm/nn.h include/scfm/rng.h
include/scfm/core.h:
include/scfm/nn.h:
include/scfm/rng.h:
