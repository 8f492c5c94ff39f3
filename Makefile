# Top-level tasks. `make test` is the full test suite (what CI runs); `make demo` the main job.

CARGO   ?= cargo
PYTHON  ?= python3
RELEASE := target/release
LIB_A   := $(RELEASE)/libshared_memory_image_client.a
NSL     := $(RELEASE)/native-static-libs.txt
LIB_PKG := -p shared_memory_image_client

# Installation (`make install PREFIX=... DESTDIR=...`).
PREFIX       ?= /usr/local
DESTDIR      ?=
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LIBNAME      := libshared_memory_image_client
# The ABI version: SONAME libshared_memory_image_client.so.$(SOMAJOR) (see library/build.rs).
SOMAJOR      := 1
SOVERSION    := 1.0.0

# Targets the crate is type-checked (and linted) for without running anything: the Unix layer
# on the other Unix systems.
CHECK_TARGETS := aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-freebsd
WINDOWS       := x86_64-pc-windows-gnu
# Seconds of fuzzing in `make fuzz` (needs a nightly toolchain and cargo-fuzz).
FUZZ_SECONDS  ?= 60

.PHONY: all build demo lint lint-targets miri fuzz test test-rust test-windows test-c \
        test-install install uninstall clean

all: build

# The release library and CLI, plus the list of native libraries a static link needs.
build:
	$(CARGO) build --release --workspace
	@$(MAKE) --no-print-directory $(NSL)

$(NSL): $(LIB_A)
	$(CARGO) rustc --release $(LIB_PKG) --lib -- --print native-static-libs 2>&1 \
	  | sed -n 's/^note: native-static-libs: //p' > $@.tmp
	@test -s $@.tmp || { echo "rustc printed no native-static-libs"; exit 1; }
	mv $@.tmp $@
	$(CARGO) build --release $(LIB_PKG)
	touch $@

# The shared library with its SONAME links, the static library, both headers and a pkg-config
# file whose Libs.private lists what rustc says a static link needs.
install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(RELEASE)/$(LIBNAME).so $(DESTDIR)$(LIBDIR)/$(LIBNAME).so.$(SOVERSION)
	ln -sfn $(LIBNAME).so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/$(LIBNAME).so.$(SOMAJOR)
	ln -sfn $(LIBNAME).so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/$(LIBNAME).so
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/$(LIBNAME).a
	install -m 644 include/shared_memory_image_client.h include/shared_memory_image_client_priv.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(SOVERSION)|' -e "s|@LIBS_PRIVATE@|$$(cat $(NSL))|" \
	    packaging/shared_memory_image_client.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/shared_memory_image_client.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/shared_memory_image_client.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/$(LIBNAME).so $(DESTDIR)$(LIBDIR)/$(LIBNAME).so.$(SOMAJOR) \
	      $(DESTDIR)$(LIBDIR)/$(LIBNAME).so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/$(LIBNAME).a \
	      $(DESTDIR)$(INCLUDEDIR)/shared_memory_image_client.h \
	      $(DESTDIR)$(INCLUDEDIR)/shared_memory_image_client_priv.h \
	      $(DESTDIR)$(PKGCONFIGDIR)/shared_memory_image_client.pc

demo: build
	$(RELEASE)/shmimg demo

# Formatting, clippy with warnings as errors for Linux and Windows, rustdoc, and clippy for the
# type-checked targets (macOS, FreeBSD).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --target $(WINDOWS) -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps $(LIB_PKG) --lib --quiet
	@$(MAKE) --no-print-directory lint-targets

lint-targets:
	@for t in $(CHECK_TARGETS); do \
	  echo "clippy (type-check) for $$t"; \
	  $(CARGO) clippy --quiet --workspace --all-targets --target $$t -- -D warnings || exit 1; \
	done

test-rust:
	$(CARGO) test --workspace

# The Rust test suite built for Windows and run under Wine (cargo's runner, see
# .cargo/config.toml and wine/run.sh), then the C side: the DLL, its exports and imports, and
# the C examples cross-compiled with MinGW and run under Wine (mk/windows.mk).
test-windows:
	$(CARGO) test --workspace --target $(WINDOWS)
	$(MAKE) windows-check

# The unit tests that need no mapping or system calls (layout arithmetic, state machines, error
# codes, handle tables, error strings) under Miri; needs a nightly toolchain with miri.
miri:
	$(CARGO) +nightly miri test $(LIB_PKG) --lib -- layout:: state:: error:: handle_table:: api:: broadcast::tests

# The C API fuzzed for FUZZ_SECONDS from the committed seeds (fuzz/seeds); new inputs go to
# fuzz/corpus, crashes to fuzz/artifacts. Needs a nightly toolchain and cargo-fuzz.
fuzz:
	mkdir -p fuzz/corpus/c_api
	cd fuzz && $(CARGO) +nightly fuzz run c_api corpus/c_api seeds/c_api -- \
	  -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -print_final_stats=1

test-c: build
	$(MAKE) -C c_examples test

# Installs into temporary prefixes and builds the examples against them with a plain Makefile
# and with CMake, through pkg-config, shared and static.
test-install: build
	c_examples/test_install.sh

test: lint test-rust test-c test-install test-windows test-python
	git diff --exit-code -- include || { echo "include/ changed during the build: commit the regenerated headers"; exit 1; }

clean:
	$(CARGO) clean
	$(MAKE) -C c_examples clean

include mk/windows.mk
include mk/python.mk
