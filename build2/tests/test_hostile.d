build2/tests/test_hostile: tests/test_hostile.c include/scfm/core.h \
 include/scfm/io.h include/scfm/json.h include/scfm/pickle.h \
 include/scfm/safetensors.h tests/testutil.h
include/scfm/core.h:
include/scfm/io.h:
include/scfm/json.h:
include/scfm/pickle.h:
include/scfm/safetensors.h:
tests/testutil.h:
