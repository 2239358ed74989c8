build2/src/analysis/report_svg.o: src/analysis/report_svg.c \
 src/analysis/report_internal.h include/scfm/core.h
src/analysis/report_internal.h:
include/scfm/core.h:
