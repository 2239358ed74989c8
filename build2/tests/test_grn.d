build2/tests/test_grn: tests/test_grn.c include/scfm/grn.h \
 include/scfm/analysis.h include/scfm/core.h include/scfm/corpus.h \
 include/scfm/genes.h include/scfm/json.h include/scfm/model.h \
 include/scfm/nn.h tests/testutil.h
include/scfm/grn.h:
include/scfm/analysis.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/model.h:
include/scfm/nn.h:
tests/testutil.h:
