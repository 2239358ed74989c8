build2/tests/test_train_state: tests/test_train_state.c \
 include/scfm/train.h include/scfm/core.h include/scfm/model.h \
 include/scfm/json.h include/scfm/nn.h include/scfm/rng.h \
 tests/testutil.h
include/scfm/train.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
tests/testutil.h:
