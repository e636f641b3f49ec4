//! `BlockRam`: a simple dual-port RAM (one read port, one write port, one clock) that maps
//! onto iCE40 block RAM without extra logic.
//!
//! RustHDL's own `RAM` promises that a read of the address being written returns the old
//! data. iCE40 block RAMs do not, so yosys emulates the promise with a register for every
//! write-data bit and a bypass multiplexer on every read-data bit. This block carries
//! `no_rw_check`: a read of the address written in the same cycle returns undefined data in
//! hardware, and users of this block must never depend on it (the translation cache, the only
//! user that can collide, detects the collision and reports a miss).
//!
//! | port            | width | dir | meaning                                     |
//! |-----------------|-------|-----|---------------------------------------------|
//! | `clock`         | 1     | in  | clock of both ports                         |
//! | `read_address`  | N     | in  | address read at the rising edge             |
//! | `read_data`     | D     | out | data of the address of the previous cycle   |
//! | `write_address` | N     | in  | address written at the rising edge          |
//! | `write_data`    | D     | in  | data written                                |
//! | `write_enable`  | 1     | in  | write this cycle                            |
//!
//! The simulation model returns the old data on a collision (one of the outcomes hardware may
//! produce).

use std::collections::BTreeMap;

use rust_hdl::core::timing::TimingInfo;
use rust_hdl::prelude::*;

/// A block RAM of `2^N` words of type `D` (see the module documentation).
#[derive(LogicBlock, Default)]
pub struct BlockRam<D: Synth, const N: usize> {
    /// Clock of both ports.
    pub clock: Signal<In, Clock>,
    /// Read address.
    pub read_address: Signal<In, Bits<N>>,
    /// Read data (one cycle after the address).
    pub read_data: Signal<Out, D>,
    /// Write address.
    pub write_address: Signal<In, Bits<N>>,
    /// Write data.
    pub write_data: Signal<In, D>,
    /// Write enable.
    pub write_enable: Signal<In, Bit>,
    _mem: BTreeMap<Bits<N>, D>,
}

impl<D: Synth, const N: usize> Logic for BlockRam<D, N> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            self.read_data.next = self
                ._mem
                .get(&self.read_address.val())
                .copied()
                .unwrap_or_default();
            if self.write_enable.val() {
                self._mem
                    .insert(self.write_address.val(), self.write_data.val());
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
(* no_rw_check *)
reg [{msb}:0] mem [{last}:0];
integer i;
initial begin
   for (i = 0; i <= {last}; i = i + 1) mem[i] = 0;
end

always @(posedge clock) begin
   read_data <= mem[read_address];
   if (write_enable) begin
      mem[write_address] <= write_data;
   end
end
",
            msb = D::BITS - 1,
            last = (1usize << N) - 1,
        ))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![TimingInfo {
            name: "block_ram".into(),
            clock: "clock".into(),
            inputs: vec![
                "read_address".into(),
                "write_address".into(),
                "write_data".into(),
                "write_enable".into(),
            ],
            outputs: vec!["read_data".into()],
        }]
    }
}
