build2/src/core/json.o: src/core/json.c include/scfm/json.h \
 include/scfm/core.h
include/scfm/json.h:
include/scfm/core.h:
