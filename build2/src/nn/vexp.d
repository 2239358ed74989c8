build2/src/nn/vexp.o: src/nn/vexp.c src/nn/vexp.h include/scfm/core.h
src/nn/vexp.h:
include/scfm/core.h:
