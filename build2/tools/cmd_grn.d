build2/tools/cmd_grn.o: tools/cmd_grn.c tools/cli.h include/scfm/core.h \
 include/scfm/model.h include/scfm/json.h include/scfm/nn.h \
 include/scfm/analysis.h include/scfm/corpus.h include/scfm/genes.h \
 include/scfm/grn.h include/scfm/priors.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/analysis.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/grn.h:
include/scfm/priors.h:
