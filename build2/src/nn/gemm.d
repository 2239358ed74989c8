build2/src/nn/gemm.o: src/nn/gemm.c src/nn/gemm.h include/scfm/core.h \
 include/scfm/nn.h /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h
src/nn/gemm.h:
include/scfm/core.h:
include/scfm/nn.h:
/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h:
