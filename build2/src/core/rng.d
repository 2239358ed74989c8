build2/src/core/rng.o: src/core/rng.c include/scfm/rng.h
include/scfm/rng.h:
