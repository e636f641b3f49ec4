# skipwalk: one entry point per task. `make test` is what CI runs (.ci/run).

CARGO ?= cargo

# Tools the tests call (lint, synthesis, place and route, bitstream, simulation) and the
# Debian packages that provide them (icepack comes with fpga-icestorm).
FPGA_TOOLS    := verilator yosys nextpnr-ice40 icepack iverilog
FPGA_PACKAGES := verilator yosys nextpnr-ice40 fpga-icestorm iverilog
INSTALL_CMD   := apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(FPGA_PACKAGES)

VERILOG_DIR := target/verilog

.PHONY: all deps demo test verilog bitstream flash board-sim bench docs clean

all: test

# Installs the FPGA tools when one is missing (as root), or says how to.
deps:
	@missing=""; \
	for tool in $(FPGA_TOOLS); do \
		command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "missing:$$missing"; \
	if [ "$$(id -u)" -ne 0 ]; then \
		echo "run as root: $(INSTALL_CMD)"; \
		exit 1; \
	fi; \
	$(INSTALL_CMD)

# The main job: the registrar and two applications in three processes exchange messages
# through the Device's Verilator model; every byte checked, forged shortcuts tried.
demo: deps
	$(CARGO) run --release -p skipwalk -- demo

# Formatting, lints with warnings as errors, then every test (release: the simulations are
# long, and the FPGA flow runs inside the tests).
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) test --workspace --release

# Writes the Verilog of every block and top into $(VERILOG_DIR).
verilog:
	$(CARGO) run --release -p rtl --bin skipwalk-verilog -- $(VERILOG_DIR)

# The Alchitry Cu bitstream: yosys, nextpnr-ice40 at 100 MHz with the Cu's pins, icepack.
# Fails when timing or the 80 % logic-cell limit is missed; the JSON report lands next to
# the bitstream in target/flow/skipwalk-cu/.
bitstream: deps
	$(CARGO) run --release -p skipwalk -- bitstream

# Programs the Cu's flash with that bitstream (iceprog, verified). FLASH_ARGS=--dry-run
# prints the command instead.
flash: bitstream
	$(CARGO) run --release -p skipwalk -- flash $(FLASH_ARGS)

# The virtual board: the Cu top level in Verilator on a pseudo-terminal (prints its path;
# then `skipwalk -d serial:<path> demo`).
board-sim: deps
	$(CARGO) run --release -p skipwalk -- board-sim

# Benchmarks, each printing JSON: the translation core (and the FPGA flow on the translator
# and the Device), the Device's four translation modes in Verilator, simulation speed,
# registration cost, shortcut minting, and the demo's figures.
bench: deps
	$(CARGO) bench -p rtl --bench translator
	$(CARGO) bench -p sim --bench device
	$(CARGO) bench -p sim --bench speed
	$(CARGO) bench -p skipwalk --bench register
	$(CARGO) bench -p skipwalk --bench mint
	$(CARGO) run --release -p skipwalk -- demo --json

# Regenerates the documents made from the code (registers, queues and frames from abi; the
# Cu's pin constraints from rtl::cu_top).
docs:
	SKIPWALK_WRITE_DOCS=1 $(CARGO) test -p abi docs_
	SKIPWALK_WRITE_DOCS=1 $(CARGO) test -p rtl --test cu_top checked_in_pcf_is_generated

clean:
	$(CARGO) clean
