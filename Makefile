# libmlcl — top-level Makefile.
#
#   make                 build lib/libmlcl.so.1.x.y, lib/libmlcl.a and the examples
#   make check           install missing Debian packages, build, run every test
#   make train           install missing packages, build, run mlcl-train's default job
#   make install PREFIX=/usr/local DESTDIR=
#   make docs            API reference (Doxygen); fails on undocumented public API
#   make bench           side-by-side benchmarks against PyTorch
#   make abi-dump        write the ABI baseline abi/libmlcl.abi (abidw), checked by make check

MAJOR := $(shell sed -n 's/^\#define MLCL_VERSION_MAJOR \([0-9]*\)/\1/p' include/mlcl/core.h)
MINOR := $(shell sed -n 's/^\#define MLCL_VERSION_MINOR \([0-9]*\)/\1/p' include/mlcl/core.h)
PATCH := $(shell sed -n 's/^\#define MLCL_VERSION_PATCH \([0-9]*\)/\1/p' include/mlcl/core.h)
VERSION := $(MAJOR).$(MINOR).$(PATCH)

BUILD ?= build
LIBOUT ?= lib
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
DESTDIR ?=
# Debian's python3 reads /usr/lib/python3/dist-packages and /usr/local/lib/python3.X/dist-packages
PYVER := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)
PYDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYVER)/dist-packages)

CC ?= cc
CXX ?= c++
PYTHON ?= /usr/bin/python3
OPT ?= -O2
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
# -MMD -MP: each compile writes the headers it read to a .d file beside its
# output (included at the end of this Makefile), so an object is rebuilt when,
# and only when, a header it includes changes
DEPFLAGS = -MMD -MP -MF $@.d
CFLAGS_LIB := -std=c11 $(OPT) -g -fPIC -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
	-D_GNU_SOURCE -pthread -Iinclude -Isrc -I$(BUILD)/gen $(BLAS_CFLAGS) $(READER_CFLAGS) $(EXTRA_CFLAGS)
# image and annotation readers: libjpeg-turbo, libpng, jansson (src/data/imagefile.c, manifest.c);
# protobuf-c for the ONNX export (src/model/onnx.c)
READER_CFLAGS := $(shell pkg-config --cflags libturbojpeg libpng jansson libprotobuf-c 2>/dev/null)
READER_LIBS := $(shell pkg-config --libs libturbojpeg libpng jansson libprotobuf-c 2>/dev/null || echo -lturbojpeg -lpng16 -ljansson -lprotobuf-c)
LIBS := $(BLAS_LIBS) -ldnnl $(READER_LIBS) -lz -lm -lpthread
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

SRCS := $(sort $(wildcard src/*/*.c))
OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(SRCS))
# ONNX export (src/model/onnx.c): protoc-c compiles ONNX's onnx.proto (a copy of
# python3-onnx's, Apache-2.0) into $(BUILD)/gen/onnx/ at build time, so that the
# generated code always matches the installed libprotobuf-c
ONNX_GEN := $(BUILD)/gen/onnx
OBJS += $(BUILD)/obj/model/onnx.pb-c.o
SONAME := libmlcl.so.$(MAJOR)
SHLIB := $(LIBOUT)/libmlcl.so.$(VERSION)
STLIB := $(LIBOUT)/libmlcl.a

# examples/mosaic.c is not a program: the Fashion-MNIST mosaic generator
# (example-local code) compiled into mlcl-train and mlcl-predict
EXAMPLE_SRCS := $(filter-out examples/mosaic.c,$(wildcard examples/*.c))
EXAMPLES := $(patsubst examples/%.c,bin/%,$(EXAMPLE_SRCS))
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

.PHONY: all lib examples deps deps-bench check check-run check-c check-headers check-abi check-layers \
	check-python check-consumers train install uninstall docs bench bench-build clean abi-dump

# libmlcl_mpi (mk/mpi.mk) is built with the rest when MPI's compiler wrapper is installed
HAVE_MPICC := $(shell command -v mpicc >/dev/null 2>&1 && echo yes)
all: lib examples $(if $(HAVE_MPICC),mpi)

lib: $(SHLIB) $(LIBOUT)/$(SONAME) $(LIBOUT)/libmlcl.so $(STLIB)

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) $(DEPFLAGS) -c $< -o $@

$(ONNX_GEN)/onnx.pb-c.c $(ONNX_GEN)/onnx.pb-c.h &: src/model/onnx/onnx.proto
	@mkdir -p $(ONNX_GEN)
	protoc-c --c_out=$(ONNX_GEN) --proto_path=src/model/onnx src/model/onnx/onnx.proto

$(BUILD)/obj/model/onnx.pb-c.o: $(ONNX_GEN)/onnx.pb-c.c $(ONNX_GEN)/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_LIB) $(DEPFLAGS) -c $< -o $@

# the generated header must exist before the first compile of onnx.c (its .d
# file, which names it, is written by that compile)
$(BUILD)/obj/model/onnx.o: $(ONNX_GEN)/onnx.pb-c.h

$(SHLIB): $(OBJS) src/mlcl.map
	@mkdir -p $(LIBOUT)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=src/mlcl.map -Wl,--no-undefined \
		-o $@ $(OBJS) $(LIBS) -pthread $(EXTRA_CFLAGS)

$(LIBOUT)/$(SONAME): $(SHLIB)
	ln -sf $(notdir $(SHLIB)) $@
$(LIBOUT)/libmlcl.so: $(LIBOUT)/$(SONAME)
	ln -sf $(SONAME) $@

$(STLIB): $(OBJS)
	@mkdir -p $(LIBOUT)
	rm -f $@
	ar rcs $@ $(OBJS)

examples: $(EXAMPLES)

EXAMPLE_CFLAGS = -std=c11 $(OPT) -g -Wall -Wextra -D_GNU_SOURCE -MMD -MP -MF $(BUILD)/dep/$@.d -Iinclude
EXAMPLE_LIBS := -Llib -lmlcl -Wl,-rpath,'$$ORIGIN/../lib' -lm
# mlcl-train and mlcl-predict write their JSON with jansson
JSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)

bin/%: examples/%.c $(SHLIB) lib/libmlcl.so
	@mkdir -p bin $(BUILD)/dep/bin
	$(CC) $(EXAMPLE_CFLAGS) $< -o $@ $(EXAMPLE_LIBS)

# mlcl-train: main in examples/mlcl-train.c, its modules in examples/cli/ (program-local);
# mlcl-predict shares their JSON writer (examples/cli/json.c)
CLI_SRCS := $(sort $(wildcard examples/cli/*.c))
# the Fashion-MNIST mosaic generator of the default job (examples/mosaic.[ch]) is compiled into both
# (one compiler call for several sources: -MMD would keep one file's headers, so the headers are listed)
bin/mlcl-train: examples/mlcl-train.c $(CLI_SRCS) $(wildcard examples/cli/*.h) examples/mosaic.c examples/mosaic.h $(SHLIB) lib/libmlcl.so $(wildcard include/mlcl/*.h) include/mlcl.h
	@mkdir -p bin
	$(CC) -std=c11 $(OPT) -g -Wall -Wextra -D_GNU_SOURCE -Iinclude $(JSON_CFLAGS) examples/mlcl-train.c $(CLI_SRCS) examples/mosaic.c -o $@ $(EXAMPLE_LIBS) $(JSON_LIBS)

bin/mlcl-predict: examples/mlcl-predict.c examples/cli/json.c examples/cli/json.h examples/mosaic.c examples/mosaic.h $(SHLIB) lib/libmlcl.so $(wildcard include/mlcl/*.h) include/mlcl.h
	@mkdir -p bin
	$(CC) -std=c11 $(OPT) -g -Wall -Wextra -D_GNU_SOURCE -Iinclude $(JSON_CFLAGS) examples/mlcl-predict.c examples/cli/json.c examples/mosaic.c -o $@ $(EXAMPLE_LIBS) $(JSON_LIBS)

# ---------------------------------------------------------------- set-up
deps:
	@sh tools/deps.sh

deps-bench:
	@sh tools/deps.sh bench

# ---------------------------------------------------------------- tests
# `check` installs what is missing first, then re-reads this Makefile so the
# pkg-config queries above see the installed packages.
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory check-run

check-run: check-headers check-abi check-layers check-c check-python check-consumers check-asan check-scripts check-mpi
	@echo "== all tests passed =="

$(BUILD)/tests/%: tests/%.c $(STLIB)
	@mkdir -p $(BUILD)/tests
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE $(DEPFLAGS) -Iinclude -Isrc -Itests $(BLAS_CFLAGS) $(CHECK_CFLAGS) \
		$(EXTRA_CFLAGS) $< -o $@ $(STLIB) $(CHECK_LIBS) $(LIBS) -pthread

# Yeast/Scene for the tests: ../shared/data when present, else the copy in tests/data/mulan
DATA_DIR ?= $(firstword $(wildcard $(abspath $(CURDIR)/../shared/data)) $(CURDIR)/tests/data/mulan)
export MLCL_DATA_DIR := $(DATA_DIR)

check-c: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== $$t"; CK_FORK=yes $$t; done

check-headers:
	@sh tests/headers.sh "$(CC)" "$(CXX)"

# the #include lines of src/*/ and include/mlcl/ follow the layer table of
# docs/architecture.md
check-layers:
	@sh tests/layers.sh

# check-abi: the exported symbols equal the MLCL_API declarations (tests/abi.sh)
# and, once a baseline abi/libmlcl.abi is committed, the library is compatible
# with it (abidiff: additions only; tests/abicompat.sh, docs/abi.md).
# abi-dump: (re)writes that baseline with abidw from the library just built.
ABI_BASELINE := abi/libmlcl.abi
check-abi: lib
	@sh tests/abi.sh $(SHLIB)
	@sh tests/abicompat.sh $(ABI_BASELINE) $(LIBOUT)/$(SONAME) include

abi-dump: lib
	@mkdir -p $(dir $(ABI_BASELINE))
	abidw --headers-dir include --drop-private-types --no-corpus-path --out-file $(ABI_BASELINE) $(LIBOUT)/$(SONAME)
	@echo "abi-dump: wrote $(ABI_BASELINE) for $(SONAME) $(VERSION)"

check-python: lib
	@if [ -d bindings/python/tests ]; then \
		echo "== python tests"; \
		MLCL_LIBRARY=$(abspath $(LIBOUT))/$(SONAME) PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) -m pytest -q -p no:cacheprovider bindings/python/tests; \
	fi

check-consumers: lib
	@sh tests/consumers.sh "$(CC)" "$(CXX)"

# ---------------------------------------------------------------- reliability
# check-asan: the Check suites and the Python tests against a library built
# with AddressSanitizer + UBSan (separate build directory ASAN_BUILD).
# check-valgrind: memcheck over the Check suites (CK_FORK=no; not part of check).
# check-scripts: script tests (SIGTERM -> final checkpoint -> bit-identical --resume).
# fuzz: libFuzzer targets tests/fuzz/fuzz_*.c (Debian clang + libclang-rt-14-dev),
# each run FUZZ_SECONDS on tests/fuzz/corpus/<target> plus a working corpus in
# FUZZ_BUILD/corpus; crashes are written to FUZZ_BUILD/crash-<target>-*.
ASAN_BUILD ?= $(BUILD)/asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
.PHONY: check-asan check-asan-c check-asan-python check-valgrind check-scripts fuzz fuzz-build

check-asan: check-asan-c check-asan-python

check-asan-c:
	@$(SAN_ENV) MLCL_SANITIZED=1 $(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) LIBOUT=$(ASAN_BUILD)/lib \
		OPT=-O1 EXTRA_CFLAGS="$(SAN_FLAGS)" check-c

check-asan-python:
	@$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) LIBOUT=$(ASAN_BUILD)/lib OPT=-O1 EXTRA_CFLAGS="$(SAN_FLAGS)" lib
	@if [ -d bindings/python/tests ]; then \
		echo "== python tests (ASan/UBSan library)"; \
		LD_PRELOAD=$$($(CC) -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		MLCL_LIBRARY=$(abspath $(ASAN_BUILD)/lib)/$(SONAME) PYTHONPATH=$(CURDIR)/bindings/python \
		$(PYTHON) -m pytest -q -p no:cacheprovider bindings/python/tests; \
	fi

check-valgrind: $(TESTS)
	@set -e; for t in $(TESTS); do echo "== valgrind $$t"; \
		CK_FORK=no MLCL_VALGRIND=1 valgrind -q --error-exitcode=1 --leak-check=full \
		--errors-for-leak-kinds=definite --show-leak-kinds=definite $$t; done

# every tests/scripts/*.sh runs with MLCL_BIN (the built programs) and MLCL_TRAIN set
check-scripts: examples
	@set -e; for s in tests/scripts/*.sh; do echo "== $$s"; \
		MLCL_BIN=$(CURDIR)/bin MLCL_TRAIN=$(CURDIR)/bin/mlcl-train sh $$s; done

FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BUILD ?= $(BUILD)/fuzz
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) LIBOUT=$(FUZZ_BUILD)/lib CC=clang OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		$(FUZZ_BUILD)/lib/libmlcl.a
	@for t in $(FUZZ_TARGETS); do \
		clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iinclude -Isrc \
		tests/fuzz/fuzz_$$t.c -o $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_BUILD)/lib/libmlcl.a $(LIBS) -pthread || exit 1; done

fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
		$(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix=$(FUZZ_BUILD)/crash-$$t- $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t; done

# ---------------------------------------------------------------- main job
train: deps
	@$(MAKE) --no-print-directory all
	./bin/mlcl-train $(ARGS)

# ---------------------------------------------------------------- install
install: lib $(if $(HAVE_MPICC),install-mpi)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/mlcl $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 644 include/mlcl.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/mlcl/*.h $(DESTDIR)$(INCLUDEDIR)/mlcl/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmlcl.so
	install -m 644 $(STLIB) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' pkgconfig/mlcl.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/mlcl.pc
	@for p in mlcl-train mlcl-predict; do if [ -x bin/$$p ]; then install -m 755 bin/$$p $(DESTDIR)$(BINDIR)/; fi; done
	@if ls bindings/python/mlcl/*.py >/dev/null 2>&1; then \
		PYDIR=$(DESTDIR)$(PYDIR); install -d $$PYDIR/mlcl; \
		install -m 644 bindings/python/mlcl/*.py $$PYDIR/mlcl/; \
		printf '"""Written by make install: where it put libmlcl.so.1 (mlcl/_lib.py)."""\nLIBDIR = %s\n' \
			"'$(LIBDIR)'" > $$PYDIR/mlcl/_install.py; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmlcl.* $(DESTDIR)$(LIBDIR)/pkgconfig/mlcl.pc $(DESTDIR)$(BINDIR)/mlcl-train \
		$(DESTDIR)$(BINDIR)/mlcl-predict
	rm -rf $(DESTDIR)$(INCLUDEDIR)/mlcl $(DESTDIR)$(INCLUDEDIR)/mlcl.h $(DESTDIR)$(PYDIR)/mlcl

# ---------------------------------------------------------------- docs, bench
docs: deps
	@sh docs/make-reference.sh

BENCH_SRCS := $(wildcard bench/*.c)
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRCS))
$(BUILD)/bench/%: bench/%.c $(STLIB)
	@mkdir -p $(BUILD)/bench
	$(CC) -std=c11 -O2 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE $(DEPFLAGS) -Iinclude -Isrc $(BLAS_CFLAGS) \
		$< -o $@ $(STLIB) $(LIBS) -pthread
# bench/lib/gemmtrace.c is not a program: an LD_PRELOAD shim logging the library's
# BLAS calls for bench/roofline (docs/perf/roofline.md)
$(BUILD)/bench/gemmtrace.so: bench/lib/gemmtrace.c
	@mkdir -p $(BUILD)/bench
	$(CC) -std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -fPIC -shared $(BLAS_CFLAGS) $< -o $@ -ldl -pthread
bench-build: $(BENCHES) $(BUILD)/bench/gemmtrace.so

bench: deps-bench
	@$(MAKE) --no-print-directory all bench-build
	@sh bench/run.sh

clean:
	rm -rf build lib/*.so* lib/*.a bin docs/reference

include mk/mpi.mk

# the header dependencies written by -MMD (absent before the first build)
-include $(wildcard $(BUILD)/obj/*/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d $(BUILD)/dep/bin/*.d)
