# libmlcl_mpi: data-parallel training over MPI (docs/distributed.md).
# Included from the top-level Makefile. libmlcl itself never links MPI.
#
#   make mpi          $(LIBOUT)/libmlcl_mpi.so.1 (needs mpicc: Debian libopenmpi-dev openmpi-bin)
#   make check-mpi    the equivalence test under mpirun -np 2 (part of check-run)
#   make install-mpi  library, header mlcl/mpi.h and mlcl-mpi.pc
#   make bench-mpi    1 vs 2 ranks, time per pretraining step (docs/distributed.md)

MPICC ?= mpicc
MPICXX ?= mpicxx
MPIRUN ?= mpirun
MPIRUN_FLAGS ?= --allow-run-as-root --oversubscribe
MPI_SONAME := libmlcl_mpi.so.$(MAJOR)
MPI_SHLIB := $(LIBOUT)/libmlcl_mpi.so.$(VERSION)
MPI_SRCS := $(wildcard src_mpi/*.c)
# the MPI library and its tests compile several sources in one command, where
# -MMD would keep the last one's headers only: the public headers are listed
MPI_HDRS := $(wildcard include/mlcl.h include/mlcl/*.h include_mpi/mlcl/*.h)
MPI_TEST_SRCS := $(wildcard tests/mpi/test_*.c)
MPI_TESTS := $(patsubst tests/mpi/%.c,$(BUILD)/mpi/%,$(MPI_TEST_SRCS))
MPI_ENV := OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
	OMPI_MCA_btl_vader_single_copy_mechanism=none

.PHONY: mpi check-mpi install-mpi bench-mpi

mpi: $(LIBOUT)/$(MPI_SONAME) $(LIBOUT)/libmlcl_mpi.so

$(MPI_SHLIB): $(MPI_SRCS) $(MPI_HDRS) $(wildcard src_mpi/*.h) src_mpi/mlcl_mpi.map $(SHLIB) $(LIBOUT)/libmlcl.so
	@mkdir -p $(LIBOUT)
	$(MPICC) -std=c11 $(OPT) -g -fPIC -fvisibility=hidden -Wall -Wextra -Werror -Iinclude -Iinclude_mpi \
		$(EXTRA_CFLAGS) -shared -Wl,-soname,$(MPI_SONAME) -Wl,--version-script=src_mpi/mlcl_mpi.map -Wl,--no-undefined \
		-o $@ $(MPI_SRCS) -L$(LIBOUT) -lmlcl -Wl,-rpath,'$$ORIGIN'
$(LIBOUT)/$(MPI_SONAME): $(MPI_SHLIB)
	ln -sf $(notdir $(MPI_SHLIB)) $@
$(LIBOUT)/libmlcl_mpi.so: $(LIBOUT)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $@

$(BUILD)/mpi/%: tests/mpi/%.c src_mpi/comm_mpi.c tests/testutil.h $(MPI_HDRS) $(STLIB) $(LIBOUT)/$(MPI_SONAME)
	@mkdir -p $(BUILD)/mpi
	$(MPICC) -std=c11 -O1 -g -Wall -Wextra -Wno-unused-parameter -D_GNU_SOURCE -Iinclude -Iinclude_mpi -Isrc -Itests \
		$(BLAS_CFLAGS) $(EXTRA_CFLAGS) $< -o $@ src_mpi/comm_mpi.c $(STLIB) $(LIBS) -pthread

# The MPI header compiles as C99 and C++ with the MPI wrappers; the equivalence
# tests run on 2 ranks (oversubscribed: the machine may have fewer cores).
check-mpi: $(MPI_TESTS) mpi
	@$(MPICC) -std=c99 -pedantic -Wall -Wextra -Werror -Iinclude -Iinclude_mpi -fsyntax-only -x c include_mpi/mlcl/mpi.h
	@$(MPICXX) -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX -x c++ -std=c++11 -pedantic -Wall -Wextra -Werror -Iinclude -Iinclude_mpi -fsyntax-only include_mpi/mlcl/mpi.h
	@set -e; for t in $(MPI_TESTS); do echo "== mpirun -np 2 $$t"; \
		$(MPI_ENV) timeout 300 $(MPIRUN) $(MPIRUN_FLAGS) -np 2 $$t; done

install-mpi: mpi
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/mlcl $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 755 $(MPI_SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(MPI_SHLIB)) $(DESTDIR)$(LIBDIR)/$(MPI_SONAME)
	ln -sf $(MPI_SONAME) $(DESTDIR)$(LIBDIR)/libmlcl_mpi.so
	install -m 644 include_mpi/mlcl/mpi.h $(DESTDIR)$(INCLUDEDIR)/mlcl/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' pkgconfig/mlcl-mpi.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/mlcl-mpi.pc

BENCH_MPI_STEPS ?= 60
bench-mpi: $(BUILD)/mpi/test_mpi_equiv
	@for np in 1 2; do $(MPI_ENV) $(MPIRUN) $(MPIRUN_FLAGS) -np $$np $(BUILD)/mpi/test_mpi_equiv --bench $(BENCH_MPI_STEPS); done
