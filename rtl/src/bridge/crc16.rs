//! `Crc16`: the CRC-16/CCITT-FALSE register of the host bridge ([`abi::bridge::crc16`]), one
//! byte per clock through a 16-output XOR network.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `clock` | 1 | in | clock |
//! | `init` | 1 | in | load [`abi::bridge::CRC_INIT`] at this edge (wins over `valid`) |
//! | `valid` | 1 | in | run `data` through the register at this edge |
//! | `data` | 8 | in | the byte |
//! | `crc` | 16 | out | the register |
//!
//! The byte step is the table-free form of the MSB-first shift: with
//! `x = (crc >> 8) ^ data; x ^= x >> 4`, the next register is
//! `(crc << 8) ^ (x << 12) ^ (x << 5) ^ x`. The register powers up at zero: load it with `init` before the first byte.

use rust_hdl::prelude::*;

use crate::consts::konst;

/// The CRC register (see the module documentation).
#[derive(LogicBlock)]
pub struct Crc16 {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Load the initial value.
    pub init: Signal<In, Bit>,
    /// Take `data`.
    pub valid: Signal<In, Bit>,
    /// The byte.
    pub data: Signal<In, Bits<8>>,
    /// The CRC register.
    pub crc: Signal<Out, Bits<16>>,
    value: DFF<Bits<16>>,
    x1: Signal<Local, Bits<16>>,
    x2: Signal<Local, Bits<16>>,
    init_value: Constant<Bits<16>>,
}

impl Default for Crc16 {
    fn default() -> Self {
        Crc16 {
            clock: Default::default(),
            init: Default::default(),
            valid: Default::default(),
            data: Default::default(),
            crc: Default::default(),
            value: Default::default(),
            x1: Default::default(),
            x2: Default::default(),
            init_value: konst(u64::from(abi::bridge::CRC_INIT)),
        }
    }
}

impl Logic for Crc16 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, value);
        self.x1.next = (self.value.q.val() >> 8) ^ bit_cast::<16, 8>(self.data.val());
        self.x2.next = self.x1.val() ^ (self.x1.val() >> 4);
        self.crc.next = self.value.q.val();
        if self.valid.val() {
            self.value.d.next = (self.value.q.val() << 8)
                ^ (self.x2.val() << 12)
                ^ (self.x2.val() << 5)
                ^ self.x2.val();
        }
        if self.init.val() {
            self.value.d.next = self.init_value.val();
        }
    }
}

crate::clocked!(Crc16);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Random byte strings with random gaps and restarts: the register equals
    /// `abi::bridge::crc16` of the bytes since the last `init` after every byte, the check
    /// value comes out of `123456789`, and a body followed by its CRC leaves the residue.
    #[test]
    fn bridge_crc16_matches_abi() {
        run_seeded("bridge-crc16", test_seed(), Crc16::default, |b, seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut feed = |b: &mut crate::bench::Bench<Crc16>, bytes: &[u8]| {
                b.uut.init.next = true;
                b.uut.valid.next = false;
                b.tick();
                b.uut.init.next = false;
                for &x in bytes {
                    b.uut.valid.next = true;
                    b.uut.data.next = u64::from(x).into();
                    b.tick();
                    b.uut.valid.next = false;
                    b.uut.data.next = u64::from(rng.gen::<u8>()).into();
                    for _ in 0..rng.gen_range(0..3) {
                        b.tick();
                    }
                }
                b.settle();
                b.uut.crc.val().index() as u16
            };
            let check = feed(b, b"123456789");
            if check != abi::bridge::CRC_CHECK {
                return Err(format!("check value {check:#06x}"));
            }
            let mut rng2 = SmallRng::seed_from_u64(seed ^ 1);
            for _ in 0..200 {
                let n = rng2.gen_range(0..40);
                let mut bytes: Vec<u8> = (0..n).map(|_| rng2.gen()).collect();
                let got = feed(b, &bytes);
                let want = abi::bridge::crc16(&bytes);
                if got != want {
                    return Err(format!("{bytes:02x?}: {got:#06x} want {want:#06x}"));
                }
                bytes.extend(want.to_be_bytes());
                let residue = feed(b, &bytes);
                if residue != abi::bridge::CRC_RESIDUE {
                    return Err(format!("residue {residue:#06x}"));
                }
            }
            Ok(())
        });
    }
}
