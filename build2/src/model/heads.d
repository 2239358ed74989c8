build2/src/model/heads.o: src/model/heads.c src/model/heads.h \
 src/model/model_internal.h include/scfm/model.h include/scfm/core.h \
 include/scfm/json.h include/scfm/nn.h include/scfm/rng.h
src/model/heads.h:
src/model/model_internal.h:
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
