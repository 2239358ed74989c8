build2/src/core/crc32.o: src/core/crc32.c include/scfm/core.h
include/scfm/core.h:
