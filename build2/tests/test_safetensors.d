build2/tests/test_safetensors: tests/test_safetensors.c \
 include/scfm/model.h include/scfm/core.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/safetensors.h tests/testutil.h
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/safetensors.h:
tests/testutil.h:
