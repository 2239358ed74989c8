build2/src/core/safetensors.o: src/core/safetensors.c \
 include/scfm/safetensors.h include/scfm/core.h include/scfm/json.h
include/scfm/safetensors.h:
include/scfm/core.h:
include/scfm/json.h:
