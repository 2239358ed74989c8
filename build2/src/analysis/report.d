build2/src/analysis/report.o: src/analysis/report.c \
 src/analysis/report_internal.h include/scfm/core.h include/scfm/corpus.h \
 include/scfm/genes.h include/scfm/json.h include/scfm/report.h \
 include/scfm/embedmap.h
src/analysis/report_internal.h:
include/scfm/core.h:
include/scfm/corpus.h:
include/scfm/genes.h:
include/scfm/json.h:
include/scfm/report.h:
include/scfm/embedmap.h:
