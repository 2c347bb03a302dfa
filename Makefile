# regfs: a vetted membership register served as a FUSE filesystem.
#
#   make            build ./regfs (optimised, -Werror)
#   make test       build with AddressSanitizer + UBSan and run every test
#   make valgrind   run every test under valgrind's memcheck (the optimised build, in build/vg)
#   make demo       generate the whole surge, import, vet and mount it at ./mnt
#   make bench      surge-scale benchmark (scripts/bench)
#   make fuzz       build the libFuzzer harnesses (clang) in build/fuzz and run each for
#                   FUZZ_SECONDS (60) seconds; the corpora grow in build/fuzz/corpus
#   make install PREFIX=/usr/local
#
# V=1 shows the commands.  CFLAGS/LDFLAGS are the caller's to set.

CC      ?= cc
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
PKGS    := fuse3 sqlite3 jansson libsodium libcrypto libutf8proc
TESTPKGS:= cmocka

# A fresh machine lacks the libraries: install them before pkg-config is asked.
ifeq ($(filter clean undemo,$(MAKECMDGOALS)),)
ifneq ($(shell pkg-config --exists $(PKGS) $(TESTPKGS) && echo ok),ok)
$(info regfs: installing missing Debian packages with scripts/install-deps)
$(if $(shell scripts/install-deps 1>&2 && echo ok),,$(error scripts/install-deps failed))
endif
endif

SANITIZE ?=
ifeq ($(FUZZ),1)
# `make fuzz` recurses with FUZZ=1: everything built by clang with libFuzzer's coverage hooks.
CC      := clang
BUILD   := build/fuzz
SANFLAGS:= -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),1)
BUILD   ?= build/san
SANFLAGS:= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build/opt
SANFLAGS:=
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(SANFLAGS) $(CFLAGS) \
              -Ibackend $(shell pkg-config --cflags $(PKGS))
ALL_LDFLAGS:= $(SANFLAGS) $(LDFLAGS)
LIBS    := $(shell pkg-config --libs $(PKGS)) -lpthread -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

BACKEND_SRC := $(sort $(wildcard backend/*.c))
CLI_SRC     := $(sort $(wildcard cli/*.c) $(wildcard fs/*.c))
TEST_SRC    := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))

BACKEND_OBJ := $(BACKEND_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ     := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN    := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FS_OBJ      := $(filter $(BUILD)/fs/%,$(CLI_OBJ))
# Each fuzz harness twice: with libFuzzer (make fuzz), and with tests/fuzz/replay.c as its main, a
# test that replays the seed corpus and every past crasher (make test).
FUZZ_BIN    := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/%)
REPLAY_BIN  := $(FUZZ_SRC:tests/fuzz/fuzz_%.c=$(BUILD)/tests/test_fuzz_%)
FUZZ_SECONDS?= 60
LIB         := $(BUILD)/libregfs.a

.PHONY: all test check asan valgrind unit integration demo undemo bench fuzz fuzz-run install clean
# ./regfs is the optimised binary; a SANITIZE=1 build stays in build/san.
all: $(if $(filter 1,$(SANITIZE)),$(BUILD)/regfs,regfs)

regfs: $(BUILD)/regfs
	$(Q)cp $< $@

$(BUILD)/regfs: $(CLI_OBJ) $(LIB)
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LIBS)

$(LIB): $(BACKEND_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Icli -Ifs -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS) \
	    $(shell pkg-config --cflags --libs $(TESTPKGS))

$(BUILD)/tests/test_fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(FS_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Ifs -DFUZZ_NAME='"$*"' $(ALL_LDFLAGS) -o $@ $< tests/fuzz/replay.c \
	    $(FS_OBJ) $(LIB) $(LIBS)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FS_OBJ) $(LIB)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -Ifs -DFUZZ_NAME='"$*"' -fsanitize=fuzzer $(ALL_LDFLAGS) -o $@ $< \
	    $(FS_OBJ) $(LIB) $(LIBS)

-include $(BACKEND_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
$(BUILD)/backend/orgs_data.o: data/organisations.csv
$(BUILD)/backend/nicknames_data.o: data/nicknames.tsv

# `make test` is the one command CI runs: everything under the sanitizers, then two tests of the
# daemon once more under valgrind: its ctl writes and jobs, and every kind of file read by other
# users (make valgrind runs every test so, and takes far longer: over half an hour on two cores).
VALGRIND_TESTS := integration/test_mount_ctl integration/test_mount_users
test:
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 check
	$(Q)$(MAKE) --no-print-directory valgrind RUNFLAGS="$(VALGRIND_TESTS)"

asan: test

check: $(BUILD)/regfs $(TEST_BIN) $(REPLAY_BIN)
	$(Q)tests/run --build $(BUILD) $(RUNFLAGS)

# Every test again with each regfs process (daemons, CLI commands, unit tests) under valgrind's
# memcheck: any error or definite leak fails the test.  ASan and valgrind do not mix: this is the
# build that ships (-O2 -g, no sanitizers), in a folder of its own so that `make` cannot replace
# the binary under a run.
valgrind:
	$(Q)$(MAKE) --no-print-directory SANITIZE= BUILD=build/vg RUNFLAGS="--valgrind $(RUNFLAGS)" check

unit: $(TEST_BIN) $(REPLAY_BIN)
	$(Q)tests/run --build $(BUILD) --unit-only

demo: regfs
	$(Q)scripts/demo

undemo:
	$(Q)scripts/demo --stop

bench: regfs
	$(Q)scripts/bench

# Each harness runs for FUZZ_SECONDS from its seed corpus and what earlier runs found; a crash stops
# `make fuzz` with the input in build/fuzz/crash-*: fix it, then keep it in tests/fuzz/regress/NAME/.
fuzz:
	$(Q)$(MAKE) --no-print-directory FUZZ=1 fuzz-run

fuzz-run: $(FUZZ_BIN)
	$(Q)tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_BIN)

install: regfs
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/regfs
	install -m 0755 regfs $(DESTDIR)$(PREFIX)/bin/regfs
	ln -sf regfs $(DESTDIR)$(PREFIX)/bin/mount.regfs
	install -d $(DESTDIR)/sbin && ln -sf $(PREFIX)/bin/regfs $(DESTDIR)/sbin/mount.fuse.regfs
	install -m 0644 man/regfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/regfs.1
	install -m 0644 data/*.csv data/*.tsv $(DESTDIR)$(PREFIX)/share/regfs/

clean:
	rm -rf build regfs
