build2/tests/test_nn: tests/test_nn.c include/scfm/nn.h \
 include/scfm/rng.h tests/testutil.h
include/scfm/nn.h:
include/scfm/rng.h:
tests/testutil.h:
