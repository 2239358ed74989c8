build2/src/analysis/embedmap.o: src/analysis/embedmap.c \
 include/scfm/embedmap.h include/scfm/core.h include/scfm/rng.h
include/scfm/embedmap.h:
include/scfm/core.h:
include/scfm/rng.h:
