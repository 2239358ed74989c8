build2/tools/cmd_perturb.o: tools/cmd_perturb.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/analysis.h include/scfm/corpus.h \
 include/scfm/genes.h include/scfm/rng.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/analysis.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/rng.h:
