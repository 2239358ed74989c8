build2/src/model/config.o: src/model/config.c include/scfm/model.h \
 include/scfm/core.h include/scfm/json.h include/scfm/nn.h
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
