build2/src/train/eval.o: src/train/eval.c src/train/pretrain_internal.h \
 include/scfm/corpus.h include/scfm/core.h include/scfm/genes.h \
 include/scfm/json.h include/scfm/train.h include/scfm/model.h \
 include/scfm/nn.h include/scfm/rng.h
src/train/pretrain_internal.h:
include/scfm/corpus.h:
include/scfm/core.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/train.h:
include/scfm/model.h:
include/scfm/nn.h:
include/scfm/rng.h:
