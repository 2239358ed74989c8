build2/tests/test_genes: tests/test_genes.c include/scfm/genes.h \
 include/scfm/core.h include/scfm/pickle.h tests/testutil.h
include/scfm/genes.h:
include/scfm/core.h:
include/scfm/pickle.h:
tests/testutil.h:
