build2/tools/cmd_vocab.o: tools/cmd_vocab.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/genes.h include/scfm/io.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/genes.h:
include/scfm/io.h:
