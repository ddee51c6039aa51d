# labbook — build, install, test and demo.
#
#   make demo   installs missing Debian packages, builds, installs the kernelspec, runs a
#               reference notebook headless and writes its HTML
#   make test   installs missing packages, builds (also an ASan+UBSan variant and the fuzz
#               harnesses) and runs every test suite, each fuzz harness for a fixed number of
#               inputs; the last line is "N passed, N failed"
#   make fuzz   runs the libFuzzer harnesses of tests/fuzz for longer (FUZZ_SECONDS=60 each, or
#               FUZZ_RUNS=N inputs each; FUZZ_TARGETS="lang wire checkpoint"; tests/fuzz/README.md)
#   make deps | all | install | clean
#   make bench-train   training steps/s of the reference MLP and CNN, labbook vs PyTorch
#                      (bench/README.md; also bench-ops, bench-fashion, bench-cnn-lab, bench-before-after,
#                      bench-memory: the kernel's RSS over 10,000 cells,
#                      bench-rnn: an LSTM training step, the fused op vs nn.LSTM)
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

PKGS     := libzmq jansson openblas uuid libcrypto cairo freetype2 zlib
DEB_PKGS := gcc make pkg-config libzmq3-dev libjansson-dev libopenblas-dev uuid-dev libssl-dev \
            libcairo2-dev libfreetype-dev fonts-dejavu-core zlib1g-dev python3-jupyter-client \
            python3-jupyter-kernel-test python3-nbclient python3-nbconvert jupyter-notebook \
            jupyter-console python3-ipykernel python3-torch python3-sklearn dataset-fashion-mnist \
            clang-14 libclang-rt-14-dev

# Asked of pkg-config on first use only (after `deps` has run), then remembered.
PKG_CFLAGS = $(eval PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)

# `make V=1` shows whole command lines.
ifeq ($(V),1)
Q :=
else
Q := @
endif

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
LB_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -fPIC -Ikernel -Iops -Iplugins $(PKG_CFLAGS) $(CFLAGS)
# Plugins (plugins/NAME/*.c -> $(B)/plugins/NAME.so): compiled against the public header only
# (-Iplugins), never linked into the kernel; -z defs proves they need no kernel symbol.
PLUGIN_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -fPIC -fvisibility=hidden -Iplugins $(CFLAGS)
PLUGIN_LDFLAGS = -shared -Wl,-z,defs -lm
LB_CFLAGS += -DLB_PREFIX='"$(PREFIX)"' -DLB_BUILD_PLUGIN_DIR='"$(abspath $(B))/plugins"' \
             -DLB_TEST_PLUGIN_DIR='"$(abspath $(B))/testplugins"' -DLB_SOURCE_DIR='"$(CURDIR)"'
LB_LIBS   = $(PKG_LIBS) -lm -ldl -pthread
SAN_FLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

B        := build
# kernel/ is in rooms (spec/architecture.md): kernel/ROOM/*.c; cli/main.c is the program's entry.
KERNEL_SRC := $(filter-out kernel/cli/main.c,$(wildcard kernel/*/*.c))
OPS_SRC    := $(wildcard ops/*.c)
LIB_SRC    := $(KERNEL_SRC) $(OPS_SRC)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
HEADERS    := $(wildcard kernel/*/*.h ops/*.h) plugins/labbook_plugin.h
PLUGIN_DIRS := $(filter-out plugins/examples,$(patsubst %/,%,$(dir $(wildcard plugins/*/*.c))))
PLUGIN_SO   := $(sort $(PLUGIN_DIRS:plugins/%=$(B)/plugins/%.so))
TEST_PLUGIN_SO := $(patsubst tests/plugins/%.c,$(B)/testplugins/%.so,$(wildcard tests/plugins/*.c))
# Plugins built against the frozen ABI-1 header (tests/plugins/abi1/labbook_plugin.h): they must
# keep loading as lbp_type and lbp_host grow at the end.
TEST_PLUGIN_SO += $(patsubst tests/plugins/abi1/%.c,$(B)/testplugins/%.so,$(wildcard tests/plugins/abi1/*.c))
# LD_PRELOAD shims that make this machine look like another one (tests/shims/*.c)
TEST_SHIM_SO := $(patsubst tests/shims/%.c,$(B)/testshims/%.so,$(wildcard tests/shims/*.c))
# plugins/examples/*.c: documented out-of-tree examples, compiled here only to keep them building
EXAMPLE_SO := $(patsubst plugins/examples/%.c,$(B)/examples/%.so,$(wildcard plugins/examples/*.c))

LIB_OBJ    := $(LIB_SRC:%.c=$(B)/obj/%.o)
SAN_OBJ    := $(LIB_SRC:%.c=$(B)/asan/obj/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
SAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/asan/tests/%)

.PHONY: all deps build build-asan fuzz-build fuzz test install demo clean

all: deps
	@$(MAKE) --no-print-directory -j$$(nproc) build

build: $(B)/labbook $(UNIT_BIN) $(PLUGIN_SO) $(TEST_PLUGIN_SO) $(TEST_SHIM_SO) $(B)/parity/model_parity_driver $(B)/parity/fusion_parity_driver $(B)/parity/ops_parity_driver $(B)/parity/task_metrics_driver $(EXAMPLE_SO) $(B)/labbook-uninstalled.pc

build-asan: $(B)/asan/labbook $(SAN_UNIT_BIN) $(PLUGIN_SO) $(TEST_PLUGIN_SO)

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
	@echo "  CC      $<"
	$(Q)$(CC) $(LB_CFLAGS) -c $< -o $@

$(B)/asan/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	$(Q)$(CC) $(LB_CFLAGS) -O1 $(SAN_FLAGS) -c $< -o $@

$(B)/labbook: $(B)/obj/kernel/cli/main.o $(LIB_OBJ)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) -rdynamic -o $@ $^ $(LB_LIBS)

$(B)/asan/labbook: $(B)/asan/obj/kernel/cli/main.o $(SAN_OBJ)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) $(SAN_FLAGS) -rdynamic -o $@ $^ $(LB_LIBS)

$(B)/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJ) $(LB_LIBS)

$(B)/asan/tests/%: tests/unit/%.c $(wildcard tests/unit/*.h) $(SAN_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) -O1 $(SAN_FLAGS) -Itests/unit -o $@ $< $(SAN_OBJ) $(LB_LIBS)

# One shared object per plugin folder, from that folder's .c files only.
define PLUGIN_RULE
$(B)/plugins/$(1).so: $(wildcard plugins/$(1)/*.c) $(wildcard plugins/$(1)/*.h) plugins/labbook_plugin.h
	@mkdir -p $$(dir $$@)
	@echo "  PLUGIN  $$@"
	$$(Q)$$(CC) $$(PLUGIN_CFLAGS) -o $$@ $$(filter %.c,$$^) $$(PLUGIN_LDFLAGS)
endef
$(foreach p,$(sort $(PLUGIN_DIRS:plugins/%=%)),$(eval $(call PLUGIN_RULE,$(p))))

# Deliberately broken plugins for the tests (tests/plugins/*.c).
$(B)/testplugins/%.so: tests/plugins/%.c plugins/labbook_plugin.h
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	$(Q)$(CC) $(PLUGIN_CFLAGS) -o $@ $< $(PLUGIN_LDFLAGS)

# (-Itests/plugins/abi1 and not -Iplugins: the old header, never today's)
$(B)/testplugins/%.so: tests/plugins/abi1/%.c tests/plugins/abi1/labbook_plugin.h
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	$(Q)$(CC) $(filter-out -Iplugins,$(PLUGIN_CFLAGS)) -Itests/plugins/abi1 -o $@ $< $(PLUGIN_LDFLAGS)

$(B)/testshims/%.so: tests/shims/%.c
	@mkdir -p $(dir $@)
	@echo "  SHIM    $@"
	$(Q)$(CC) -std=c11 -Wall -Wextra -fPIC -shared $(CFLAGS) -o $@ $< -ldl

$(B)/examples/%.so: plugins/examples/%.c plugins/labbook_plugin.h
	@mkdir -p $(dir $@)
	@echo "  PLUGIN  $@"
	$(Q)$(CC) $(PLUGIN_CFLAGS) -o $@ $< $(PLUGIN_LDFLAGS)

# pkg-config prefers NAME-uninstalled.pc found in PKG_CONFIG_PATH: with PKG_CONFIG_PATH=$(B),
# `pkg-config --cflags labbook` points plugins at this source tree's header (plugins/examples).
$(B)/labbook-uninstalled.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'includedir=%s/plugins\n\nName: labbook\nDescription: labbook plugin ABI (labbook_plugin.h), uninstalled\nVersion: %s\nCflags: -I$${includedir}\n' \
	    '$(CURDIR)' "$$(sed -n 's/^#define LB_VERSION \"\(.*\)\"/\1/p' kernel/base/version.h)" > $@

$(B)/labbook.pc: Makefile
	@mkdir -p $(dir $@)
	@printf 'prefix=%s\nincludedir=$${prefix}/include\nlibdir=$${prefix}/lib\nplugindir=$${libdir}/labbook/plugins\n\nName: labbook\nDescription: labbook plugin ABI (labbook_plugin.h)\nVersion: %s\nCflags: -I$${includedir}/labbook\n' \
	    '$(PREFIX)' "$$(sed -n 's/^#define LB_VERSION \"\(.*\)\"/\1/p' kernel/base/version.h)" > $@

# Drivers that link only the tensor engine: PyTorch parity (tests) and speed (bench).
OPS_OBJ = $(filter $(B)/obj/ops/%,$(LIB_OBJ))
$(B)/parity/%: tests/parity/%.c $(OPS_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) -o $@ $< $(OPS_OBJ) $(LB_LIBS)

$(B)/bench/%: bench/%.c $(OPS_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) -o $@ $< $(OPS_OBJ) $(LB_LIBS)

# Drivers that build models through an interpreter and the real plugins (dlopen'ed from
# $(B)/plugins): linked with the whole kernel.
# (tests/test_model_parity.py runs $(B)/parity/model_parity_driver; `build` makes it.)
define KERNEL_DRIVER
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	$(Q)$(CC) $(LB_CFLAGS) -o $@ $< $(LIB_OBJ) $(LB_LIBS)
endef
$(B)/bench/train_step: bench/train_step.c $(LIB_OBJ) | $(PLUGIN_SO)
	$(KERNEL_DRIVER)
$(B)/parity/model_parity_driver: tests/parity/model_parity_driver.c tests/parity/blobs.h $(LIB_OBJ) | $(PLUGIN_SO)
	$(KERNEL_DRIVER)
$(B)/parity/task_metrics_driver: tests/parity/task_metrics_driver.c tests/parity/blobs.h $(LIB_OBJ)
	$(KERNEL_DRIVER)
$(B)/parity/fusion_parity_driver: tests/parity/fusion_parity_driver.c tests/parity/blobs.h $(LIB_OBJ) | $(PLUGIN_SO)
	$(KERNEL_DRIVER)

.PHONY: bench-train
bench-train: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(B)/bench/train_step $(PLUGIN_SO)
	@$(PYTHON) bench/train_step.py --labbook $(B)/bench/train_step $(BENCH_ARGS)

.PHONY: bench-fashion
bench-fashion: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(B)/labbook $(PLUGIN_SO)
	@$(PYTHON) bench/fashion_mnist/run.py --labbook $(B)/labbook $(BENCH_ARGS)

.PHONY: bench-cnn-lab
bench-cnn-lab: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(B)/labbook $(PLUGIN_SO)
	@$(PYTHON) bench/cnn_lab/run.py --labbook $(B)/labbook $(BENCH_ARGS)

.PHONY: bench-before-after
bench-before-after: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(B)/labbook $(PLUGIN_SO)
	@$(PYTHON) bench/before_after/run.py $(BENCH_ARGS)

.PHONY: bench-memory
bench-memory: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(B)/labbook $(PLUGIN_SO)
	@$(PYTHON) bench/memory_soak/run.py --exe $(B)/labbook $(BENCH_ARGS)

.PHONY: bench-ops
bench-ops: deps
	@$(MAKE) --no-print-directory $(B)/bench/ops_bench $(B)/bench/ops_fashion
	@for t in 1 2; do $(B)/bench/ops_bench $$t 3; $(PYTHON) bench/ops_bench_torch.py $$t 3; done

.PHONY: bench-rnn
bench-rnn: deps
	@$(MAKE) --no-print-directory $(B)/bench/rnn_bench
	@for t in 1 2; do $(PYTHON) bench/rnn_bench.py --labbook $(B)/bench/rnn_bench --threads $$t $(BENCH_ARGS); done

# ---- fuzzing (tests/fuzz/README.md): libFuzzer harnesses, built with clang apart from `build`
# (which needs only gcc): the library compiled again into $(B)/fuzz/obj with coverage
# instrumentation, ASan and UBSan; each harness links it with libFuzzer. The linker wraps
# lb_mem_available (a fixed 1 GB) and lb_write_file_atomic (writes stay in the harness's scratch
# folder): tests/fuzz/fuzz_common.h.
FUZZ_CC    ?= clang-14
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OBJ   := $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o)
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN   := $(FUZZ_NAMES:%=$(B)/fuzz/fuzz_%)
FUZZ_WRAP  := -Wl,--wrap=lb_mem_available -Wl,--wrap=lb_write_file_atomic
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?=

fuzz-build: $(FUZZ_BIN)

.SECONDARY: $(FUZZ_OBJ)

$(B)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	$(Q)$(FUZZ_CC) $(LB_CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c $< -o $@

# (the plugins: the checkpoint harness rebuilds models with them)
$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_OBJ) | $(PLUGIN_SO)
	@echo "  LINK    $@"
	$(Q)$(FUZZ_CC) $(LB_CFLAGS) -O1 $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(LB_LIBS) $(FUZZ_WRAP)

fuzz: deps
	@$(MAKE) --no-print-directory -j$$(nproc) $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
	@$(PYTHON) tests/fuzz/fuzzrun.py --build $(B) $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),--seconds $(FUZZ_SECONDS)) $(FUZZ_TARGETS)

test: deps
	@$(MAKE) --no-print-directory -j$$(nproc) build build-asan fuzz-build
	@$(PYTHON) tests/run.py

install: deps
	@$(MAKE) --no-print-directory -j$$(nproc) build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(B)/labbook $(DESTDIR)$(PREFIX)/bin/labbook
	@$(MAKE) --no-print-directory $(B)/labbook.pc
	install -d $(DESTDIR)$(PREFIX)/include/labbook $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/lib/labbook/plugins
	install -m 644 plugins/labbook_plugin.h $(DESTDIR)$(PREFIX)/include/labbook/labbook_plugin.h
	install -m 644 $(B)/labbook.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/labbook.pc
	install -d $(DESTDIR)$(PREFIX)/share/doc/labbook
	install -m 644 spec/*.md $(DESTDIR)$(PREFIX)/share/doc/labbook/
	install -d $(DESTDIR)$(PREFIX)/share/doc/labbook/examples
	install -m 644 plugins/examples/*.c plugins/examples/README.md $(DESTDIR)$(PREFIX)/share/doc/labbook/examples/
	$(if $(PLUGIN_SO),install -m 755 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/labbook/plugins/)
	$(DESTDIR)$(PREFIX)/bin/labbook install --prefix $(DESTDIR)$(PREFIX) --exe $(PREFIX)/bin/labbook

# The notebooks are executed from copies in $(B)/demo, which is their working directory: the
# files they write (cnn-lab's runs CSV) land there, next to the HTML.
demo: install
	@mkdir -p $(B)/demo
	@cp notebooks/quickstart.ipynb notebooks/cnn-lab.ipynb $(B)/demo/
	@echo "labbook: executing notebooks/quickstart.ipynb and notebooks/cnn-lab.ipynb (a minute or two) with the installed kernel..."
	$(PYTHON) -m nbconvert --to html --execute --ExecutePreprocessor.kernel_name=labbook \
	    --ExecutePreprocessor.timeout=900 --output-dir $(B)/demo \
	    $(B)/demo/quickstart.ipynb $(B)/demo/cnn-lab.ipynb
	@echo
	@echo "labbook demo: $(CURDIR)/$(B)/demo/cnn-lab.html (the CNN lab)"
	@echo "              $(CURDIR)/$(B)/demo/quickstart.html (the language tour)"

clean:
	rm -rf $(B)
