build2/src/priors/sources.o: src/priors/sources.c \
 /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h \
 /usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h \
 include/scfm/io.h include/scfm/core.h include/scfm/priors.h \
 include/scfm/genes.h include/scfm/rng.h
/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:
/usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h:
include/scfm/io.h:
include/scfm/core.h:
include/scfm/priors.h:
include/scfm/genes.h:
include/scfm/rng.h:
