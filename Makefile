# mapipc: build, test, install. `make` builds the libraries and refreshes
# include/mapipc.h; `make test` runs everything CI runs.

PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DESTDIR     ?=

CARGO ?= cargo
CC    ?= cc
CXX   ?= c++

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(word 1,$(subst ., ,$(VERSION)))
MINOR   := $(word 2,$(subst ., ,$(VERSION)))
# 0.x: every minor release may break the ABI (same rule as build.rs).
SOVER   := $(if $(filter 0,$(MAJOR)),0.$(MINOR),$(MAJOR))
SONAME  := libmapipc.so.$(SOVER)

# What the static library needs besides itself (rustc --print native-static-libs).
LIBS_PRIVATE := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

B       := build
LIB     := $(B)/lib
GENHDR  := $(B)/gen/mapipc.h
CFLAGS  ?= -O2 -g
CWARN   := -Wall -Wextra -pedantic -Werror
TEST_CFLAGS := -std=c99 $(CWARN) -D_GNU_SOURCE $(CFLAGS) -Iinclude -pthread

C_TEST_SRC := $(wildcard c_tests/test_*.c)
C_HELPER_SRC := $(wildcard c_tests/helper_*.c)
LAB_SRC := $(wildcard examples/labs/*.c)
# Examples that the tests and the demo drive, built like the labs.
EXAMPLE_PROGS := share_server share_client temporary_sender
C_PROGS := $(notdir $(basename $(C_TEST_SRC) $(C_HELPER_SRC))) \
           $(addprefix lab_,$(notdir $(basename $(LAB_SRC)))) \
           $(addprefix example_,$(EXAMPLE_PROGS))
C_STATIC := $(addprefix $(B)/c_tests/static/,$(C_PROGS))
C_SHARED := $(addprefix $(B)/c_tests/shared/,$(C_PROGS))
C_ASAN   := $(addprefix $(B)/c_tests/asan/,$(C_PROGS))
# The third build of the C tests: AddressSanitizer and UBSan, stopping at
# the first report.
SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: all lib cli header header-check header-compile symbols test rust-test \
        c-test install uninstall install-test demo demo-test bench bench-deps stress clean FORCE

all: lib header cli

# The mapipc command (cli/, a workspace member of its own) and its man
# page, generated from the same argument definitions.
cli: FORCE
	@mkdir -p $(B)/bin $(B)/man
	$(CARGO) build --release -p mapipc-cli
	@cmp -s target/release/mapipc $(B)/bin/mapipc || cp target/release/mapipc $(B)/bin/mapipc
	@target/release/mapipc-gen-man $(B)/man/mapipc.1.new
	@cmp -s $(B)/man/mapipc.1.new $(B)/man/mapipc.1 && rm $(B)/man/mapipc.1.new || mv $(B)/man/mapipc.1.new $(B)/man/mapipc.1

$(B)/bin/mapipc: cli

# Cargo decides what is stale; the JSON log tells where build.rs wrote the header.
lib: FORCE
	@mkdir -p $(LIB) $(B)/gen
	$(CARGO) build --release --message-format=json-render-diagnostics > $(B)/cargo-build.json
	@out=$$(sed -n 's/.*"reason":"build-script-executed","package_id":"[^"]*#mapipc@[^"]*".*"out_dir":"\([^"]*\)".*/\1/p' $(B)/cargo-build.json | tail -n 1); \
	  test -n "$$out" && cmp -s "$$out/mapipc.h" $(GENHDR) || cp "$$out/mapipc.h" $(GENHDR)
	@cmp -s target/release/libmapipc.a $(LIB)/libmapipc.a || cp target/release/libmapipc.a $(LIB)/libmapipc.a
	@cmp -s target/release/libmapipc.so $(LIB)/libmapipc.so.$(VERSION) || cp target/release/libmapipc.so $(LIB)/libmapipc.so.$(VERSION)
	@ln -sf libmapipc.so.$(VERSION) $(LIB)/$(SONAME)
	@ln -sf $(SONAME) $(LIB)/libmapipc.so

$(GENHDR) $(LIB)/libmapipc.a $(LIB)/libmapipc.so: lib

# Refresh the committed header from the generated one.
header: lib
	@cmp -s $(GENHDR) include/mapipc.h || { cp $(GENHDR) include/mapipc.h && echo "updated include/mapipc.h"; }

header-check: lib
	@cmp -s $(GENHDR) include/mapipc.h || { echo "include/mapipc.h is stale: run 'make header' and commit it"; diff -u include/mapipc.h $(GENHDR) | head -n 40; exit 1; }
	@echo "header: include/mapipc.h matches the code"

# The header must compile cleanly for every language level we promise.
header-compile: header-check
	@mkdir -p $(B)/hdr
	@printf '#include "mapipc.h"\nint main(void) { return mapipc_status_name(MAPIPC_OK) == 0; }\n' > $(B)/hdr/h.c
	@for std in c99 c11; do $(CC) -std=$$std $(CWARN) -Iinclude -c $(B)/hdr/h.c -o $(B)/hdr/h.o || exit 1; done
	@cp $(B)/hdr/h.c $(B)/hdr/h.cpp
	@$(CXX) -std=c++17 $(CWARN) -Iinclude -c $(B)/hdr/h.cpp -o $(B)/hdr/hpp.o
	@echo "header: compiles as C99, C11 and C++17 with $(CWARN)"

# Only mapipc_ symbols may be exported.
symbols: lib
	@bad=$$(nm -D --defined-only $(LIB)/libmapipc.so | awk '{print $$NF}' | grep -v '^mapipc_' || true); \
	  if [ -n "$$bad" ]; then echo "exported symbols without the mapipc_ prefix:"; echo "$$bad"; exit 1; fi
	@readelf -d $(LIB)/libmapipc.so | grep -q "SONAME.*\[$(SONAME)\]" || { echo "soname is not $(SONAME)"; exit 1; }
	@echo "symbols: only mapipc_ exported, soname $(SONAME)"
	@c_tests/header_names.sh include/mapipc.h $(LIB)/libmapipc.so
	@mkdir -p $(B)/hdr && printf '#define ALIGN 64\nstruct Outcome { int a; };\nint mapipc_not_there(void);\n' > $(B)/hdr/bad.h
	@! c_tests/header_names.sh $(B)/hdr/bad.h $(LIB)/libmapipc.so > $(B)/hdr/bad.out \
	  && [ $$(wc -l < $(B)/hdr/bad.out) = 3 ] || { echo "header_names.sh misses names in a bad header"; cat $(B)/hdr/bad.out; exit 1; }
	@echo "header: every name is mapipc_/MAPIPC_ and every function is exported"

$(B)/c_tests/static/%: c_tests/%.c $(wildcard c_tests/*.h) include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

$(B)/c_tests/shared/%: c_tests/%.c $(wildcard c_tests/*.h) include/mapipc.h $(LIB)/libmapipc.so
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(LIB) -lmapipc -Wl,-rpath,$(abspath $(LIB))

$(B)/c_tests/asan/%: c_tests/%.c $(wildcard c_tests/*.h) include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_CFLAGS) $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

# The lab programs, built the same three ways.
$(B)/c_tests/static/lab_%: examples/labs/%.c $(wildcard examples/labs/*.h) include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

$(B)/c_tests/shared/lab_%: examples/labs/%.c $(wildcard examples/labs/*.h) include/mapipc.h $(LIB)/libmapipc.so
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(LIB) -lmapipc -Wl,-rpath,$(abspath $(LIB))

$(B)/c_tests/asan/lab_%: examples/labs/%.c $(wildcard examples/labs/*.h) include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_CFLAGS) $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

# The examples the tests drive, built the same three ways.
$(B)/c_tests/static/example_%: examples/%.c $(wildcard examples/*.h) include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

$(B)/c_tests/shared/example_%: examples/%.c $(wildcard examples/*.h) include/mapipc.h $(LIB)/libmapipc.so
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(LIB) -lmapipc -Wl,-rpath,$(abspath $(LIB))

$(B)/c_tests/asan/example_%: examples/%.c $(wildcard examples/*.h) include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $(SAN_CFLAGS) $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

c-test: header-check $(C_STATIC) $(C_SHARED) $(C_ASAN)
	@c_tests/run.sh $(B)/c_tests

# The library's own Rust code under AddressSanitizer (nightly only): built
# with -Zsanitizer=address in target/asan (normal builds stay valid), linked
# into the C tests built with gcc's ASan, whose runtime serves the LLVM
# instrumentation too; all C tests, the fixed-seed stress among them, run
# against it. --target keeps the flag off build scripts.
HOST       := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
NIGHTLY    := $(CARGO) +nightly
HAVE_NIGHTLY = $(NIGHTLY) --version >/dev/null 2>&1
RASAN_LIB  := $(B)/rasan/libmapipc.a
C_RASAN    := $(addprefix $(B)/c_tests/rasan/,$(C_PROGS))
RASAN_LINK  = $(CC) $(TEST_CFLAGS) $(SAN_CFLAGS) $< -o $@ $(RASAN_LIB) $(LIBS_PRIVATE)

.PHONY: rasan-lib rasan-test rasan-run
rasan-lib: FORCE
	@mkdir -p $(B)/rasan
	RUSTFLAGS="-Zsanitizer=address" $(NIGHTLY) build --release -p mapipc --lib --target $(HOST) --target-dir target/asan
	@cmp -s target/asan/$(HOST)/release/libmapipc.a $(RASAN_LIB) || cp target/asan/$(HOST)/release/libmapipc.a $(RASAN_LIB)

$(RASAN_LIB): rasan-lib

$(B)/c_tests/rasan/%: c_tests/%.c $(wildcard c_tests/*.h) include/mapipc.h $(RASAN_LIB)
	@mkdir -p $(@D)
	$(RASAN_LINK)

$(B)/c_tests/rasan/lab_%: examples/labs/%.c $(wildcard examples/labs/*.h) include/mapipc.h $(RASAN_LIB)
	@mkdir -p $(@D)
	$(RASAN_LINK)

$(B)/c_tests/rasan/example_%: examples/%.c $(wildcard examples/*.h) include/mapipc.h $(RASAN_LIB)
	@mkdir -p $(@D)
	$(RASAN_LINK)

rasan-test: header-check
	@if $(HAVE_NIGHTLY); then $(MAKE) --no-print-directory rasan-run; \
	  else echo "rasan: skipped, no nightly Rust toolchain (rustup toolchain install nightly)"; fi

rasan-run: rasan-lib $(C_RASAN)
	@c_tests/run.sh $(B)/c_tests rasan

# The Rust sync and channel tests under ThreadSanitizer (nightly with its
# rust-src component: std is rebuilt instrumented, -Zbuild-std).
TSAN_CARGO := RUSTFLAGS="-Zsanitizer=thread" TSAN_OPTIONS=halt_on_error=1 \
              $(NIGHTLY) test -q -Zbuild-std --target $(HOST) --target-dir target/tsan -p mapipc

.PHONY: tsan-test
tsan-test:
	@if $(HAVE_NIGHTLY) && [ -d "$$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library" ]; then \
	  $(TSAN_CARGO) --test sync --test channel && $(TSAN_CARGO) --lib -- sync:: channel:: && \
	  echo "tsan: the sync and channel tests ran clean under ThreadSanitizer"; \
	else echo "tsan: skipped, no nightly Rust toolchain with rust-src (rustup component add rust-src --toolchain nightly)"; fi

# Fuzz targets (fuzz/, a workspace of its own): a hostile peer writing a
# channel's or a mutex's shared bytes before and during the calls (see
# fuzz/src/lib.rs). Nightly only: built with libFuzzer's coverage and ASan,
# the flags cargo-fuzz passes, without installing cargo-fuzz. `make fuzz
# SECONDS=n` runs every target n seconds, keeping what it learns in
# build/fuzz/; `make test` runs each for a few seconds from the committed
# corpus (fuzz/corpus/, which holds every input that once failed).
FUZZ_TARGETS := $(notdir $(basename $(wildcard fuzz/fuzz_targets/*.rs)))
FUZZ_BIN     := target/fuzz/$(HOST)/release
FUZZ_FLAGS   := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
                -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
                -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
                --cfg fuzzing -Zsanitizer=address -Cdebug-assertions -Coverflow-checks
# A call past its timeout fails in the target itself; -timeout is the
# watchdog for an input that hangs.
FUZZ_RUN     := ASAN_OPTIONS=detect_leaks=0:handle_sigbus=0 
FUZZ_ARGS    := -timeout=20 -rss_limit_mb=4096
SECONDS      ?= 60
FUZZ_TEST_SECONDS ?= 5

.PHONY: fuzz fuzz-build fuzz-test fuzz-run
fuzz-build:
	cd fuzz && RUSTFLAGS="$(FUZZ_FLAGS)" $(NIGHTLY) build --release --target $(HOST) --target-dir ../target/fuzz

fuzz:
	@$(HAVE_NIGHTLY) || { echo "fuzz: skipped, no nightly Rust toolchain (rustup toolchain install nightly)"; exit 0; } && \
	  $(MAKE) --no-print-directory fuzz-build && \
	  for t in $(FUZZ_TARGETS); do mkdir -p $(B)/fuzz/$$t && echo "fuzz: $$t for $(SECONDS) s" && \
	    $(FUZZ_RUN) $(FUZZ_BIN)/$$t $(B)/fuzz/$$t fuzz/corpus/$$t $(FUZZ_ARGS) -max_total_time=$(SECONDS) \
	      -artifact_prefix=$(B)/fuzz/$$t- -print_final_stats=1 || exit 1; done

fuzz-test:
	@if $(HAVE_NIGHTLY); then $(MAKE) --no-print-directory fuzz-run; \
	  else echo "fuzz: skipped, no nightly Rust toolchain (rustup toolchain install nightly)"; fi

# The committed corpus, then a few seconds of a fixed seed; new inputs go
# to a scratch directory.
fuzz-run: fuzz-build
	@for t in $(FUZZ_TARGETS); do rm -rf $(B)/fuzz-test/$$t && mkdir -p $(B)/fuzz-test/$$t && \
	  $(FUZZ_RUN) $(FUZZ_BIN)/$$t $(B)/fuzz-test/$$t fuzz/corpus/$$t $(FUZZ_ARGS) -seed=1 \
	    -max_total_time=$(FUZZ_TEST_SECONDS) -artifact_prefix=$(B)/fuzz-test/$$t- > $(B)/fuzz-test/$$t.log 2>&1 \
	    || { tail -n 60 $(B)/fuzz-test/$$t.log; echo "fuzz: $$t failed (input in $(B)/fuzz-test/)"; exit 1; }; \
	  echo "fuzz: $$t: $$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' $(B)/fuzz-test/$$t.log) runs, no failure"; done

# The randomized API stress on its own, as long as asked:
# make stress SEED=n CALLS=n (a failure prints the seed and call to replay).
SEED  ?= $(shell date +%s)
CALLS ?= 200000
stress: $(B)/c_tests/static/test_stress $(B)/c_tests/static/helper_shm_peer
	@dir=$$(mktemp -d) && cd $$dir && echo "stress: seed $(SEED), $(CALLS) calls" && \
	  MAPIPC_STRESS_SEED=$(SEED) MAPIPC_STRESS_CALLS=$(CALLS) $(abspath $(B)/c_tests/static/test_stress); \
	  rc=$$?; cd / && rm -rf $$dir; exit $$rc

rust-test:
	$(CARGO) fmt --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --workspace --quiet

# The main C harness runs last, so that its `N passed, N failed` line ends
# the output (the nightly pass of the C tests prints one of its own).
test: rust-test header-compile symbols install-test demo-test rasan-test tsan-test fuzz-test c-test

# README's first command must keep working, and say what examples/demo.expect
# says, in that order (one extended regular expression a line).
demo-test: lib
	@$(MAKE) --no-print-directory -s demo > $(B)/demo.log 2>&1 && grep -q '^demo finished$$' $(B)/demo.log \
	  || { cat $(B)/demo.log; echo "make demo failed"; exit 1; }
	@awk 'NR == FNR { want[n++] = $$0; next } i < n && $$0 ~ want[i] { i++ } \
	      END { if (i < n) { print "make demo did not print (in this order): " want[i]; exit 1 } }' \
	  examples/demo.expect $(B)/demo.log || { cat $(B)/demo.log; exit 1; }
	@echo "demo: make demo runs to the end and shows what examples/demo.expect says"

install: lib cli
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(BINDIR) \
	           $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(B)/bin/mapipc $(DESTDIR)$(BINDIR)/mapipc
	install -m 0644 $(B)/man/mapipc.1 $(DESTDIR)$(MANDIR)/man1/mapipc.1
	install -m 0644 $(LIB)/libmapipc.a $(DESTDIR)$(LIBDIR)/libmapipc.a
	install -m 0755 $(LIB)/libmapipc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libmapipc.so.$(VERSION)
	ln -sf libmapipc.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmapipc.so
	install -m 0644 include/mapipc.h $(DESTDIR)$(INCLUDEDIR)/mapipc.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBS_PRIVATE@|$(LIBS_PRIVATE)|' \
	    mapipc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/mapipc.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/mapipc.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmapipc.a $(DESTDIR)$(LIBDIR)/libmapipc.so \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libmapipc.so.$(VERSION) \
	      $(DESTDIR)$(INCLUDEDIR)/mapipc.h $(DESTDIR)$(PKGCONFIGDIR)/mapipc.pc \
	      $(DESTDIR)$(BINDIR)/mapipc $(DESTDIR)$(MANDIR)/man1/mapipc.1

# Installs into a scratch prefix and builds an example with pkg-config only,
# both against the shared and (with --static) the static library.
install-test: lib
	@rm -rf $(B)/install-test
	@$(MAKE) --no-print-directory -s install PREFIX=$(abspath $(B)/install-test/usr) >/dev/null
	@set -e; pc=$(abspath $(B)/install-test/usr/lib/pkgconfig); \
	  $(CC) -std=c99 $(CWARN) examples/quickstart.c -o $(B)/install-test/quickstart \
	    $$(PKG_CONFIG_PATH=$$pc pkg-config --cflags --libs mapipc) \
	    -Wl,-rpath,$(abspath $(B)/install-test/usr/lib); \
	  $(CC) -std=c99 $(CWARN) examples/quickstart.c -o $(B)/install-test/quickstart-static \
	    $$(PKG_CONFIG_PATH=$$pc pkg-config --cflags mapipc) \
	    $(abspath $(B)/install-test/usr/lib/libmapipc.a) $$(PKG_CONFIG_PATH=$$pc pkg-config --libs-only-l --static mapipc | sed 's/-lmapipc//'); \
	  cd $(B)/install-test && ./quickstart >/dev/null && ./quickstart-static >/dev/null; \
	  ldd ./quickstart | grep -q "$(SONAME) => $(abspath $(B)/install-test/usr/lib)/$(SONAME)"; \
	  ./usr/bin/mapipc --version | grep -qx "mapipc $(VERSION)"; \
	  ./usr/bin/mapipc ls --json | python3 -c 'import json, sys; assert isinstance(json.load(sys.stdin), list)'; \
	  grep -q '^\.TH mapipc 1' usr/share/man/man1/mapipc.1; \
	  for c in LS INSPECT GC RM; do grep -q "^\.SH \"MAPIPC $$c\"" usr/share/man/man1/mapipc.1; done; \
	  grep -q 'dry\\-run' usr/share/man/man1/mapipc.1
	@MAPIPC_CLI_BIN=$(abspath $(B)/install-test/usr/bin/mapipc) $(CARGO) test -q -p mapipc-cli --test cli \
	  > $(B)/install-test/cli.log 2>&1 || { cat $(B)/install-test/cli.log; echo "cli/tests/cli.rs fails against the installed mapipc"; exit 1; }
	@echo "install: pkg-config build against the installed copy runs (shared and static); mapipc and its man page installed, its tests pass"
	@$(MAKE) --no-print-directory -s uninstall PREFIX=$(abspath $(B)/install-test/usr)
	@left=$$(find $(B)/install-test/usr -type f -o -type l); [ -z "$$left" ] || { echo "uninstall left: $$left"; exit 1; }
	@rm -rf $(B)/install-test

clean:
	$(CARGO) clean
	rm -rf $(B)

FORCE:

$(B)/examples/%: examples/%.c include/mapipc.h $(LIB)/libmapipc.a
	@mkdir -p $(@D)
	@$(CC) -std=c99 $(CWARN) -D_GNU_SOURCE $(CFLAGS) -Iinclude $< -o $@ $(LIB)/libmapipc.a $(LIBS_PRIVATE)

# A narrated tour built from the lab programs.
demo: lib $(B)/c_tests/static/lab_mmap_write $(B)/c_tests/static/lab_mmap_read \
      $(B)/c_tests/static/lab_anon_sum $(B)/c_tests/static/lab_sysv_writer \
      $(B)/c_tests/static/lab_sysv_reader $(B)/c_tests/static/lab_sync_writer \
      $(B)/c_tests/static/lab_sync_reader $(B)/c_tests/static/lab_file_writer \
      $(B)/c_tests/static/lab_truncated_reader $(B)/c_tests/static/lab_chat_channel \
      $(B)/c_tests/static/lab_chat_server \
      $(B)/c_tests/static/example_share_server $(B)/c_tests/static/example_share_client \
      $(B)/c_tests/static/lab_shmdemo $(B)/c_tests/static/example_temporary_sender \
      $(B)/c_tests/static/misuse cli
	@examples/demo.sh $(B)/c_tests/static $(B)/bin/mapipc

$(B)/c_tests/static/misuse: $(B)/examples/misuse
	@cp $< $@

BENCH_SRC := $(wildcard benches/*.c)
# Baselines written in C++ (Boost.Interprocess), compiled with $(CXX) and
# linked into both bench programs.
BENCH_CXX_OBJ := $(patsubst benches/%.cpp,$(B)/bench-obj/%.o,$(wildcard benches/*.cpp))
BENCH_DEPS := $(BENCH_SRC) $(BENCH_CXX_OBJ) benches/harness.h benches/boost_mq.h include/mapipc.h

# Debian's libboost-dev (header-only Boost.Interprocess) is a baseline of
# make bench only, installed here when it can be; without it boost_mq.cpp
# compiles to a stub and its rows are left out. The stamp changes only
# when Boost comes or goes, so that the object is rebuilt then.
$(B)/bench-obj/boost: FORCE
	@mkdir -p $(@D)
	@dpkg -s libboost-dev >/dev/null 2>&1 || apt-get install -y libboost-dev >/dev/null 2>&1 || \
	  echo "bench: cannot install libboost-dev; skipping the Boost.Interprocess message_queue rows"
	@if dpkg -s libboost-dev >/dev/null 2>&1; then echo boost; else echo none; fi > $@.new
	@cmp -s $@.new $@ || mv $@.new $@; rm -f $@.new

bench-deps: $(B)/bench-obj/boost

$(B)/bench-obj/%.o: benches/%.cpp benches/boost_mq.h $(B)/bench-obj/boost
	$(CXX) -std=c++17 $(CWARN) -O2 -g -c $< -o $@

$(B)/bench: $(BENCH_DEPS) $(LIB)/libmapipc.a
	$(CC) -std=c11 $(CWARN) -O2 -g -Iinclude $(BENCH_SRC) $(BENCH_CXX_OBJ) -o $@ $(LIB)/libmapipc.a \
	  -lstdc++ $(LIBS_PRIVATE) -lm

# The same program linked as users link (-lmapipc); $(B)/bench runs it
# alongside, so that every row times both linkings.
$(B)/bench-shared: $(BENCH_DEPS) $(LIB)/libmapipc.so
	$(CC) -std=c11 $(CWARN) -O2 -g -Iinclude $(BENCH_SRC) $(BENCH_CXX_OBJ) -o $@ -L$(LIB) -lmapipc \
	  -Wl,-rpath,$(abspath $(LIB)) -lstdc++ -lm

# Side by side with the raw calls, cp, read(2) and pipes, mapipc linked
# statically and shared; rewrites benches/results.csv and
# benches/ratios.svg. BENCH_ARGS=quick for a short run; BENCH_ARGS="quick
# sync" for one group (map, map_copy, shm_ipc, sync, guard, channel, share, cli).
bench: lib cli bench-deps $(B)/bench $(B)/bench-shared
	@rm -rf $(B)/bench-tmp && mkdir -p $(B)/bench-tmp
	@$(B)/bench $(B)/bench-tmp benches/results.csv benches/ratios.svg $(BENCH_ARGS); rc=$$?; rm -rf $(B)/bench-tmp; exit $$rc
