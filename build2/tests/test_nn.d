build2/tests/test_nn: tests/test_nn.c include/scfm/core.h \
 include/scfm/nn.h include/scfm/rng.h src/nn/vexp.h tests/testutil.h
include/scfm/core.h:
include/scfm/nn.h:
include/scfm/rng.h:
src/nn/vexp.h:
tests/testutil.h:
