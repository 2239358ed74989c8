build2/tests/test_priors: tests/test_priors.c include/scfm/priors.h \
 include/scfm/core.h include/scfm/genes.h tests/testutil.h
include/scfm/priors.h:
include/scfm/core.h:
include/scfm/genes.h:
tests/testutil.h:
