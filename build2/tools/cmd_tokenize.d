build2/tools/cmd_tokenize.o: tools/cmd_tokenize.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/corpus.h include/scfm/genes.h \
 include/scfm/io.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/io.h:
