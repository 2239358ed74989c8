build2/tools/scfm.o: tools/scfm.c tools/cli.h include/scfm/core.h \
 include/scfm/model.h include/scfm/json.h include/scfm/nn.h \
 tools/commands.def
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
tools/commands.def:
