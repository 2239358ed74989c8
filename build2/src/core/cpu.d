build2/src/core/cpu.o: src/core/cpu.c include/scfm/core.h
include/scfm/core.h:
