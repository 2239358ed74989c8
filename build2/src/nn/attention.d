build2/src/nn/attention.o: src/nn/attention.c include/scfm/nn.h \
 include/scfm/rng.h src/nn/gemm.h src/nn/vexp.h
include/scfm/nn.h:
include/scfm/rng.h:
src/nn/gemm.h:
src/nn/vexp.h:
