# Bennu's user interface. CMake does the building; these targets are the
# commands a newcomer types. See README.md.
JOBS ?= $(shell nproc)
BUILD ?= build
PREFIX ?= /usr/local
PORT ?= 4000
FUZZ_SECONDS ?= 60
CMAKE_FLAGS ?=

.PHONY: all deps release run run-cluster test test-debug test-asan test-release-build bench fuzz install clean

all: release

deps:
	@tools/deps.sh

release: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# release runs deps, whose npm ci in examples/showcase/assets gives the chat page its client.
run: release
	PORT=$(PORT) $(BUILD)/bin/showcase

# Two showcase nodes (PORT, PORT+1) sharing PubSub and Presence through a Redis of their own.
run-cluster: release
	PORT=$(PORT) tools/run_cluster.sh $(BUILD)

# The whole suite, twice: a debug build, then ASan+UBSan.
test: deps test-debug test-asan test-release-build

# The release build (what make run and make bench use) must compile too: -O2 finds warnings
# (-Werror) that -O0 does not.
test-release-build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

test-debug:
	cmake -S . -B $(BUILD)/debug -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/debug -j $(JOBS)
	cd $(BUILD)/debug && ctest --output-on-failure --timeout 600

test-asan:
	cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DBENNU_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/asan -j $(JOBS)
	cd $(BUILD)/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure --timeout 900

bench:
	@tools/deps.sh bench
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	bench/run.sh $(BUILD)

# Each libFuzzer target for FUZZ_SECONDS, starting from its saved corpus.
fuzz:
	@tools/deps.sh fuzz
	cmake -S . -B $(BUILD)/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DBENNU_FUZZ=ON -DBENNU_SANITIZE=ON -DBENNU_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/fuzz -j $(JOBS)
	@set -e; for bin in $(BUILD)/fuzz/bin/fuzz_*; do \
		case $$bin in *_replay) continue;; esac; \
		name=$$(basename $$bin); corpus=fuzz/corpus/$${name#fuzz_}; \
		dict=; [ -f fuzz/$${name#fuzz_}.dict ] && dict=-dict=fuzz/$${name#fuzz_}.dict; \
		echo "== $$name for $(FUZZ_SECONDS) s"; \
		mkdir -p $(BUILD)/fuzz/new-$$name; \
		$$bin -max_total_time=$(FUZZ_SECONDS) $$dict $(BUILD)/fuzz/new-$$name $$corpus; \
	done

install: release
	cmake --install $(BUILD) --prefix $(PREFIX)

# A test server left running by an interrupted ctest is stopped before its data goes.
clean:
	@for d in $(BUILD)/*/pg; do [ -d "$$d" ] && tools/pg_test_server.sh stop "$$d" --force || true; done
	rm -rf $(BUILD)
