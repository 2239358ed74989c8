build2/src/nn/kernels.o: src/nn/kernels.c include/scfm/nn.h \
 include/scfm/rng.h src/nn/gemm.h
include/scfm/nn.h:
include/scfm/rng.h:
src/nn/gemm.h:
