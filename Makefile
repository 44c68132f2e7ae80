# drum — one entry point. `make` builds libdrum.a, the drum CLI and the tests;
# `make test`, `make asan`, `make bench`, `make demo`. CUDA=auto|0|1 (auto: build the
# CUDA backend when nvcc is on PATH or in $(CUDA_HOME)/bin). Warnings are errors.
CUDA ?= auto
BUILD ?= build
CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls $(CUDA_HOME)/bin/nvcc 2>/dev/null)
# sm_80 (A100) and sm_90 (H100/H200) SASS, plus sm_90 PTX for newer cards.
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]

ifeq ($(CUDA),auto)
  ifneq ($(NVCC),)
    USE_CUDA := 1
  else
    USE_CUDA := 0
  endif
else
  USE_CUDA := $(CUDA)
endif

CC ?= gcc
OPT ?= -O2
SAN ?=
# OpenBLAS built on OpenMP, so its GEMM threads and drum's ops share one thread pool
# (the pthread build spins its own threads against OpenMP's: the demo ran ~2x slower).
# Debian's multiarch directories: x86_64-linux-gnu here, aarch64-linux-gnu on Grace.
ifndef MULTIARCH
  MULTIARCH := $(or $(shell $(CC) -print-multiarch 2>/dev/null),x86_64-linux-gnu)
endif
OPENBLAS_DIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
OPENBLAS_INC ?= /usr/include/$(MULTIARCH)/openblas-openmp
CFLAGS := -std=c11 $(OPT) -g -fopenmp -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
          -Wno-unused-parameter -Iinclude -Isrc -I$(OPENBLAS_INC) -MMD -MP $(SAN)
LDLIBS := -L$(OPENBLAS_DIR) -Wl,-rpath,$(OPENBLAS_DIR) -lopenblas -lyaml -lutf8proc -lcjson -lm
LDFLAGS := -fopenmp $(SAN)

LIB_C := $(wildcard kernels/cpu/*.c) $(filter-out src/cli/% src/core/nocuda.c src/core/nompi.c src/core/comm_mpi.c src/core/comm_nccl.c src/core/nonccl.c,$(shell find src -name '*.c'))
ifeq ($(USE_CUDA),1)
  LIB_CU := $(wildcard kernels/cuda/*.cu)
  NVFLAGS := -std=c++17 -O3 $(CUDA_ARCH) -Iinclude -Isrc -Ikernels/cuda -MMD -MP \
             -Xcompiler -Wall,-Wextra,-Werror,-Wno-unused-parameter,-fPIC --expt-relaxed-constexpr
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
  CFLAGS += -DDRUM_HAVE_CUDA=1 -I$(CUDA_HOME)/include
else
  LIB_CU :=
  LIB_C += src/core/nocuda.c
endif

# MPI=auto|0|1 (auto: with MPI when Open MPI's mpicc is on PATH). Only comm_mpi.c includes
# mpi.h; without MPI, nompi.c stands in and data-parallel runs say how to get it.
MPI ?= auto
MPICC ?= $(shell command -v mpicc 2>/dev/null)
ifeq ($(MPI),auto)
  USE_MPI := $(if $(MPICC),1,0)
else
  USE_MPI := $(MPI)
endif
ifeq ($(USE_MPI),1)
  LIB_C += src/core/comm_mpi.c
  MPI_CFLAGS := $(shell $(MPICC) --showme:compile)
  LDLIBS += $(shell $(MPICC) --showme:link)
  $(BUILD)/src/core/comm_mpi.o: CFLAGS += $(MPI_CFLAGS)
else
  LIB_C += src/core/nompi.c
endif

# The nccl communicator needs CUDA and nccl.h (the toolkit's or Debian's libnccl-dev); it
# dlopens libnccl.so.2 when a job asks for it, so nothing links NCCL. Else nonccl.c.
NCCL_H := $(firstword $(wildcard $(CUDA_HOME)/include/nccl.h /usr/include/nccl.h))
USE_NCCL := $(if $(filter 11,$(USE_CUDA)$(if $(NCCL_H),1,0)),1,0)
ifeq ($(USE_NCCL),1)
  LIB_C += src/core/comm_nccl.c
else
  LIB_C += src/core/nonccl.c
endif

LIB_OBJ := $(LIB_C:%.c=$(BUILD)/%.o) $(LIB_CU:%.cu=$(BUILD)/%.cu.o)
CLI_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/cli/*.c))
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_OPS_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/ops/*.c))
TEST_COMMON_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/common/*.c))
BENCH_SRC := $(wildcard tools/bench/*.c)
BENCH_BIN := $(BENCH_SRC:tools/bench/%.c=$(BUILD)/bench/%)
# Whole-archive so every op file lands in the binaries even when only the table names it.
LINK_LIB := -Wl,--whole-archive $(BUILD)/libdrum.a -Wl,--no-whole-archive

.PHONY: all test asan bench demo clean fuzz fuzz-run FORCE
# Keep the objects of the test and benchmark binaries (make would delete them as
# intermediates, rebuild them next time and print the removal after the test summary).
# Only the objects: a bare .SECONDARY: made every target secondary, and make then never
# built the missing configuration stamp below, so switching CUDA= or MPI= did nothing.
.PRECIOUS: $(BUILD)/%.o
# With CUDA, test_trace records drum's NVTX ranges through this injection library.
NVTX_RECORD := $(if $(filter 1,$(USE_CUDA)),$(BUILD)/tests/libnvtx_record.so)
# test_alloc_fail preloads this to fail drum's allocations one at a time.
ALLOC_FAIL := $(BUILD)/tests/liballoc_fail.so
all: $(BUILD)/libdrum.a $(BUILD)/drum $(TEST_BIN) $(BENCH_BIN) $(NVTX_RECORD) $(ALLOC_FAIL)

# Objects differ with and without CUDA (-DDRUM_HAVE_CUDA), and the library's members with
# MPI and NCCL (comm_mpi.o or nompi.o, comm_nccl.o or nonccl.o), and with the compilers and
# their flags (OPT, SAN, CC, CUDA_ARCH, ...): switching any of them in one build tree starts
# it afresh instead of linking stale objects.
FLAGS_ID := $(shell printf '%s' '$(CC) $(CFLAGS) $(NVCC) $(NVFLAGS) $(LDFLAGS)' | cksum | cut -d' ' -f1)
CONFIG_STAMP := $(BUILD)/.config-cuda$(USE_CUDA)-mpi$(USE_MPI)-nccl$(USE_NCCL)-$(FLAGS_ID)
$(CONFIG_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.config-* $(BUILD)/.cuda-* $(BUILD)/libdrum.a
	@find $(BUILD) -name '*.o' -delete
	@touch $@

# The source revision (drum_source_revision, drum.h) goes into revision.o alone; its stamp
# file changes only when the revision does, so a commit rebuilds that one object. Only this
# directory's own checkout counts: a copy unpacked inside another repository is "unknown".
REVISION := $(shell [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(realpath $(CURDIR))" ] \
              && git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
REVISION_STAMP := $(BUILD)/.revision
$(REVISION_STAMP): FORCE
	@mkdir -p $(BUILD)
	@[ "$$(cat $@ 2>/dev/null)" = "$(REVISION)" ] || echo "$(REVISION)" > $@
$(BUILD)/src/core/revision.o: $(REVISION_STAMP)
$(BUILD)/src/core/revision.o: CFLAGS += -DDRUM_REVISION='"$(REVISION)"'
FORCE:

# drum_expf_array spells out which of glibc's expf operations are fused (include/drum/expf.h);
# the compiler must fuse nothing else there.
$(BUILD)/kernels/cpu/expf.o: CFLAGS += -ffp-contract=off

$(BUILD)/%.o: %.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.cu.o: %.cu $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@

$(BUILD)/libdrum.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/drum: $(CLI_OBJ) $(BUILD)/libdrum.a
	$(CC) $(LDFLAGS) $(CLI_OBJ) $(LINK_LIB) $(LDLIBS) -o $@

$(BUILD)/tests/test_ops: $(BUILD)/tests/test_ops.o $(TEST_OPS_OBJ) $(TEST_COMMON_OBJ) $(BUILD)/libdrum.a
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(LINK_LIB) $(LDLIBS) -o $@

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON_OBJ) $(BUILD)/libdrum.a
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(LINK_LIB) $(LDLIBS) -o $@

$(BUILD)/tests/libnvtx_record.so: tests/fixtures/nvtx_record.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared $< -o $@ -lpthread

# Built without SAN: it replaces malloc, which a sanitizer's runtime owns (the test skips there).
$(ALLOC_FAIL): tests/fixtures/alloc_fail.c $(CONFIG_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared $< -o $@ -ldl

$(BUILD)/bench/%: $(BUILD)/tools/bench/%.o $(TEST_COMMON_OBJ) $(BUILD)/libdrum.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(LINK_LIB) $(LDLIBS) -o $@

# The README's test command. Every test binary runs; the last line sums them.
test: all
	@BUILD=$(BUILD) bash tests/run.sh

# The suite under AddressSanitizer + UBSan, CPU backend only, in its own build tree.
asan:
	$(MAKE) BUILD=build-asan CUDA=0 OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# `make fuzz`: libFuzzer harnesses over the parsers of files users hand drum (tools/fuzz/),
# built with clang, ASan and UBSan in build-fuzz/ (needs clang and libomp-dev). Each runs
# FUZZ_SECONDS from its seed corpus (tools/fuzz/corpus/NAME/; what it finds is kept in
# build-fuzz/corpus/NAME/); a crash stops it and leaves the input in build-fuzz/crashes/.
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(patsubst tools/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tools/fuzz/fuzz_*.c))
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang CUDA=0 MPI=0 OPT=-O1 \
	  SAN="-fsanitize=address,undefined,fuzzer-no-link -fno-omit-frame-pointer -Wno-pass-failed" fuzz-run

$(BUILD)/fuzz/%: $(BUILD)/tools/fuzz/%.o $(BUILD)/libdrum.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $< $(BUILD)/libdrum.a $(LDLIBS) -o $@

fuzz-run: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/crashes
	@for f in $(FUZZ_BIN); do n=$${f##*/}; mkdir -p $(BUILD)/corpus/$$n tools/fuzz/corpus/$$n; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/crashes/$$n- $(BUILD)/corpus/$$n tools/fuzz/corpus/$$n \
	    >$(BUILD)/fuzz/$$n.log 2>&1 || { tail -n 60 $(BUILD)/fuzz/$$n.log; exit 1; }; \
	  echo "$$n: $$(grep -m1 -oE 'number_of_executed_units: *[0-9]+' $(BUILD)/fuzz/$$n.log | grep -oE '[0-9]+') runs in $(FUZZ_SECONDS) s, \
	$$(ls $(BUILD)/corpus/$$n | wc -l) corpus inputs, no crash"; done

bench: all
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# DEMO_ARGS: options for drum demo, e.g. DEMO_ARGS=--resume after a Ctrl-C
demo: $(BUILD)/drum
	$(BUILD)/drum demo $(DEMO_ARGS)

clean:
	rm -rf build build-asan build-fuzz build-nocuda

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
