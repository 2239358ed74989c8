build2/tests/test_prior_table: tests/test_prior_table.c \
 include/scfm/genes.h include/scfm/core.h include/scfm/pickle.h \
 include/scfm/prior_table.h include/scfm/rng.h tests/testutil.h
include/scfm/genes.h:
include/scfm/core.h:
include/scfm/pickle.h:
include/scfm/prior_table.h:
include/scfm/rng.h:
tests/testutil.h:
