build2/tests/test_perturb: tests/test_perturb.c include/scfm/analysis.h \
 include/scfm/core.h include/scfm/corpus.h include/scfm/genes.h \
 include/scfm/json.h include/scfm/model.h include/scfm/nn.h \
 tests/testutil.h
include/scfm/analysis.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/model.h:
include/scfm/nn.h:
tests/testutil.h:
