# labbook — build, install, test and demo.
#
#   make demo   installs missing Debian packages, builds, installs the kernelspec, runs a
#               reference notebook headless and writes its HTML
#   make test   installs missing packages, builds (also an ASan+UBSan variant) and runs
#               every test suite; the last line is "N passed, N failed"
#   make deps | all | install | clean
#
# `deps` is a no-op when everything is installed; otherwise it apt-gets what is missing.
# Targets that need the packages call `deps` first and then re-enter make, so that
# pkg-config runs only once the packages are there.

PREFIX   ?= /usr/local
DESTDIR  ?=
PYTHON   := /usr/bin/python3
CC       ?= gcc
ifeq ($(origin CC),default)
CC       := gcc
endif

PKGS     := libzmq jansson openblas uuid libcrypto cairo zlib
DEB_PKGS := gcc make pkg-config libzmq3-dev libjansson-dev libopenblas-dev uuid-dev libssl-dev \
            libcairo2-dev fonts-dejavu-core zlib1g-dev python3-jupyter-client \
            python3-jupyter-kernel-test python3-nbclient python3-nbconvert jupyter-notebook \
            jupyter-console python3-ipykernel python3-torch dataset-fashion-mnist

# Recursive (=) so that pkg-config is only asked when a compile actually needs it.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
LB_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -fPIC -Ikernel -Iops $(PKG_CFLAGS) $(CFLAGS)
LB_LIBS   = $(PKG_LIBS) -lm -ldl -pthread
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

B        := build
KERNEL_SRC := $(filter-out kernel/main.c,$(wildcard kernel/*.c))
OPS_SRC    := $(wildcard ops/*.c)
LIB_SRC    := $(KERNEL_SRC) $(OPS_SRC)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
HEADERS    := $(wildcard kernel/*.h ops/*.h)

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/obj/%.o)
SAN_OBJ    := $(LIB_SRC:%.c=$(B)/asan/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
SAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)

.PHONY: all deps build build-asan test install demo clean

all: deps
	@$(MAKE) --no-print-directory build

build: $(B)/labbook $(UNIT_BIN)

build-asan: $(B)/asan/labbook $(SAN_UNIT_BIN)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "labbook: installing missing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(B)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LB_CFLAGS) -c $< -o $@

$(B)/asan/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(LB_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(B)/labbook: $(B)/obj/kernel/main.o $(LIB_OBJ)
	$(CC) $(LB_CFLAGS) -rdynamic -o $@ $^ $(LB_LIBS)

$(B)/asan/labbook: $(B)/asan/obj/kernel/main.o $(SAN_OBJ)
	$(CC) $(LB_CFLAGS) $(SAN_FLAGS) -rdynamic -o $@ $^ $(LB_LIBS)

$(B)/tests/%: tests/unit/%.c tests/unit/check.h $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LB_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LB_LIBS)

$(B)/asan/tests/%: tests/unit/%.c tests/unit/check.h $(SAN_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LB_CFLAGS) -O1 $(SAN_FLAGS) -Itests/unit -o $@ $< $(SAN_OBJ) $(LB_LIBS)

test: deps
	@$(MAKE) --no-print-directory build build-asan
	@$(PYTHON) tests/run.py

install: deps
	@$(MAKE) --no-print-directory build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(B)/labbook $(DESTDIR)$(PREFIX)/bin/labbook
	$(DESTDIR)$(PREFIX)/bin/labbook install --prefix $(DESTDIR)$(PREFIX) --exe $(PREFIX)/bin/labbook

demo: install
	@mkdir -p $(B)/demo
	@echo "labbook: executing notebooks/quickstart.ipynb with the installed kernel..."
	$(PYTHON) -m nbconvert --to html --execute --ExecutePreprocessor.kernel_name=labbook \
	    --ExecutePreprocessor.timeout=900 --output-dir $(B)/demo notebooks/quickstart.ipynb
	@echo
	@echo "labbook demo: $(CURDIR)/$(B)/demo/quickstart.html"

clean:
	rm -rf $(B)
