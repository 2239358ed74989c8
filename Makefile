# scfm build. Probes OpenMP, BLAS, HDF5, MPI and ISA-L and prints what it found.
#   make            library (build/libscfm.a) and tool (build/scfm)
#   make test       build and run every test (tests/run_tests.sh)
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make asan-unit  only the C tests and fuzz regression replays under ASan + UBSan
#   make bench      benchmark binaries (bench/)
#   make fuzz       libFuzzer targets (clang) built in build-fuzz/, each run FUZZ_SECONDS (tests/fuzz/run.sh)
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  ?=
SAN     ?=
BASE_CFLAGS := -std=c11 -Wall -Wextra -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP $(OPT) $(SAN)
LDLIBS  := -lz -lm
comma   := ,

# --- OpenMP -------------------------------------------------------------------------
HAVE_OPENMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1)
ifeq ($(HAVE_OPENMP),1)
  BASE_CFLAGS += -fopenmp -DSCFM_HAVE_OPENMP
  LDLIBS += -fopenmp
endif
# --- BLAS (prefer the OpenMP build of OpenBLAS: one threading runtime) ---------------
BLAS_DIR := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp))
HAVE_BLAS := $(shell test -f /usr/include/x86_64-linux-gnu/cblas.h -o -f /usr/include/cblas.h -o -f /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h && echo 1)
ifeq ($(HAVE_BLAS),1)
  BASE_CFLAGS += -DSCFM_HAVE_BLAS $(if $(BLAS_DIR),-I/usr/include/x86_64-linux-gnu/openblas-openmp,)
  LDLIBS += $(if $(BLAS_DIR),-L$(BLAS_DIR) -Wl$(comma)-rpath$(comma)$(BLAS_DIR),) -lopenblas
endif
# --- oneDNN (run-time CPU dispatch for the matrix products; Debian libdnnl-dev, OpenMP build) ---
HAVE_DNNL := $(shell test -f /usr/include/dnnl.h && echo 'int main(void){return 0;}' | $(CC) -x c - -ldnnl -o /dev/null 2>/dev/null && echo 1)
ifeq ($(HAVE_DNNL),1)
  BASE_CFLAGS += -DSCFM_HAVE_DNNL
  LDLIBS += -ldnnl
endif
# --- HDF5 ---------------------------------------------------------------------------
HDF5_CFLAGS := $(shell pkg-config --cflags hdf5 2>/dev/null)
HDF5_LIBS   := $(shell pkg-config --libs hdf5 2>/dev/null)
HAVE_HDF5 := $(if $(HDF5_LIBS),1,)
ifeq ($(HAVE_HDF5),1)
  BASE_CFLAGS += -DSCFM_HAVE_HDF5 $(HDF5_CFLAGS)
  LDLIBS += $(HDF5_LIBS)
endif
# --- MPI ----------------------------------------------------------------------------
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
HAVE_MPI := $(if $(MPI_LIBS),1,)
ifeq ($(HAVE_MPI),1)
  BASE_CFLAGS += -DSCFM_HAVE_MPI $(MPI_CFLAGS)
  LDLIBS += $(MPI_LIBS)
endif

# --- ISA-L (fast gzip inflate for mtx/tsv inputs; zlib is used without it) ----------
HAVE_ISAL := $(shell test -f /usr/include/isa-l/igzip_lib.h && echo 1)
ifeq ($(HAVE_ISAL),1)
  BASE_CFLAGS += -DSCFM_HAVE_ISAL
  LDLIBS += -lisal
endif

ALL_CFLAGS := $(BASE_CFLAGS) $(CFLAGS)

LIB_SRC  := $(sort $(wildcard src/*/*.c))
TOOL_SRC := $(sort $(wildcard tools/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC:= $(sort $(wildcard bench/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz/replay_%)
FUZZ_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TOOL_OBJ := $(TOOL_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN:= $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
LIB      := $(BUILD)/libscfm.a
TOOL     := $(BUILD)/scfm

.PHONY: all test asan asan-unit bench clean features fuzz fuzz-targets
all: features $(TOOL) $(TEST_BIN) $(REPLAY_BIN)

features:
	@echo "scfm build: OpenMP=$(or $(HAVE_OPENMP),no) BLAS=$(or $(HAVE_BLAS),no)$(if $(BLAS_DIR), ($(BLAS_DIR)),) oneDNN=$(or $(HAVE_DNNL),no) HDF5=$(or $(HAVE_HDF5),no) MPI=$(or $(HAVE_MPI),no) ISA-L=$(or $(HAVE_ISAL),no) SAN=$(or $(SAN),none)"

# Objects depend on the flags they were built with: when a probe result changes (say MPI
# or HDF5 got installed), $(BUILD)/flags changes and everything is rebuilt.
FLAGS_FILE := $(BUILD)/flags
$(shell mkdir -p $(BUILD) && echo '$(CC) $(ALL_CFLAGS) $(LDLIBS)' | cmp -s - $(FLAGS_FILE) || echo '$(CC) $(ALL_CFLAGS) $(LDLIBS)' > $(FLAGS_FILE))

$(BUILD)/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(TOOL): $(TOOL_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(TOOL_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB) tests/testutil.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $< $(LIB) $(LDLIBS) -o $@

test: all
	SCFM_BUILD=$(BUILD) bash tests/run_tests.sh

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

# The C tests and the fuzz regression replays under ASan + UBSan (the part of `make asan`
# that fits in CI: see docs/robustness.md).
asan-unit:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all
	SCFM_BUILD=build-asan SCFM_TEST_FILTER='^(test_|cli/fuzz_regress$$)' bash tests/run_tests.sh

bench: $(TOOL) $(BENCH_BIN)

# Fuzz targets: replay_<name> (any compiler; replays files, run by the test suite) and
# fuzz_<name> (libFuzzer: built by tests/fuzz/run.sh with clang into build-fuzz/).
$(BUILD)/fuzz/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz_util.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/fuzz $< tests/fuzz/replay.c $(LIB) $(LDLIBS) -o $@

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -Itests/fuzz $< $(LIB) $(LDLIBS) -o $@

fuzz-targets: $(FUZZ_BIN)

FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d)
