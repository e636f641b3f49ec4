//! `DescriptorRegs`: the fields of one descriptor, taken word by word as it streams in (the
//! layout of `abi::queues`), for the send and the receive engine alike.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `clock`, `reset` | 1 | in | clock; synchronous reset (next word is word 0) |
//! | `word_valid` | 1 | in | a descriptor word is taken this cycle |
//! | `word_data` | 32 | in | the word |
//! | `word_error` | 1 | in | the word is bad (its read failed); sticky for the descriptor |
//! | `first` | 1 | out | the next word is word 0 |
//! | `last` | 1 | out | the word taken this cycle is word 7 (combinational) |
//! | `opcode`, `dest` | 8, 8 | out | word 0 |
//! | `length`, `wr_id` | 32, 32 | out | words 1 and 2 (`length`: see below) |
//! | `va`, `shortcut` | 64, 64 | out | words 4–5 and 6–7 (`va`: see below) |
//! | `error` | 1 | out | some word of the descriptor was bad |
//!
//! Fields are valid from the cycle after `last` until the next descriptor's words overwrite
//! them. `length` keeps bits 16:0 of word 1 and one bit (17) for "some bit above 16 is set":
//! it equals the word whenever the word is below 2^17, and is at least 2^17 otherwise, which
//! is all the checks against `MAX_MESSAGE_LEN` (2^16) need; a longer message is never sent or
//! received. Likewise `va` keeps bits 46:0 of words 4–5 and one bit (47) for "some bit
//! above 46 is set": every VA the translation core accepts is below 2^47, and any other is
//! refused as `addr_range` whichever of the upper bits is set.

use abi::queues::{
    DESC_DEST_SHIFT, DESC_WORDS, DESC_W_LENGTH, DESC_W_SHORTCUT, DESC_W_VA, DESC_W_WR_ID,
};
use rust_hdl::prelude::*;

use crate::consts::konst;
use crate::with_defaults;

const _: () = assert!(DESC_WORDS == 8 && DESC_DEST_SHIFT == 8 && DESC_W_LENGTH == 1);
const _: () = assert!(DESC_W_WR_ID == 2 && DESC_W_VA == 4 && DESC_W_SHORTCUT == 6);

/// Bits of the length kept: 16:0, and bit 17 standing for every bit above.
const LEN_KEPT: usize = 18;
const _: () = assert!(abi::queues::MAX_MESSAGE_LEN == 1 << (LEN_KEPT - 2));
/// Bits of word 5 (VA 63:32) kept: 46:32, and bit 47 standing for every bit above.
const VA_HI_KEPT: usize = abi::VA_BITS as usize - 32 + 1;
const _: () = assert!(VA_HI_KEPT == 16);

/// Descriptor fields (see the module documentation).
#[derive(LogicBlock)]
pub struct DescriptorRegs {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A word is taken.
    pub word_valid: Signal<In, Bit>,
    /// The word.
    pub word_data: Signal<In, Bits<32>>,
    /// The word is bad.
    pub word_error: Signal<In, Bit>,
    /// The next word is word 0.
    pub first: Signal<Out, Bit>,
    /// This cycle's word is the last.
    pub last: Signal<Out, Bit>,
    /// Opcode byte.
    pub opcode: Signal<Out, Bits<8>>,
    /// Destination VI.
    pub dest: Signal<Out, Bits<8>>,
    /// Length.
    pub length: Signal<Out, Bits<32>>,
    /// Work-request id.
    pub wr_id: Signal<Out, Bits<32>>,
    /// Buffer address.
    pub va: Signal<Out, Bits<64>>,
    /// Shortcut.
    pub shortcut: Signal<Out, Bits<64>>,
    /// A word was bad.
    pub error: Signal<Out, Bit>,
    word: DFF<Bits<3>>,
    r_opcode: DFF<Bits<8>>,
    r_dest: DFF<Bits<8>>,
    r_length: DFF<Bits<LEN_KEPT>>,
    len_big: Signal<Local, Bit>,
    r_wr_id: DFF<Bits<32>>,
    r_va_lo: DFF<Bits<32>>,
    r_va_hi: DFF<Bits<VA_HI_KEPT>>,
    va_big: Signal<Local, Bit>,
    r_shortcut_lo: DFF<Bits<32>>,
    r_shortcut_hi: DFF<Bits<32>>,
    r_error: DFF<Bit>,
    w_one: Constant<Bits<3>>,
    w_length: Constant<Bits<3>>,
    w_wr_id: Constant<Bits<3>>,
    w_va: Constant<Bits<3>>,
    w_va_hi: Constant<Bits<3>>,
    w_shortcut: Constant<Bits<3>>,
    w_last: Constant<Bits<3>>,
}

impl Default for DescriptorRegs {
    fn default() -> Self {
        with_defaults!(DescriptorRegs {
            w_one: konst(1),
            w_length: konst(DESC_W_LENGTH as u64),
            w_wr_id: konst(DESC_W_WR_ID as u64),
            w_va: konst(DESC_W_VA as u64),
            w_va_hi: konst(DESC_W_VA as u64 + 1),
            w_shortcut: konst(DESC_W_SHORTCUT as u64),
            w_last: konst(DESC_WORDS as u64 - 1),
        } defaults {
            clock, reset, word_valid, word_data, word_error, first, last, opcode, dest, length,
            wr_id, va, shortcut, error, word, r_opcode, r_dest, r_length, len_big, r_wr_id,
            r_va_lo, r_va_hi, va_big, r_shortcut_lo, r_shortcut_hi, r_error
        })
    }
}

impl Logic for DescriptorRegs {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            word,
            r_opcode,
            r_dest,
            r_length,
            r_wr_id,
            r_va_lo,
            r_va_hi,
            r_shortcut_lo,
            r_shortcut_hi,
            r_error
        );
        self.len_big.next = self.word_data.val().get_bits::<15>(17).any();
        self.va_big.next = self.word_data.val().get_bits::<17>(15).any();
        self.first.next = !self.word.q.val().any();
        self.last.next = self.word_valid.val() && (self.word.q.val() == self.w_last.val());
        if self.word_valid.val() {
            self.word.d.next = self.word.q.val() + self.w_one.val();
            if self.word_error.val() {
                self.r_error.d.next = true;
            }
            if !self.word.q.val().any() {
                self.r_opcode.d.next = self.word_data.val().get_bits::<8>(0);
                self.r_dest.d.next = self.word_data.val().get_bits::<8>(8);
                self.r_error.d.next = self.word_error.val();
            }
            if self.word.q.val() == self.w_length.val() {
                self.r_length.d.next =
                    bit_cast::<LEN_KEPT, 17>(self.word_data.val().get_bits::<17>(0))
                        | (bit_cast::<LEN_KEPT, 1>(self.len_big.val().into()) << 17);
            }
            if self.word.q.val() == self.w_wr_id.val() {
                self.r_wr_id.d.next = self.word_data.val();
            }
            if self.word.q.val() == self.w_va.val() {
                self.r_va_lo.d.next = self.word_data.val();
            }
            if self.word.q.val() == self.w_va_hi.val() {
                self.r_va_hi.d.next =
                    bit_cast::<VA_HI_KEPT, 15>(self.word_data.val().get_bits::<15>(0))
                        | (bit_cast::<VA_HI_KEPT, 1>(self.va_big.val().into()) << 15);
            }
            if self.word.q.val() == self.w_shortcut.val() {
                self.r_shortcut_lo.d.next = self.word_data.val();
            }
            if self.word.q.val() == self.w_last.val() {
                self.r_shortcut_hi.d.next = self.word_data.val();
            }
        }
        self.opcode.next = self.r_opcode.q.val();
        self.dest.next = self.r_dest.q.val();
        self.length.next = bit_cast::<32, LEN_KEPT>(self.r_length.q.val());
        self.wr_id.next = self.r_wr_id.q.val();
        self.va.next = (bit_cast::<64, VA_HI_KEPT>(self.r_va_hi.q.val()) << 32)
            | bit_cast::<64, 32>(self.r_va_lo.q.val());
        self.shortcut.next = (bit_cast::<64, 32>(self.r_shortcut_hi.q.val()) << 32)
            | bit_cast::<64, 32>(self.r_shortcut_lo.q.val());
        self.error.next = self.r_error.q.val();
        if self.reset.val() {
            self.word.d.next = 0.into();
        }
    }
}

crate::clocked!(DescriptorRegs);
