build2/fuzz/replay_pickle: tests/fuzz/replay.c include/scfm/core.h \
 include/scfm/io.h
include/scfm/core.h:
include/scfm/io.h:
