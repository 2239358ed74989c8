build2/src/train/ft_predict.o: src/train/ft_predict.c \
 src/train/ft_internal.h include/scfm/analysis.h include/scfm/core.h \
 include/scfm/corpus.h include/scfm/genes.h include/scfm/json.h \
 include/scfm/model.h include/scfm/nn.h include/scfm/finetune.h \
 include/scfm/train.h include/scfm/rng.h
src/train/ft_internal.h:
include/scfm/analysis.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/model.h:
include/scfm/nn.h:
include/scfm/finetune.h:
include/scfm/train.h:
include/scfm/rng.h:
