build2/tests/test_joint: tests/test_joint.c include/scfm/corpus.h \
 include/scfm/core.h include/scfm/genes.h include/scfm/json.h \
 tests/testutil.h
include/scfm/corpus.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/json.h:
tests/testutil.h:
