build2/tests/test_stats: tests/test_stats.c include/scfm/analysis.h \
 include/scfm/core.h include/scfm/corpus.h include/scfm/genes.h \
 include/scfm/json.h include/scfm/model.h include/scfm/nn.h \
 include/scfm/rng.h tests/testutil.h
include/scfm/analysis.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/model.h:
include/scfm/nn.h:
include/scfm/rng.h:
tests/testutil.h:
