build2/src/model/bert.o: src/model/bert.c src/model/model_internal.h \
 include/scfm/model.h include/scfm/core.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/rng.h src/model/heads.h
src/model/model_internal.h:
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
src/model/heads.h:
