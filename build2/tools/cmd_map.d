build2/tools/cmd_map.o: tools/cmd_map.c tools/cli.h include/scfm/core.h \
 include/scfm/model.h include/scfm/json.h include/scfm/nn.h \
 include/scfm/embedmap.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/embedmap.h:
