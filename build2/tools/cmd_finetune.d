build2/tools/cmd_finetune.o: tools/cmd_finetune.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/finetune.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/finetune.h:
