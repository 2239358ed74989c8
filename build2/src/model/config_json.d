build2/src/model/config_json.o: src/model/config_json.c \
 include/scfm/model.h include/scfm/core.h include/scfm/json.h \
 include/scfm/nn.h
include/scfm/model.h:
include/scfm/core.h:
include/scfm/json.h:
include/scfm/nn.h:
