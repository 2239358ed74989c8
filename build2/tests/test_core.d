build2/tests/test_core: tests/test_core.c include/scfm/core.h \
 include/scfm/json.h include/scfm/rng.h tests/testutil.h
include/scfm/core.h:
include/scfm/json.h:
include/scfm/rng.h:
tests/testutil.h:
