build2/tools/cmd_corpus.o: tools/cmd_corpus.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/corpus.h include/scfm/genes.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/corpus.h:
include/scfm/genes.h:
