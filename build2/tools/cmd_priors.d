build2/tools/cmd_priors.o: tools/cmd_priors.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/genes.h include/scfm/priors.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/genes.h:
include/scfm/priors.h:
