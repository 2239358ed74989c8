build2/tools/cmd_report.o: tools/cmd_report.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/report.h include/scfm/embedmap.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/report.h:
include/scfm/embedmap.h:
