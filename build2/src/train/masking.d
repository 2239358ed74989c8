build2/src/train/masking.o: src/train/masking.c include/scfm/train.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/rng.h
include/scfm/train.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
