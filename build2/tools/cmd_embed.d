build2/tools/cmd_embed.o: tools/cmd_embed.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/analysis.h include/scfm/corpus.h \
 include/scfm/genes.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/analysis.h:
include/scfm/corpus.h:
include/scfm/genes.h:
