build2/tools/cmd_model.o: tools/cmd_model.c tools/cli.h \
 include/scfm/core.h include/scfm/model.h include/scfm/json.h \
 include/scfm/nn.h include/scfm/genes.h include/scfm/prior_table.h \
 include/scfm/rng.h include/scfm/safetensors.h
tools/cli.h:
include/scfm/core.h:
include/scfm/model.h:
include/scfm/json.h:
include/scfm/nn.h:
include/scfm/genes.h:
include/scfm/prior_table.h:
include/scfm/rng.h:
include/scfm/safetensors.h:
