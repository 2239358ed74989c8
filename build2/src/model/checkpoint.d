build2/src/model/checkpoint.o: src/model/checkpoint.c \
 src/model/model_internal.h include/scfm/model.h include/scfm/core.h \
 include/scfm/json.h include/scfm/nn.h include/scfm/rng.h \
 include/scfm/safetensors.h
src/model/model_internal.h:
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/rng.h:
include/scfm/safetensors.h:
