build2/tests/test_tokenize: tests/test_tokenize.c include/scfm/corpus.h \
 include/scfm/core.h include/scfm/genes.h include/scfm/json.h \
 include/scfm/rng.h tests/testutil.h
include/scfm/corpus.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/rng.h:
tests/testutil.h:
