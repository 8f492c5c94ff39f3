# Windows x86_64 with MinGW-w64: the DLL and what a Windows developer needs beside it, and checks
# of both, run under Wine. Included by the top-level Makefile; `make -f mk/windows.mk TARGET`
# works as well. Paths are relative to this file, so the current directory does not matter.
#
#   windows-dist     builds the DLL with cargo and collects in target/windows-dist/: the DLL, the
#                    GNU import library (.dll.a), a .def file of the DLL's exports, an MSVC-style
#                    import library (.lib) made from it with dlltool, the static library, the
#                    native libraries a static link needs (native-static-libs.txt), both headers
#   windows-headers  each header alone compiles as C99 and as C++11 with the MinGW compilers,
#                    every warning an error
#   windows-abi      the DLL exports exactly the functions the headers declare, and so do the
#                    .def and both import libraries; the DLL imports only Windows system DLLs
#   windows-test     the C and C++ examples and tests cross-compiled three ways (against the DLL
#                    through the .dll.a, statically, and api_test through the .lib), all linked
#                    statically against the MinGW runtime; checks that they import no MinGW DLL,
#                    then runs them under Wine (wine/run.sh): api_test, fault_test, and
#                    server/client pairs as two Windows processes, among them the wake-up test
#                    and its control
#   windows-check    all of the above
#   windows-clean    removes target/windows-dist and target/windows-test
#
# Needs the rustup target x86_64-pc-windows-gnu, the Debian packages gcc-mingw-w64-x86-64,
# g++-mingw-w64-x86-64 and wine.

WIN_MK          := $(abspath $(lastword $(MAKEFILE_LIST)))
WIN_ROOT        := $(abspath $(dir $(WIN_MK))..)
# This file's rules must not become the default goal of the Makefile that includes it.
WIN_SAVED_GOAL  := $(.DEFAULT_GOAL)

CARGO           ?= cargo
WIN_TARGET      ?= x86_64-pc-windows-gnu
WIN_TOOLS       ?= x86_64-w64-mingw32-
WIN_CC          ?= $(WIN_TOOLS)gcc
WIN_CXX         ?= $(WIN_TOOLS)g++
WIN_DLLTOOL     ?= $(WIN_TOOLS)dlltool
WIN_OBJDUMP     ?= $(WIN_TOOLS)objdump
WIN_NM          ?= $(WIN_TOOLS)nm
WIN_RUN         ?= $(WIN_ROOT)/wine/run.sh
WIN_DIST        ?= $(WIN_ROOT)/target/windows-dist
WIN_BUILD       ?= $(WIN_ROOT)/target/windows-test
# Programs link the MinGW C and C++ runtimes statically: they need no MinGW DLL at run time.
WIN_LDFLAGS     ?= -static

WIN_NAME        := shared_memory_image_client
WIN_CARGO_OUT   := $(WIN_ROOT)/target/$(WIN_TARGET)/release
WIN_INC         := $(WIN_ROOT)/include
WIN_EX          := $(WIN_ROOT)/c_examples
WIN_HEADERS     := shared_memory_image_client.h shared_memory_image_client_priv.h
WIN_WARN        := -Wall -Wextra -pedantic -Werror
WIN_NSL         := $(WIN_CARGO_OUT)/native-static-libs.txt
WIN_TOOLENV     := CC="$(WIN_CC)" OBJDUMP="$(WIN_OBJDUMP)" NM="$(WIN_NM)"

# What cargo builds, copied as they are.
WIN_COPIED      := $(WIN_NAME).dll lib$(WIN_NAME).dll.a lib$(WIN_NAME).a native-static-libs.txt
WIN_DIST_FILES  := $(addprefix $(WIN_DIST)/,$(WIN_COPIED) $(WIN_NAME).def $(WIN_NAME).lib $(WIN_HEADERS))

WIN_PROGRAMS    := server client client_cpp api_test fault_test wake_test
WIN_EXES        := $(foreach v,dll static,$(addprefix $(WIN_BUILD)/$(v)/,$(addsuffix .exe,$(WIN_PROGRAMS)))) \
                   $(WIN_BUILD)/lib/api_test.exe
WIN_EX_DEPS     := $(WIN_EX)/pattern.h $(WIN_EX)/portable.h $(addprefix $(WIN_DIST)/,$(WIN_HEADERS))

.PHONY: windows-check windows-dist windows-headers windows-abi windows-test windows-clean \
        windows-dist-files windows-programs

windows-check: windows-headers windows-abi windows-test

# Cargo decides whether the library is out of date, so it always runs; the files are then
# brought up to date by a make of this file alone. The list of native libraries comes from
# rustc (--print native-static-libs), which only prints it while compiling: it is asked again
# when the static library is newer than the list, and the normal build is restored afterwards.
windows-dist:
	$(CARGO) build --release -p $(WIN_NAME) --target $(WIN_TARGET)
	@if [ ! -s $(WIN_NSL) ] || [ $(WIN_CARGO_OUT)/lib$(WIN_NAME).a -nt $(WIN_NSL) ]; then \
	  echo "$(CARGO) rustc ... --print native-static-libs"; \
	  $(CARGO) rustc --release -p $(WIN_NAME) --target $(WIN_TARGET) --lib -- --print native-static-libs 2>&1 \
	    | sed -n 's/^note: native-static-libs: //p' > $(WIN_NSL).tmp; \
	  [ -s $(WIN_NSL).tmp ] || { echo "rustc printed no native-static-libs"; exit 1; }; \
	  $(CARGO) build --release -p $(WIN_NAME) --target $(WIN_TARGET) || exit 1; \
	  mv $(WIN_NSL).tmp $(WIN_NSL); \
	fi
	@$(MAKE) --no-print-directory -f $(WIN_MK) windows-dist-files
	@echo "windows-dist: $(WIN_DIST)/: $(notdir $(WIN_DIST_FILES))"

windows-dist-files: $(WIN_DIST_FILES)

$(addprefix $(WIN_DIST)/,$(WIN_COPIED)): $(WIN_DIST)/%: $(WIN_CARGO_OUT)/% | $(WIN_DIST)
	cp $< $@

$(addprefix $(WIN_DIST)/,$(WIN_HEADERS)): $(WIN_DIST)/%: $(WIN_INC)/% | $(WIN_DIST)
	cp $< $@

# The .def lists what the DLL really exports (windows-abi checks it against the headers).
$(WIN_DIST)/$(WIN_NAME).def: $(WIN_DIST)/$(WIN_NAME).dll
	OBJDUMP="$(WIN_OBJDUMP)" $(WIN_EX)/pe.sh def $< > $@.tmp
	mv $@.tmp $@

$(WIN_DIST)/$(WIN_NAME).lib: $(WIN_DIST)/$(WIN_NAME).def
	$(WIN_DLLTOOL) -m i386:x86-64 -d $< -D $(WIN_NAME).dll -l $@

$(WIN_DIST) $(WIN_BUILD)/dll $(WIN_BUILD)/static $(WIN_BUILD)/lib:
	mkdir -p $@

windows-headers:
	@mkdir -p $(WIN_BUILD)
	@for h in $(WIN_HEADERS); do \
	  printf '#include <%s>\nint main(void) { return 0; }\n' $$h > $(WIN_BUILD)/hdr.c; \
	  $(WIN_CC) -std=c99 $(WIN_WARN) -I$(WIN_INC) -c $(WIN_BUILD)/hdr.c -o $(WIN_BUILD)/hdr.o || exit 1; \
	  $(WIN_CXX) -std=c++11 $(WIN_WARN) -I$(WIN_INC) -x c++ -c $(WIN_BUILD)/hdr.c -o $(WIN_BUILD)/hdr.o || exit 1; \
	  echo "windows-headers: $$h: C99 ($(WIN_CC)) and C++11 ($(WIN_CXX)) ok"; \
	done

windows-abi: windows-dist
	@$(WIN_TOOLENV) $(WIN_EX)/windows_abi.sh $(WIN_DIST) $(WIN_INC)

# Three builds of the programs: "dll" links the GNU import library and has the DLL beside the
# programs; "static" links the static library and what rustc says it needs; "lib" links api_test
# through the MSVC-style import library.
$(WIN_BUILD)/dll/%.exe: $(WIN_EX)/%.c $(WIN_EX_DEPS) $(WIN_DIST)/lib$(WIN_NAME).dll.a | $(WIN_BUILD)/dll
	$(WIN_CC) -std=c99 $(WIN_WARN) -O2 -I$(WIN_DIST) $< -o $@ $(WIN_DIST)/lib$(WIN_NAME).dll.a $(WIN_LDFLAGS)
$(WIN_BUILD)/dll/client_cpp.exe: $(WIN_EX)/client.cpp $(WIN_EX_DEPS) $(WIN_DIST)/lib$(WIN_NAME).dll.a | $(WIN_BUILD)/dll
	$(WIN_CXX) -std=c++11 $(WIN_WARN) -O2 -I$(WIN_DIST) $< -o $@ $(WIN_DIST)/lib$(WIN_NAME).dll.a $(WIN_LDFLAGS)
$(WIN_BUILD)/static/%.exe: $(WIN_EX)/%.c $(WIN_EX_DEPS) $(WIN_DIST)/lib$(WIN_NAME).a $(WIN_DIST)/native-static-libs.txt | $(WIN_BUILD)/static
	$(WIN_CC) -std=c99 $(WIN_WARN) -O2 -I$(WIN_DIST) $< -o $@ $(WIN_DIST)/lib$(WIN_NAME).a $$(cat $(WIN_DIST)/native-static-libs.txt) $(WIN_LDFLAGS)
$(WIN_BUILD)/static/client_cpp.exe: $(WIN_EX)/client.cpp $(WIN_EX_DEPS) $(WIN_DIST)/lib$(WIN_NAME).a $(WIN_DIST)/native-static-libs.txt | $(WIN_BUILD)/static
	$(WIN_CXX) -std=c++11 $(WIN_WARN) -O2 -I$(WIN_DIST) $< -o $@ $(WIN_DIST)/lib$(WIN_NAME).a $$(cat $(WIN_DIST)/native-static-libs.txt) $(WIN_LDFLAGS)
$(WIN_BUILD)/lib/%.exe: $(WIN_EX)/%.c $(WIN_EX_DEPS) $(WIN_DIST)/$(WIN_NAME).lib | $(WIN_BUILD)/lib
	$(WIN_CC) -std=c99 $(WIN_WARN) -O2 -I$(WIN_DIST) $< -o $@ $(WIN_DIST)/$(WIN_NAME).lib $(WIN_LDFLAGS)
$(WIN_BUILD)/dll/$(WIN_NAME).dll $(WIN_BUILD)/lib/$(WIN_NAME).dll: $(WIN_DIST)/$(WIN_NAME).dll
	@mkdir -p $(@D)
	cp $< $@

windows-programs: $(WIN_EXES) $(WIN_BUILD)/dll/$(WIN_NAME).dll $(WIN_BUILD)/lib/$(WIN_NAME).dll

windows-test: windows-dist
	@$(MAKE) --no-print-directory -f $(WIN_MK) windows-programs
	@echo "windows-test: DLLs the programs import"
	@OBJDUMP="$(WIN_OBJDUMP)" $(WIN_EX)/pe.sh imports -a $(WIN_NAME).dll $(WIN_BUILD)/dll/*.exe $(WIN_BUILD)/lib/*.exe
	@OBJDUMP="$(WIN_OBJDUMP)" $(WIN_EX)/pe.sh imports $(WIN_BUILD)/static/*.exe
	@rm -rf $(WIN_BUILD)/work && mkdir -p $(WIN_BUILD)/work
	@for v in dll static; do \
	  printf 'api_test [windows %s]: ' $$v; $(WIN_RUN) $(WIN_BUILD)/$$v/api_test.exe $(WIN_BUILD)/work || exit 1; \
	  echo "fault_test [windows $$v] (file truncated, replaced and deleted under the streams):"; \
	  $(WIN_RUN) $(WIN_BUILD)/$$v/fault_test.exe $(WIN_BUILD)/work > $(WIN_BUILD)/work/fault.out 2>&1; rc=$$?; \
	  sed 's/^/  /' $(WIN_BUILD)/work/fault.out; [ $$rc -eq 0 ] || exit 1; \
	  pairs="c cpp wake"; [ $$v != static ] || pairs="$$pairs nowake"; \
	  WRAP=$(WIN_RUN) EXE=.exe NAME="windows $$v" PAIRS="$$pairs" $(WIN_EX)/run_pair.sh $(WIN_BUILD)/$$v || exit 1; \
	done
	@printf 'api_test [windows lib]: '; $(WIN_RUN) $(WIN_BUILD)/lib/api_test.exe $(WIN_BUILD)/work
	@rm -rf $(WIN_BUILD)/work

windows-clean:
	rm -rf $(WIN_DIST) $(WIN_BUILD)

.DEFAULT_GOAL := $(WIN_SAVED_GOAL)
