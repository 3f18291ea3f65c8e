EXTENSION = fann fann_vector fann_shards
EXTVERSION = 1.0

MODULE_big = fann
OBJS = src/fann.o src/options.o src/values.o src/filters.o src/distance.o src/quant.o src/page.o src/labels.o \
	src/candidates.o src/keep.o src/exact.o src/graphscan.o src/ivfscan.o src/scan.o \
	src/vamana.o src/ung.o src/kmeans.o src/lira.o \
	src/build.o src/buildstream.o src/graphcal.o src/insert.o src/graph.o src/ivf.o src/ivfcal.o src/vacuum.o \
	src/cost.o src/planner.o src/validate.o src/verify.o
HEADERS = src/fann.h

DATA = fann--1.0.sql fann_vector--1.0.sql fann_shards--1.0.sql

TESTS = $(sort $(wildcard sql/*.sql))
REGRESS = $(patsubst sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=. --load-extension=fann

TAP_TESTS = 1

# -O3 for the scan loops; the SIMD kernels pick their ISA per function
PG_CFLAGS = -O3 -fopenmp
# quant.c's bound loops vectorise only with sqrt free to set no errno
src/quant.o: override CFLAGS += -fno-math-errno
SHLIB_LINK = -fopenmp -lm

# no JIT bitcode: it would need clang on every machine that builds fann
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# every object depends on the shared headers (PGXS tracks no dependencies)
$(OBJS): $(wildcard src/*.h)

# a VPATH build (Debian's pg_buildext) writes the objects under src/ there too
ifdef VPATH
$(shell mkdir -p src)
endif
