build2/tests/test_masking: tests/test_masking.c include/scfm/rng.h \
 include/scfm/train.h include/scfm/core.h include/scfm/model.h \
 include/scfm/json.h include/scfm/nn.h tests/testutil.h
include/scfm/rng.h:
include/scfm/train.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
tests/testutil.h:
