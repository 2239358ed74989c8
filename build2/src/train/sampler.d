build2/src/train/sampler.o: src/train/sampler.c include/scfm/train.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/rng.h
include/scfm/train.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
