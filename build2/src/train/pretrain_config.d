build2/src/train/pretrain_config.o: src/train/pretrain_config.c \
 include/scfm/train.h include/scfm/core.h include/scfm/model.h \
 include/scfm/json.h include/scfm/nn.h include/scfm/rng.h
include/scfm/train.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
