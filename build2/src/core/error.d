build2/src/core/error.o: src/core/error.c include/scfm/core.h
include/scfm/core.h:
