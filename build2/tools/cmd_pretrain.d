build2/tools/cmd_pretrain.o: tools/cmd_pretrain.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/train.h include/scfm/rng.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/train.h:
include/scfm/rng.h:
