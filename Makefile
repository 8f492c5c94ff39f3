# Top-level tasks. `make test` is the full test suite (what CI runs); `make demo` the main job.

CARGO   ?= cargo
PYTHON  ?= python3
RELEASE := target/release
LIB_A   := $(RELEASE)/libshared_memory_image_client.a
NSL     := $(RELEASE)/native-static-libs.txt

# Installation (`make install PREFIX=... DESTDIR=...`).
PREFIX       ?= /usr/local
DESTDIR      ?=
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LIBNAME      := libshared_memory_image_client
# The ABI version: SONAME libshared_memory_image_client.so.$(SOMAJOR) (see build.rs).
SOMAJOR      := 1
SOVERSION    := 1.0.0

.PHONY: all build demo lint miri test test-rust test-c test-python test-install python-install install uninstall clean

all: build

# The release library and CLI, plus the list of native libraries a static link needs.
build:
	$(CARGO) build --release
	@$(MAKE) --no-print-directory $(NSL)

$(NSL): $(LIB_A)
	$(CARGO) rustc --release --lib -- --print native-static-libs 2>&1 \
	  | sed -n 's/^note: native-static-libs: //p' > $@.tmp
	@test -s $@.tmp || { echo "rustc printed no native-static-libs"; exit 1; }
	mv $@.tmp $@
	$(CARGO) build --release
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

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib --quiet

test-rust:
	$(CARGO) test

# The unit tests that need no mapping or system calls (layout arithmetic, state machine, error
# codes, handle registry, error strings) under Miri; needs a nightly toolchain with miri.
miri:
	$(CARGO) +nightly miri test --lib -- layout:: state:: error:: registry:: api::

test-c: build
	$(MAKE) -C c_examples test

# Installs the Python package (it bundles the library) into $(PYTHON)'s environment.
python-install: build
	$(PYTHON) -m pip install --quiet --disable-pip-version-check ./python

test-python: python-install test-c
	$(PYTHON) -m pytest python/tests -q

# Installs into temporary prefixes and builds the examples against them with a plain Makefile
# and with CMake, through pkg-config, shared and static.
test-install: build
	c_examples/test_install.sh

test: lint test-rust test-c test-install test-python
	git diff --exit-code -- include || { echo "include/ changed during the build: commit the regenerated headers"; exit 1; }

clean:
	$(CARGO) clean
	$(MAKE) -C c_examples clean
