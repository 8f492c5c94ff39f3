# Top-level tasks. `make test` is the full test suite (what CI runs); `make demo` the main job.

CARGO   ?= cargo
PYTHON  ?= python3
RELEASE := target/release
LIB_A   := $(RELEASE)/libshared_memory_image_client.a
NSL     := $(RELEASE)/native-static-libs.txt

.PHONY: all build demo lint test test-rust test-c test-python python-install clean

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

demo: build
	$(RELEASE)/shmimg demo

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test-rust:
	$(CARGO) test

test-c: build
	$(MAKE) -C c_examples test

# Installs the Python package (it bundles the library) into $(PYTHON)'s environment.
python-install: build
	$(PYTHON) -m pip install --quiet --disable-pip-version-check ./python

test-python: python-install test-c
	$(PYTHON) -m pytest python/tests -q

test: lint test-rust test-c test-python
	git diff --exit-code -- include || { echo "include/ changed during the build: commit the regenerated headers"; exit 1; }

clean:
	$(CARGO) clean
	$(MAKE) -C c_examples clean
