//! `SpeckDecrypt`: SPECK64/128 decryption with on-chip key expansion.
//!
//! Keys arrive word by word on the key channel; the fourth word starts the key expander, which
//! writes the slot's 27 round keys into a block RAM, one every two clocks. Decryptions then
//! name a slot and run one inverse round per clock, reading the round keys back in reverse
//! order.
//! Word conventions, key schedule and round function are those of [`abi::cipher`]: the
//! ciphertext's upper 32 bits are `x`, the key words are [`abi::cipher::Key::words`].
//!
//! Round-key RAM: `2^KEY_SLOT_BITS` slots of 32 words; round key `i` (0..=26) of slot `s`
//! lives at address `s * 32 + i`. Words 27..31 of every slot hold no round key. Four of them,
//! words 28..31 of the last slot (addresses 252..255, [`L_BASE`] on), hold the key schedule's
//! `l` words, for whichever key is being loaded or expanded (one at a time): `l[j]` at
//! `252 + (j + 1) % 4`. Key words 1..3 (`l0`, `l1`, `l2`) are written to 253..255 as they
//! arrive (word 0, `k0`, waits in the expander's `k` register and goes to 252 as well, which
//! the expansion overwrites before reading it); expansion step `i` reads `l[i]` and writes
//! `l[i + 3]` over `l[i - 1]`, which step `i - 1` used. A decryption's last round reads word
//! 31 of its slot without using the data; for the last slot that is an `l` word, and a read
//! leaves it as it is.
//!
//! Key words 0..2 wait (word 0 in the expander's register, words 1 and 2 in the RAM) until word
//! 3 arrives; the expansion consumes them, so every key is sent with all four words (a lone
//! word 3 expands whatever the expander and the `l` words last held). They are not per slot:
//! only word 3's `key_slot` counts.
//!
//! | Port            | Width | Dir | Meaning                                                        |
//! |-----------------|-------|-----|----------------------------------------------------------------|
//! | `clock`         | 1     | in  | clock; everything is synchronous to its rising edge            |
//! | `reset`         | 1     | in  | synchronous, active high: back to idle, work in flight dropped (a key expansion cut short leaves its slot partly written); RAM and key words 0..2 already taken for a key not yet started kept |
//! | *key load*      |       |     |                                                                |
//! | `key_valid`     | 1     | in  | a key word is offered                                          |
//! | `key_ready`     | 1     | out | the word is taken this cycle if `key_valid`; low while expanding or decrypting |
//! | `key_slot`      | 3     | in  | slot to expand into; sampled with word 3 only                  |
//! | `key_word`      | 2     | in  | which word: 0 = k0, 1 = l0, 2 = l1, 3 = l2 (starts expansion)  |
//! | `key_data`      | 32    | in  | the key word                                                   |
//! | `busy`          | 1     | out | high while the key expander runs                               |
//! | *decrypt input* |       |     |                                                                |
//! | `dec_in_valid`  | 1     | in  | a ciphertext is offered                                        |
//! | `dec_in_ready`  | 1     | out | the ciphertext is taken this cycle if `dec_in_valid`           |
//! | `dec_in_slot`   | 3     | in  | key slot to decrypt with                                       |
//! | `dec_in_data`   | 64    | in  | ciphertext (`x` in bits 63..32, `y` in bits 31..0)             |
//! | *decrypt output*|       |     |                                                                |
//! | `dec_out_valid` | 1     | out | a plaintext is offered                                         |
//! | `dec_out_ready` | 1     | in  | the consumer takes it this cycle                               |
//! | `dec_out_data`  | 64    | out | plaintext, stable from `dec_out_valid` until taken             |
//! | `dec_done`      | 1     | out | a plaintext is held (state only, not gated by reset or flush)  |
//! | *control*       |       |     |                                                                |
//! | `dec_flush`     | 1     | in  | drop the decryption in flight and any untaken result           |
//!
//! Handshakes: a transfer happens on a rising edge where valid and ready are both high. While
//! `reset` is high no result is offered and the inputs must not be offered (reset acts on the
//! state registers only, which keeps it off the handshake paths). While `dec_flush` is high no result is offered, and the core is free: a ciphertext (or key
//! word) offered in the same cycle is taken and starts afresh. When word 3 of a key and a ciphertext are offered in the same
//! free cycle, the key wins. `dec_in_ready` is high when idle, or when the result is taken in
//! the same cycle, so requests can run back to back; `key_ready` is high only while idle
//! (a key load waits for the decryption in flight and its result to be taken).
//!
//! Latency and throughput (measured by the tests):
//! - decryption latency 27 cycles: with the ciphertext accepted on rising edge `n`,
//!   `dec_out_valid` is high from edge `n + 27` on (the first round key is read from RAM on
//!   edge `n` itself, the 27 rounds run on edges `n + 1 ..= n + 27`). Counted in handshake
//!   cycles: accepted in cycle `c`, the result is offered in cycle `c + 28`;
//! - decryption period 28 cycles: with the output always ready, a new ciphertext is accepted in
//!   the cycle the previous result is taken, every 28 cycles;
//! - key expansion 54 cycles: from the edge that accepted word 3 until `busy` drops and the slot
//!   can be used. Each of the 27 round keys takes two clocks, as the RAM has one write port:
//!   the round key is written in the first, the new `l` word in the second (the last round
//!   key's second clock is skipped); the expansion's first clock only reads `l0`.

use abi::cipher::{ALPHA, BETA, ROUNDS};
use rust_hdl::core::prelude::*;
use rust_hdl::widgets::prelude::*;

use crate::bram::BlockRam;
use crate::consts::{konst, SLOT_W};

/// Bits of a cipher word.
const WORD_BITS: usize = 32;
/// Bits of a round-key index within a slot (27 round keys need 5).
pub const INDEX_BITS: usize = (usize::BITS - (ROUNDS - 1).leading_zeros()) as usize;
/// Bits of a round-key RAM address: slot in the upper bits, round index in the lower.
pub const ADDR_BITS: usize = SLOT_W + INDEX_BITS;

// The RAM is 256 words (8 slots of 32). A decryption reads round key `!index` (the index
// counts up), so the read issued alongside the last round is of word 31, whose data is not
// used (for the last slot an `l` word of the key expander: a read does not change it).
const _: () = assert!(ADDR_BITS == 8);
const _: () = assert!(ROUNDS < 1 << INDEX_BITS);

/// First of the four RAM words that hold the key expander's `l` words: words 28..31 of the
/// last slot, which hold no round key (see the module docs).
pub const L_BASE: u64 = (1 << ADDR_BITS) - 4;
const _: () = assert!(L_BASE % (1 << INDEX_BITS) >= ROUNDS as u64 && L_BASE.is_multiple_of(4));

/// Rising edges from the one that accepts a ciphertext to the one after which `dec_out_valid`
/// is high.
pub const LATENCY: u64 = ROUNDS as u64;
/// Cycles between accepted ciphertexts when requests and the output never stall: the result
/// is taken, and the next ciphertext accepted, one cycle after it appears.
pub const PERIOD: u64 = LATENCY + 1;
/// Cycles from the rising edge that accepts key word 3 to the first cycle `busy` is low again:
/// a clock to read `l0`, then two per round key, the last one's second clock skipped.
pub const EXPAND_CYCLES: u64 = 2 * ROUNDS as u64;

/// Index counter value in the cycle after a ciphertext is accepted: the round key read on
/// that cycle's edge is `!DEC_FIRST_INDEX` = `ROUNDS - 2`, the second of the decryption.
const DEC_FIRST_INDEX: u64 = (1 << INDEX_BITS) - (ROUNDS as u64 - 1);
const _: () = assert!((1 << INDEX_BITS) - 1 - DEC_FIRST_INDEX == ROUNDS as u64 - 2);

/// Where the block is in its work.
#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum SpeckState {
    /// Nothing to do; both input channels may be ready.
    Idle,
    /// Writing round keys of one slot, one every two clocks.
    Expand,
    /// Running inverse rounds, one per clock.
    Decrypt,
    /// Plaintext offered on the output until taken.
    Done,
}

/// SPECK64/128 decryption with key expansion into block RAM; see the module docs for ports,
/// latency and throughput.
#[derive(LogicBlock)]
pub struct SpeckDecrypt {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset, active high.
    pub reset: Signal<In, Bit>,

    /// Key load: a word is offered.
    pub key_valid: Signal<In, Bit>,
    /// Key load: the offered word is taken.
    pub key_ready: Signal<Out, Bit>,
    /// Key load: slot to expand into, sampled with word 3.
    pub key_slot: Signal<In, Bits<SLOT_W>>,
    /// Key load: 0 = k0, 1 = l0, 2 = l1, 3 = l2.
    pub key_word: Signal<In, Bits<2>>,
    /// Key load: the word's value.
    pub key_data: Signal<In, Bits<WORD_BITS>>,
    /// High while the key expander runs.
    pub busy: Signal<Out, Bit>,

    /// Decrypt input: a ciphertext is offered.
    pub dec_in_valid: Signal<In, Bit>,
    /// Decrypt input: the ciphertext is taken.
    pub dec_in_ready: Signal<Out, Bit>,
    /// Decrypt input: key slot.
    pub dec_in_slot: Signal<In, Bits<SLOT_W>>,
    /// Decrypt input: ciphertext.
    pub dec_in_data: Signal<In, Bits<64>>,

    /// Decrypt output: a plaintext is offered.
    pub dec_out_valid: Signal<Out, Bit>,
    /// Decrypt output: the consumer takes it.
    pub dec_out_ready: Signal<In, Bit>,
    /// Decrypt output: plaintext.
    pub dec_out_data: Signal<Out, Bits<64>>,
    /// A plaintext is held (straight from the state register, not gated by reset or flush:
    /// for consumers that need the fact without the handshake logic in front of it).
    pub dec_done: Signal<Out, Bit>,

    /// Drops the decryption in flight and any untaken result.
    pub dec_flush: Signal<In, Bit>,

    // Round keys, and the key expander's `l` words (module docs). `BlockRam` leaves a read of
    // the address written in the same cycle undefined; that never happens here: a key word
    // is written to 252..255 while the read address is a round key's (word 26 of the slot
    // offered for decryption), and an expansion reads an `l` word while it writes a round
    // key (words 0..26) or another `l` word (two places further round the four).
    round_keys: BlockRam<Bits<WORD_BITS>, ADDR_BITS>,
    state: DFF<SpeckState>,
    /// `state` is `Decrypt` (a flag of its own, one LUT level less in front of the round).
    dec_run: DFF<Bit>,

    // Key expander: the current round key `k[index]`; key word 0 is loaded straight into it
    // and waits there. The `l` words live in the RAM (module docs).
    exp_k: DFF<Bits<WORD_BITS>>,
    // The schedule's new `l` word, loaded on every clock: the raw output of its addition (so
    // each flip-flop shares its logic cell with its adder bit, and the RAM's read data reach
    // no further than this register). `l[index + 3]` in a step's second clock.
    exp_l: DFF<Bits<WORD_BITS>>,
    // Which clock of an expansion step: low in the first (round key `index` written, `exp_l`
    // takes `l[index + 3]`), high in the second (`l[index + 3]` written, `exp_k` and `index`
    // advance, `l[index + 1]` read for the next step). Low outside an expansion except in the
    // cycle after one.
    exp_phase: DFF<Bit>,
    // The expansion's first clock: the second clock of a step before round key 0's (`index`
    // all ones), which only reads `l0`; its write and its `exp_k` update are suppressed.
    exp_begin: DFF<Bit>,

    // Round counter shared by the expander and the decryptor (they never run together),
    // counting up. Expansion: the index of the round key written (also the schedule's round
    // constant), all ones in the first clock, then 0 to 26, advancing every second clock.
    // Decryption: the round key read is `!index`; the index wraps to 0 on the edge of the
    // second-to-last round, so it is 0 during the last round.
    index: DFF<Bits<INDEX_BITS>>,
    // The slot being expanded or decrypted with.
    slot: DFF<Bits<SLOT_W>>,

    // Decryption: the block's `x` rotated right by alpha (the raw output of the round's
    // subtraction, so each flip-flop shares its logic cell with its adder bit), and `y`. They
    // hold the plaintext once the last round has run. They do not share the expander's
    // registers (the two never run together): the extra multiplexers cost more logic cells
    // than the flip-flops saved (measured: 35 more).
    dec_xr: DFF<Bits<WORD_BITS>>,
    dec_y: DFF<Bits<WORD_BITS>>,

    // Handshake wires.
    hold: Signal<Local, Bit>,
    free: Signal<Local, Bit>,
    key_start: Signal<Local, Bit>,
    key_accept: Signal<Local, Bit>,
    dec_accept: Signal<Local, Bit>,
    // Key word 0 is taken into `exp_k`; word 3 is taken and starts the expansion.
    load_k0: Signal<Local, Bit>,
    exp_start: Signal<Local, Bit>,
    expanding: Signal<Local, Bit>,
    // The first clock of an expansion step (the index holds), and the second (not the
    // expansion's first clock).
    exp_first: Signal<Local, Bit>,
    exp_second: Signal<Local, Bit>,
    index_next: Signal<Local, Bits<INDEX_BITS>>,
    // `index + 2` in the low bits: `l[index + 1]` is at `L_BASE + (index + 2) % 4`.
    l_read_index: Signal<Local, Bits<INDEX_BITS>>,
    decrypting: Signal<Local, Bit>,
    last_round: Signal<Local, Bit>,
    read_index: Signal<Local, Bits<INDEX_BITS>>,

    // Inverse round: the block's `x`, the new `y`, and the subtraction's operands (outside
    // a decryption: the ciphertext's ror(x, alpha) and 0, so the accepting edge loads it
    // through the subtraction).
    dec_x: Signal<Local, Bits<WORD_BITS>>,
    inv_xy: Signal<Local, Bits<WORD_BITS>>,
    inv_y: Signal<Local, Bits<WORD_BITS>>,
    inv_a: Signal<Local, Bits<WORD_BITS>>,
    inv_b: Signal<Local, Bits<WORD_BITS>>,
    // The subtraction `inv_a - inv_b`, carry-select: the low half with its borrow, the high
    // half for either borrow (`a + !b` is `a - b - 1`), chosen by the borrow. Two 16-bit carry
    // chains in parallel instead of one of 32: the round is the block's longest path.
    sub_lo: Signal<Local, Bits<17>>,
    sub_hi: Signal<Local, Bits<16>>,
    sub_hi_borrow: Signal<Local, Bits<16>>,
    inv_b_hi_not: Signal<Local, Bits<16>>,
    sub: Signal<Local, Bits<WORD_BITS>>,

    // Key-schedule step: (l[index + 3], k[index + 1]) = round(l[index], k[index], index),
    // `l[index]` from the RAM's read data, in two clocks: `l[index + 3]` into `exp_l`, then
    // `k[index + 1]` from it.
    exp_rot_l: Signal<Local, Bits<WORD_BITS>>,
    exp_new_l: Signal<Local, Bits<WORD_BITS>>,
    exp_new_k: Signal<Local, Bits<WORD_BITS>>,

    // Typed constants: bare literals would change widths in the generated Verilog.
    alpha: Constant<Bits<WORD_BITS>>,
    alpha_rest: Constant<Bits<WORD_BITS>>,
    beta: Constant<Bits<WORD_BITS>>,
    beta_rest: Constant<Bits<WORD_BITS>>,
    word_k0: Constant<Bits<2>>,
    word_l2: Constant<Bits<2>>,
    index_one: Constant<Bits<INDEX_BITS>>,
    index_zero: Constant<Bits<INDEX_BITS>>,
    index_ones: Constant<Bits<INDEX_BITS>>,
    index_two: Constant<Bits<INDEX_BITS>>,
    index_last: Constant<Bits<INDEX_BITS>>,
    index_dec_first: Constant<Bits<INDEX_BITS>>,
    addr_slot_shift: Constant<Bits<ADDR_BITS>>,
    addr_index_last: Constant<Bits<ADDR_BITS>>,
    addr_l_base: Constant<Bits<ADDR_BITS>>,
    half_shift: Constant<Bits<8>>,
    half_sub: Constant<Bits<WORD_BITS>>,
    word_zero: Constant<Bits<WORD_BITS>>,
}

impl SpeckDecrypt {
    /// A decryptor in the idle state with an empty round-key RAM.
    pub fn new() -> SpeckDecrypt {
        let word = WORD_BITS as u64;
        let last = (ROUNDS - 1) as u64;
        SpeckDecrypt {
            clock: Default::default(),
            reset: Default::default(),
            key_valid: Default::default(),
            key_ready: Default::default(),
            key_slot: Default::default(),
            key_word: Default::default(),
            key_data: Default::default(),
            busy: Default::default(),
            dec_in_valid: Default::default(),
            dec_in_ready: Default::default(),
            dec_in_slot: Default::default(),
            dec_in_data: Default::default(),
            dec_out_valid: Default::default(),
            dec_out_ready: Default::default(),
            dec_out_data: Default::default(),
            dec_done: Default::default(),
            dec_flush: Default::default(),
            round_keys: Default::default(),
            state: Default::default(),
            dec_run: Default::default(),
            exp_k: Default::default(),
            exp_l: Default::default(),
            exp_phase: Default::default(),
            exp_begin: Default::default(),
            index: Default::default(),
            slot: Default::default(),
            dec_xr: Default::default(),
            dec_y: Default::default(),
            hold: Default::default(),
            free: Default::default(),
            key_start: Default::default(),
            key_accept: Default::default(),
            dec_accept: Default::default(),
            load_k0: Default::default(),
            exp_start: Default::default(),
            expanding: Default::default(),
            exp_first: Default::default(),
            exp_second: Default::default(),
            index_next: Default::default(),
            l_read_index: Default::default(),
            decrypting: Default::default(),
            last_round: Default::default(),
            read_index: Default::default(),
            dec_x: Default::default(),
            inv_xy: Default::default(),
            inv_y: Default::default(),
            inv_a: Default::default(),
            inv_b: Default::default(),
            sub_lo: Default::default(),
            sub_hi: Default::default(),
            sub_hi_borrow: Default::default(),
            inv_b_hi_not: Default::default(),
            sub: Default::default(),
            exp_rot_l: Default::default(),
            exp_new_l: Default::default(),
            exp_new_k: Default::default(),
            alpha: konst(u64::from(ALPHA)),
            alpha_rest: konst(word - u64::from(ALPHA)),
            beta: konst(u64::from(BETA)),
            beta_rest: konst(word - u64::from(BETA)),
            word_k0: konst(0),
            word_l2: konst(3),
            index_one: konst(1),
            index_zero: konst(0),
            index_ones: konst((1 << INDEX_BITS) - 1),
            index_two: konst(2),
            index_last: konst(last),
            index_dec_first: konst(DEC_FIRST_INDEX),
            addr_slot_shift: konst(INDEX_BITS as u64),
            addr_index_last: konst(last),
            addr_l_base: konst(L_BASE),
            half_shift: konst(word),
            half_sub: konst(16),
            word_zero: konst(0),
        }
    }
}

impl Default for SpeckDecrypt {
    fn default() -> SpeckDecrypt {
        SpeckDecrypt::new()
    }
}

impl Logic for SpeckDecrypt {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self, clock, state, dec_run, exp_k, exp_l, exp_phase, exp_begin, index, slot, dec_xr,
            dec_y
        );
        self.round_keys.clock.next = self.clock.val();

        // Channel control. `hold` (reset or flush) withdraws the result.
        self.hold.next = self.reset.val() | self.dec_flush.val();
        // A flush frees the core at once: a ciphertext offered in the same cycle starts afresh.
        self.free.next = (self.state.q.val() == SpeckState::Idle)
            | ((self.state.q.val() == SpeckState::Done) & self.dec_out_ready.val())
            | (self.dec_flush.val()
                & ((self.state.q.val() == SpeckState::Decrypt)
                    | (self.state.q.val() == SpeckState::Done)));
        self.key_start.next = self.key_valid.val() & (self.key_word.val() == self.word_l2.val());
        // Key words only while idle: from the state register alone, off the decrypt handshake.
        // Reset acts on the state register only; a parent in reset offers nothing.
        self.key_ready.next = self.state.q.val() == SpeckState::Idle;
        self.dec_in_ready.next = self.free.val() & !self.key_start.val();
        self.dec_out_valid.next = (self.state.q.val() == SpeckState::Done) & !self.hold.val();
        self.dec_done.next = self.state.q.val() == SpeckState::Done;
        self.expanding.next = self.state.q.val() == SpeckState::Expand;
        // A flush ends the decryption at once, so a ciphertext taken in the same cycle loads.
        self.decrypting.next = self.dec_run.q.val() & !self.dec_flush.val();
        self.busy.next = self.expanding.val();
        self.key_accept.next = self.key_valid.val() & self.key_ready.val();
        self.dec_accept.next = self.dec_in_valid.val() & self.dec_in_ready.val();
        self.load_k0.next = self.key_accept.val() & (self.key_word.val() == self.word_k0.val());
        self.exp_start.next = self.key_accept.val() & (self.key_word.val() == self.word_l2.val());
        self.exp_first.next = self.expanding.val() & !self.exp_phase.q.val();
        self.exp_second.next =
            self.expanding.val() & self.exp_phase.q.val() & !self.exp_begin.q.val();
        self.index_next.next = self.index.q.val() + self.index_one.val();
        self.l_read_index.next = self.index.q.val() ^ self.index_two.val();
        self.last_round.next = self.index.q.val() == self.index_zero.val();
        // Inverse round: y' = ror(x ^ y, beta); x' = rol((x ^ k) - y', alpha). The register
        // keeps ror(x', alpha), the subtraction's output, so nothing sits between the adder
        // and the register; rotations are wiring.
        self.dec_x.next = (self.dec_xr.q.val() << self.alpha.val())
            | (self.dec_xr.q.val() >> self.alpha_rest.val());
        self.dec_out_data.next = (bit_cast::<64, WORD_BITS>(self.dec_x.val())
            << self.half_shift.val())
            | bit_cast::<64, WORD_BITS>(self.dec_y.q.val());
        self.inv_xy.next = self.dec_x.val() ^ self.dec_y.q.val();
        self.inv_y.next =
            (self.inv_xy.val() >> self.beta.val()) | (self.inv_xy.val() << self.beta_rest.val());
        self.inv_a.next = self.dec_x.val() ^ self.round_keys.read_data.val();
        self.inv_b.next = self.inv_y.val();
        // Selected by the state alone, not by the handshake: that logic would otherwise
        // lie in front of the carry chain.
        if !self.decrypting.val() {
            self.inv_a.next = (self.dec_in_data.val().get_bits::<WORD_BITS>(32)
                >> self.alpha.val())
                | (self.dec_in_data.val().get_bits::<WORD_BITS>(32) << self.alpha_rest.val());
            self.inv_b.next = self.word_zero.val();
        }
        self.sub_lo.next = bit_cast::<17, 16>(self.inv_a.val().get_bits::<16>(0))
            - bit_cast::<17, 16>(self.inv_b.val().get_bits::<16>(0));
        self.sub_hi.next =
            self.inv_a.val().get_bits::<16>(16) - self.inv_b.val().get_bits::<16>(16);
        self.inv_b_hi_not.next = !self.inv_b.val().get_bits::<16>(16);
        self.sub_hi_borrow.next = self.inv_a.val().get_bits::<16>(16) + self.inv_b_hi_not.val();
        self.sub.next = (bit_cast::<WORD_BITS, 16>(self.sub_hi.val()) << self.half_sub.val())
            | bit_cast::<WORD_BITS, 16>(self.sub_lo.val().get_bits::<16>(0));
        if self.sub_lo.val().get_bit(16) {
            self.sub.next = (bit_cast::<WORD_BITS, 16>(self.sub_hi_borrow.val())
                << self.half_sub.val())
                | bit_cast::<WORD_BITS, 16>(self.sub_lo.val().get_bits::<16>(0));
        }

        // Key-schedule step: l' = (ror(l, alpha) + k) ^ index into `exp_l` in the step's first
        // clock (`l` = `l[index]`, read from the RAM in the clock before); k' = rol(k, beta) ^
        // l' from `exp_l` in its second.
        self.exp_rot_l.next = (self.round_keys.read_data.val() >> self.alpha.val())
            | (self.round_keys.read_data.val() << self.alpha_rest.val());
        self.exp_new_l.next = (self.exp_rot_l.val() + self.exp_k.q.val())
            ^ bit_cast::<WORD_BITS, INDEX_BITS>(self.index.q.val());
        self.exp_l.d.next = self.exp_new_l.val();
        self.exp_new_k.next = ((self.exp_k.q.val() << self.beta.val())
            | (self.exp_k.q.val() >> self.beta_rest.val()))
            ^ self.exp_l.q.val();

        // Inverted in a signal of its own: inside a wider expression Verilog would widen the
        // index before inverting it.
        self.read_index.next = !self.index.q.val();

        // RAM ports (word map in the module docs). Writes: a key word taken (only while idle)
        // to `L_BASE + key_word`; while expanding, round key `index` in a step's first clock,
        // and `l[index + 3]` at `L_BASE + index % 4` in its second (none in the expansion's
        // first clock). Reads: while expanding, the next step's `l[index + 1]` at
        // `L_BASE + (index + 2) % 4` (used in the clock after a step's second). While a
        // ciphertext can be accepted the read address is its slot's last round key, so the
        // first round runs on the very next edge; then the round keys counting down
        // (`!index`, the index counting up).
        self.round_keys.write_enable.next =
            (self.expanding.val() & !self.exp_begin.q.val()) | self.key_accept.val();
        self.round_keys.write_address.next = (bit_cast::<ADDR_BITS, SLOT_W>(self.slot.q.val())
            << self.addr_slot_shift.val())
            | bit_cast::<ADDR_BITS, INDEX_BITS>(self.index.q.val());
        self.round_keys.write_data.next = self.exp_k.q.val();
        if self.exp_phase.q.val() {
            self.round_keys.write_address.next = self.addr_l_base.val()
                | bit_cast::<ADDR_BITS, 2>(self.index.q.val().get_bits::<2>(0));
            self.round_keys.write_data.next = self.exp_l.q.val();
        }
        if !self.expanding.val() {
            self.round_keys.write_address.next =
                self.addr_l_base.val() | bit_cast::<ADDR_BITS, 2>(self.key_word.val());
            self.round_keys.write_data.next = self.key_data.val();
        }
        self.round_keys.read_address.next = (bit_cast::<ADDR_BITS, SLOT_W>(self.slot.q.val())
            << self.addr_slot_shift.val())
            | bit_cast::<ADDR_BITS, INDEX_BITS>(self.read_index.val());
        if self.expanding.val() {
            self.round_keys.read_address.next = self.addr_l_base.val()
                | bit_cast::<ADDR_BITS, 2>(self.l_read_index.val().get_bits::<2>(0));
        }
        if self.free.val() {
            self.round_keys.read_address.next =
                (bit_cast::<ADDR_BITS, SLOT_W>(self.dec_in_slot.val())
                    << self.addr_slot_shift.val())
                    | self.addr_index_last.val();
        }

        // The index runs freely, holding in an expansion step's first clock; starting an
        // expansion or a decryption sets it.
        self.index.d.next = self.index_next.val();
        if self.exp_first.val() {
            self.index.d.next = self.index.q.val();
        }
        self.exp_phase.d.next = self.exp_first.val() | self.exp_start.val();
        self.exp_begin.d.next = self.exp_start.val();

        // Datapath registers, each written under one condition bit at a time (a `match` on the
        // state would hide the hold-enable from synthesis and cost a multiplexer per bit).
        if self.exp_second.val() {
            self.exp_k.d.next = self.exp_new_k.val();
        }
        if self.load_k0.val() {
            self.exp_k.d.next = self.key_data.val();
        }
        if self.exp_start.val() {
            self.slot.d.next = self.key_slot.val();
            self.index.d.next = self.index_ones.val();
        }
        // A round, or the ciphertext: loaded whenever the core is free, taken or not (nothing
        // reads these registers before a decryption has run), so the input handshake stays
        // off their enables.
        if self.decrypting.val() | self.free.val() {
            self.dec_xr.d.next = self.sub.val();
            self.dec_y.d.next = self.inv_y.val();
            if !self.decrypting.val() {
                self.dec_y.d.next = self.dec_in_data.val().get_bits::<WORD_BITS>(0);
            }
        }
        if self.dec_accept.val() {
            self.slot.d.next = self.dec_in_slot.val();
            self.index.d.next = self.index_dec_first.val();
        }

        // State transitions.
        match self.state.q.val() {
            SpeckState::Idle => {}
            SpeckState::Expand => {
                // The last round key is written in its step's first clock.
                if (self.index.q.val() == self.index_last.val()) & !self.exp_phase.q.val() {
                    self.state.d.next = SpeckState::Idle;
                }
            }
            SpeckState::Decrypt => {
                if self.last_round.val() {
                    self.state.d.next = SpeckState::Done;
                }
            }
            SpeckState::Done => {
                if self.dec_out_ready.val() {
                    self.state.d.next = SpeckState::Idle;
                }
            }
        }
        if self.dec_flush.val()
            & ((self.state.q.val() == SpeckState::Decrypt)
                | (self.state.q.val() == SpeckState::Done))
        {
            self.state.d.next = SpeckState::Idle;
        }
        if self.exp_start.val() {
            self.state.d.next = SpeckState::Expand;
        }
        if self.dec_accept.val() {
            self.state.d.next = SpeckState::Decrypt;
        }
        if self.reset.val() {
            self.state.d.next = SpeckState::Idle;
        }
        self.dec_run.d.next = self.state.d.val() == SpeckState::Decrypt;
    }
}

crate::clocked!(SpeckDecrypt);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed, Bench};
    use abi::cipher::{decrypt_with_round_keys, round_keys, Key};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// The SPECK64/128 test vector of the SPECK paper (Beaulieu et al., 2013, appendix C).
    const PAPER_KEY: u128 = 0x1b1a1918_13121110_0b0a0908_03020100;
    const PAPER_PT: u64 = 0x3b726574_7475432d;
    const PAPER_CT: u64 = 0x8c6fa548_454e028b;

    const SLOTS: usize = abi::geometry::NUM_KEY_SLOTS;
    /// Key word that starts the expansion.
    const LAST_WORD: u64 = 3;
    /// Give-up bound for waits in directed tests.
    const TIMEOUT: u64 = 1_000;

    type Tb = Bench<SpeckDecrypt>;

    fn expected(key: &Key, ct: u64) -> u64 {
        decrypt_with_round_keys(&round_keys(key), ct)
    }

    /// Everything driven onto the block in one cycle. Payloads are driven even when the
    /// matching valid is low, so a block that samples them at the wrong time is caught.
    #[derive(Clone, Copy, Default)]
    struct Drive {
        reset: bool,
        key_valid: bool,
        key_slot: u64,
        key_word: u64,
        key_data: u64,
        dec_in_valid: bool,
        dec_in_slot: u64,
        dec_in_data: u64,
        dec_out_ready: bool,
        dec_flush: bool,
    }

    /// The block's outputs after settling, before the edge.
    #[derive(Clone, Copy, Debug)]
    struct Seen {
        key_ready: bool,
        busy: bool,
        dec_in_ready: bool,
        dec_out_valid: bool,
        dec_out_data: u64,
    }

    impl Seen {
        fn key_fires(&self, d: &Drive) -> bool {
            d.key_valid && self.key_ready
        }
        fn dec_in_fires(&self, d: &Drive) -> bool {
            d.dec_in_valid && self.dec_in_ready
        }
        fn dec_out_fires(&self, d: &Drive) -> bool {
            self.dec_out_valid && d.dec_out_ready
        }
    }

    /// Applies `d`, settles and reads the outputs; the caller then calls `tb.tick()`.
    fn apply(tb: &mut Tb, d: &Drive) -> Seen {
        let u = &mut tb.uut;
        u.reset.next = d.reset;
        u.key_valid.next = d.key_valid;
        u.key_slot.next = d.key_slot.into();
        u.key_word.next = d.key_word.into();
        u.key_data.next = d.key_data.into();
        u.dec_in_valid.next = d.dec_in_valid;
        u.dec_in_slot.next = d.dec_in_slot.into();
        u.dec_in_data.next = d.dec_in_data.into();
        u.dec_out_ready.next = d.dec_out_ready;
        u.dec_flush.next = d.dec_flush;
        tb.settle();
        let u = &tb.uut;
        Seen {
            key_ready: u.key_ready.val(),
            busy: u.busy.val(),
            dec_in_ready: u.dec_in_ready.val(),
            dec_out_valid: u.dec_out_valid.val(),
            dec_out_data: u.dec_out_data.val().to_u64(),
        }
    }

    /// Loads `key` into `slot` (words in order, no gaps) and waits for the expansion to end.
    /// Returns the cycles from the edge accepting word 3 to `busy` low.
    fn load_key(tb: &mut Tb, slot: usize, key: &Key) -> Result<u64, String> {
        let words = key
            .words()
            .into_iter()
            .enumerate()
            .map(|(word, data)| (word as u64, u64::from(data), slot as u64))
            .collect();
        load_words(tb, words)
    }

    /// Offers `(word, data, key_slot)` in order, each from the cycle after the previous one was
    /// taken, and waits for the expansion to end. Returns the cycles from the edge accepting
    /// word 3 to `busy` low.
    fn load_words(tb: &mut Tb, words: Vec<(u64, u64, u64)>) -> Result<u64, String> {
        for (word, data, slot) in words {
            let d = Drive {
                key_valid: true,
                key_slot: slot,
                key_word: word,
                key_data: data,
                ..Drive::default()
            };
            let start = tb.cycle;
            while !apply(tb, &d).key_ready {
                tb.tick();
                if tb.cycle - start > TIMEOUT {
                    return Err(format!("key word {word} never accepted"));
                }
            }
            tb.tick();
        }
        let accepted = tb.cycle;
        while apply(tb, &Drive::default()).busy {
            tb.tick();
            if tb.cycle - accepted > TIMEOUT {
                return Err("key expansion never ends".into());
            }
        }
        Ok(tb.cycle - accepted)
    }

    /// Decrypts `ct` under `slot` with the output always ready. Returns the plaintext and the
    /// cycles from the accepting edge to `dec_out_valid`.
    fn decrypt(tb: &mut Tb, slot: usize, ct: u64) -> Result<(u64, u64), String> {
        let mut d = Drive {
            dec_in_valid: true,
            dec_in_slot: slot as u64,
            dec_in_data: ct,
            dec_out_ready: true,
            ..Drive::default()
        };
        let start = tb.cycle;
        while !apply(tb, &d).dec_in_ready {
            tb.tick();
            if tb.cycle - start > TIMEOUT {
                return Err(format!("ciphertext {ct:016x} never accepted"));
            }
        }
        // `tb.cycle` counts edges: the accepting edge is the one `tick` makes now.
        tb.tick();
        let accepted = tb.cycle;
        d.dec_in_valid = false;
        loop {
            let seen = apply(tb, &d);
            if seen.dec_out_valid {
                let latency = tb.cycle - accepted;
                tb.tick();
                return Ok((seen.dec_out_data, latency));
            }
            tb.tick();
            if tb.cycle - accepted > TIMEOUT {
                return Err(format!("no result for ciphertext {ct:016x}"));
            }
        }
    }

    #[test]
    fn speck_decrypt_published_vector() {
        run_seeded(
            "speck_decrypt_published_vector",
            test_seed(),
            SpeckDecrypt::default,
            |tb, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let paper_slot = 5;
                let mut keys = [Key::from_u128(0); SLOTS];
                for (slot, key) in keys.iter_mut().enumerate() {
                    *key = if slot == paper_slot {
                        Key::from_u128(PAPER_KEY)
                    } else {
                        Key::from_u128(rng.gen())
                    };
                    let cycles = load_key(tb, slot, key)?;
                    if cycles != EXPAND_CYCLES || cycles != 54 {
                        return Err(format!(
                            "expansion took {cycles} cycles, documented {EXPAND_CYCLES} (54)"
                        ));
                    }
                }
                let (pt, _) = decrypt(tb, paper_slot, PAPER_CT)?;
                if pt != PAPER_PT {
                    return Err(format!("paper vector: got {pt:016x}, want {PAPER_PT:016x}"));
                }
                // Every slot decrypts with its own schedule: a wrong round key anywhere in a slot
                // (or a write into the wrong slot) changes these results.
                for _ in 0..4 {
                    for (slot, key) in keys.iter().enumerate() {
                        let ct = rng.gen();
                        let (pt, _) = decrypt(tb, slot, ct)?;
                        let want = expected(key, ct);
                        if pt != want {
                            return Err(format!(
                                "slot {slot}, ct {ct:016x}: got {pt:016x}, want {want:016x}"
                            ));
                        }
                    }
                }
                Ok(())
            },
        );
    }

    #[test]
    fn speck_decrypt_latency_and_period() {
        run_seeded(
            "speck_decrypt_latency_and_period",
            test_seed(),
            SpeckDecrypt::default,
            |tb, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let key = Key::from_u128(rng.gen());
                load_key(tb, 2, &key)?;
                // Single requests from idle.
                for _ in 0..4 {
                    let ct = rng.gen();
                    let (pt, latency) = decrypt(tb, 2, ct)?;
                    if pt != expected(&key, ct) {
                        return Err(format!("ct {ct:016x}: wrong plaintext {pt:016x}"));
                    }
                    if latency != LATENCY || latency > ROUNDS as u64 + 1 {
                        return Err(format!("latency {latency}, documented {LATENCY}"));
                    }
                }
                // Back to back: input always valid, output always ready.
                let mut cts: VecDeque<u64> = (0..40).map(|_| rng.gen()).collect();
                let mut in_flight: VecDeque<(u64, u64)> = VecDeque::new();
                let mut accepts = Vec::new();
                let mut done = 0;
                while done < 40 {
                    let d = Drive {
                        dec_in_valid: !cts.is_empty(),
                        dec_in_slot: 2,
                        dec_in_data: cts.front().copied().unwrap_or(0),
                        dec_out_ready: true,
                        ..Drive::default()
                    };
                    let seen = apply(tb, &d);
                    if seen.dec_out_fires(&d) {
                        let (accepted, ct) =
                            in_flight.pop_front().ok_or("result without request")?;
                        let latency = tb.cycle - accepted;
                        if latency != LATENCY {
                            return Err(format!("back-to-back latency {latency}, want {LATENCY}"));
                        }
                        if seen.dec_out_data != expected(&key, ct) {
                            return Err(format!("ct {ct:016x}: wrong plaintext"));
                        }
                        done += 1;
                    }
                    if seen.dec_in_fires(&d) {
                        let ct = cts.pop_front().ok_or("accepted without valid")?;
                        // The edge ending this cycle accepts; count from the next cycle.
                        in_flight.push_back((tb.cycle + 1, ct));
                        accepts.push(tb.cycle);
                    }
                    tb.tick();
                    if tb.cycle > 10 * TIMEOUT {
                        return Err("back-to-back run stalled".into());
                    }
                }
                for w in accepts.windows(2) {
                    let period = w[1] - w[0];
                    if period != PERIOD || period > ROUNDS as u64 + 1 {
                        return Err(format!("back-to-back period {period}, want {PERIOD}"));
                    }
                }
                println!(
                    "speck_decrypt: latency {LATENCY} cycles, back-to-back period {PERIOD} cycles"
                );
                Ok(())
            },
        );
    }

    /// Decrypts a random ciphertext under every slot and checks each plaintext.
    fn check_every_slot(tb: &mut Tb, rng: &mut SmallRng, keys: &[Key]) -> Result<(), String> {
        for (slot, key) in keys.iter().enumerate() {
            let ct = rng.gen();
            let (pt, latency) = decrypt(tb, slot, ct)?;
            let want = expected(key, ct);
            if pt != want || latency != LATENCY {
                return Err(format!(
                    "slot {slot}, ct {ct:016x}: got {pt:016x} after {latency} cycles, want \
                     {want:016x} after {LATENCY}"
                ));
            }
        }
        Ok(())
    }

    /// Re-keying: keys back to back into every slot (each key's word 0 offered in the first
    /// cycle after the previous expansion, words 0..2 in random order with noise on
    /// `key_slot`), then, for every slot in random order: a decryption under some slot (half
    /// the time the last one, whose word 31, read with the last round, is one of the
    /// expander's `l` words), straight after it a new key into the slot, and a decryption under
    /// every slot. Every expansion takes exactly `EXPAND_CYCLES`.
    #[test]
    fn speck_decrypt_rekeying() {
        run_seeded(
            "speck_decrypt_rekeying",
            test_seed(),
            SpeckDecrypt::default,
            |tb, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let load = |tb: &mut Tb, rng: &mut SmallRng, slot: usize, key: Key| {
                    let mut words = Vec::new();
                    for (word, data) in KeyLoad::new(rng, slot, key).words {
                        // Only word 3's slot counts.
                        let key_slot = match word {
                            LAST_WORD => slot as u64,
                            _ => rng.gen_range(0..SLOTS as u64),
                        };
                        words.push((word, data, key_slot));
                    }
                    let cycles = load_words(tb, words)?;
                    if cycles != EXPAND_CYCLES {
                        return Err(format!(
                            "slot {slot}: expansion took {cycles} cycles, not {EXPAND_CYCLES}"
                        ));
                    }
                    Ok::<(), String>(())
                };
                let mut keys: Vec<Key> = (0..SLOTS).map(|_| Key::from_u128(rng.gen())).collect();
                for (slot, key) in keys.iter().enumerate() {
                    load(tb, &mut rng, slot, *key)?;
                }
                check_every_slot(tb, &mut rng, &keys)?;
                let mut order: Vec<usize> = (0..SLOTS).collect();
                for i in (1..SLOTS).rev() {
                    order.swap(i, rng.gen_range(0..=i));
                }
                for target in order {
                    let slot = if rng.gen_bool(0.5) {
                        SLOTS - 1
                    } else {
                        rng.gen_range(0..SLOTS)
                    };
                    let ct = rng.gen();
                    let (pt, _) = decrypt(tb, slot, ct)?;
                    if pt != expected(&keys[slot], ct) {
                        return Err(format!("slot {slot}, ct {ct:016x}: got {pt:016x}"));
                    }
                    keys[target] = Key::from_u128(rng.gen());
                    load(tb, &mut rng, target, keys[target])?;
                    check_every_slot(tb, &mut rng, &keys)?;
                }
                Ok(())
            },
        );
    }

    /// A key load in progress: the words still to offer, and the key and slot it installs.
    struct KeyLoad {
        words: VecDeque<(u64, u64)>,
        slot: usize,
        key: Key,
    }

    impl KeyLoad {
        /// Words 0..2 in random order with random `key_slot` values (only word 3's slot
        /// counts), then word 3.
        fn new(rng: &mut SmallRng, slot: usize, key: Key) -> KeyLoad {
            let w = key.words();
            let mut first: Vec<u64> = vec![0, 1, 2];
            for i in (1..first.len()).rev() {
                first.swap(i, rng.gen_range(0..=i));
            }
            let mut words: VecDeque<(u64, u64)> = first
                .into_iter()
                .map(|i| (i, u64::from(w[i as usize])))
                .collect();
            words.push_back((LAST_WORD, u64::from(w[3])));
            KeyLoad { words, slot, key }
        }
    }

    fn random_traffic(tb: &mut Tb, seed: u64) -> Result<(), String> {
        const DECRYPTIONS: u64 = 2_000;
        const FLUSHES: u64 = 30;
        const RELOADS: u64 = 5;
        const MAX_CYCLES: u64 = 500_000;
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut keys: [Option<Key>; SLOTS] = [None; SLOTS];
        let mut loads: VecDeque<KeyLoad> = VecDeque::new();
        for slot in [0, 3, 4, 6, 7] {
            let key = Key::from_u128(rng.gen());
            loads.push_back(KeyLoad::new(&mut rng, slot, key));
        }
        let mut key_gap = 0u32;
        let mut request: Option<(usize, u64)> = None;
        let mut request_gap = 0u32;
        // The plaintext the block owes us: accepted, not yet taken or dropped.
        let mut owed: Option<u64> = None;
        // Result offered and not taken in the previous cycle: it must stay.
        let mut offered: Option<u64> = None;
        let mut expanding: Option<usize> = None;
        let (mut done, mut flushes, mut reloads, mut resets) = (0u64, 0u64, 0u64, 0u64);

        while done < DECRYPTIONS || flushes < FLUSHES || reloads < RELOADS {
            if tb.cycle > MAX_CYCLES {
                return Err(format!(
                    "stalled: {done} decryptions, {flushes} flushes, {reloads} reloads"
                ));
            }
            if loads.is_empty() && done > 0 && rng.gen_ratio(1, 2_000) {
                let slot = rng.gen_range(0..SLOTS);
                let key = Key::from_u128(rng.gen());
                loads.push_back(KeyLoad::new(&mut rng, slot, key));
                reloads += 1;
            }
            if request.is_none() && request_gap == 0 {
                let loaded: Vec<usize> = (0..SLOTS).filter(|&s| keys[s].is_some()).collect();
                if !loaded.is_empty() {
                    request = Some((loaded[rng.gen_range(0..loaded.len())], rng.gen()));
                }
            }
            let key_word = loads.front().and_then(|l| l.words.front().copied());
            let reset = rng.gen_ratio(1, 4_000);
            let mut d = Drive {
                reset,
                key_valid: key_word.is_some() && key_gap == 0,
                key_slot: match (key_word, loads.front()) {
                    (Some((LAST_WORD, _)), Some(l)) => l.slot as u64,
                    _ => rng.gen_range(0..SLOTS as u64),
                },
                key_word: key_word.map_or(rng.gen_range(0..4), |w| w.0),
                key_data: key_word.map_or(rng.gen::<u32>().into(), |w| w.1),
                dec_in_valid: request.is_some(),
                dec_in_slot: request.map_or(rng.gen_range(0..SLOTS as u64), |r| r.0 as u64),
                dec_in_data: request.map_or(rng.gen(), |r| r.1),
                dec_out_ready: rng.gen_bool(0.5),
                dec_flush: rng.gen_ratio(1, if owed.is_some() { 400 } else { 200 }),
            };
            if reset {
                // A parent in reset offers nothing.
                d.key_valid = false;
                d.dec_in_valid = false;
            }
            let seen = apply(tb, &d);
            let at = tb.cycle;

            // Protocol checks.
            if (d.reset || d.dec_flush) && seen.dec_out_valid {
                return Err(format!(
                    "cycle {at}: transfer possible during reset, or a result during flush: {seen:?}"
                ));
            }
            if seen.busy && (seen.key_ready || seen.dec_in_ready) {
                return Err(format!("cycle {at}: ready while expanding: {seen:?}"));
            }
            if seen.key_fires(&d) && d.key_word == LAST_WORD && seen.dec_in_fires(&d) {
                return Err(format!(
                    "cycle {at}: key start and ciphertext accepted together"
                ));
            }
            if let Some(prev) = offered {
                if !d.reset && !d.dec_flush && (!seen.dec_out_valid || seen.dec_out_data != prev) {
                    return Err(format!(
                        "cycle {at}: offered result {prev:016x} changed or dropped"
                    ));
                }
            }
            if seen.dec_out_valid {
                match owed {
                    Some(want) if want == seen.dec_out_data => {}
                    Some(want) => {
                        return Err(format!(
                            "cycle {at}: plaintext {:016x}, want {want:016x}",
                            seen.dec_out_data
                        ))
                    }
                    None => return Err(format!("cycle {at}: result nobody asked for")),
                }
            }

            // What the edge does.
            offered = (seen.dec_out_valid && !d.dec_out_ready).then_some(seen.dec_out_data);
            if seen.dec_out_fires(&d) {
                owed = None;
                done += 1;
            }
            // A flush drops what was owed before a ciphertext of the same cycle starts.
            if d.dec_flush && owed.take().is_some() {
                flushes += 1;
            }
            if seen.dec_in_fires(&d) {
                if owed.is_some() {
                    return Err(format!(
                        "cycle {at}: second ciphertext taken before the first result"
                    ));
                }
                let (slot, ct) = request.take().ok_or("accepted without valid")?;
                let key = keys[slot].ok_or("request for an empty slot")?;
                owed = Some(expected(&key, ct));
                request_gap = if rng.gen_ratio(1, 8) {
                    rng.gen_range(0..60)
                } else {
                    rng.gen_range(0..3)
                };
            }
            if !seen.busy {
                expanding = None;
            }
            if seen.key_fires(&d) {
                let load = loads.front_mut().ok_or("key word taken without valid")?;
                let (word, _) = load
                    .words
                    .pop_front()
                    .ok_or("key word taken without valid")?;
                if word == LAST_WORD {
                    keys[load.slot] = Some(load.key);
                    expanding = Some(load.slot);
                    loads.pop_front();
                }
                key_gap = rng.gen_range(0..4);
            } else {
                key_gap = key_gap.saturating_sub(1);
            }
            if d.reset {
                resets += 1;
                owed = None;
                // An expansion cut short leaves its slot half written; a load half sent
                // starts over.
                if let Some(slot) = expanding.take() {
                    keys[slot] = None;
                    if request.is_some_and(|r| r.0 == slot) {
                        request = None;
                    }
                }
                if let Some(l) = loads.front_mut() {
                    *l = KeyLoad::new(&mut rng, l.slot, l.key);
                }
            }
            request_gap = request_gap.saturating_sub(1);
            tb.tick();
        }
        println!(
            "speck_decrypt_random_traffic seed {seed}: {done} decryptions, {flushes} flushes, \
             {reloads} reloads, {resets} resets in {} cycles",
            tb.cycle
        );
        Ok(())
    }

    #[test]
    fn speck_decrypt_random_traffic() {
        let seed = test_seed();
        println!("speck_decrypt_random_traffic: SKIPWALK_SEED={seed}");
        run_seeded(
            "speck_decrypt_random_traffic",
            seed,
            SpeckDecrypt::default,
            random_traffic,
        );
    }

    /// A fresh directory under the system temp dir for generated files.
    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("skipwalk-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        dir
    }

    fn run_tool(dir: &Path, cmd: &mut Command) -> String {
        let out = cmd
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run `make deps`)"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{cmd:?} failed:\n{text}");
        text
    }

    #[test]
    fn speck_decrypt_verilog_lints() {
        let mut uut = SpeckDecrypt::default();
        uut.connect_all();
        let verilog = generate_verilog(&uut);
        let dir = scratch_dir("speck-lint");
        std::fs::write(dir.join("top.v"), &verilog).expect("write top.v");
        run_tool(
            &dir,
            Command::new("verilator").args([
                "--lint-only",
                "-Wno-WIDTH",
                "--top-module",
                "top",
                "top.v",
            ]),
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Verilog test bench: tasks that drive each channel from the falling edge (so inputs never
    /// change at a rising edge) and print every result with its latency in rising edges.
    const TB_HEAD: &str = r#"`timescale 1ns/1ps
module tb;
  reg clock = 0;
  always #5 clock = ~clock;
  integer edges = 0;
  always @(posedge clock) edges <= edges + 1;
  reg reset = 1, key_valid = 0, dec_in_valid = 0, dec_out_ready = 0, dec_flush = 0;
  reg [2:0] key_slot = 0, dec_in_slot = 0;
  reg [1:0] key_word = 0;
  reg [31:0] key_data = 0;
  reg [63:0] dec_in_data = 0;
  wire key_ready, busy, dec_in_ready, dec_out_valid;
  wire [63:0] dec_out_data;
  integer accepted, i;
  top dut(.clock(clock), .reset(reset), .key_valid(key_valid), .key_ready(key_ready),
    .key_slot(key_slot), .key_word(key_word), .key_data(key_data), .busy(busy),
    .dec_in_valid(dec_in_valid), .dec_in_ready(dec_in_ready), .dec_in_slot(dec_in_slot),
    .dec_in_data(dec_in_data), .dec_out_valid(dec_out_valid), .dec_out_ready(dec_out_ready),
    .dec_out_data(dec_out_data), .dec_flush(dec_flush));
  task key(input [2:0] slot, input [1:0] word, input [31:0] data);
    begin
      @(negedge clock); key_valid = 1; key_slot = slot; key_word = word; key_data = data; #1;
      while (!key_ready) begin @(negedge clock); #1; end
      @(posedge clock); accepted = edges + 1;
      @(negedge clock); key_valid = 0; #1;
      while (busy) begin @(negedge clock); #1; end
      if (word == 3) $display("EXP %0d", edges - accepted);
    end
  endtask
  task start(input [2:0] slot, input [63:0] ct);
    begin
      @(negedge clock); dec_in_valid = 1; dec_in_slot = slot; dec_in_data = ct; #1;
      while (!dec_in_ready) begin @(negedge clock); #1; end
      @(posedge clock); accepted = edges + 1;
      @(negedge clock); dec_in_valid = 0;
    end
  endtask
  task decrypt(input [2:0] slot, input [63:0] ct);
    begin
      start(slot, ct);
      dec_out_ready = 1; #1;
      while (!dec_out_valid) begin @(negedge clock); #1; end
      $display("PT %h %0d", dec_out_data, edges - accepted);
      @(negedge clock); dec_out_ready = 0;
    end
  endtask
  task flushed(input [2:0] slot, input [63:0] ct, input integer wait_cycles);
    begin
      start(slot, ct);
      for (i = 0; i < wait_cycles; i = i + 1) @(negedge clock);
      dec_flush = 1; dec_out_ready = 1;
      @(negedge clock); dec_flush = 0;
      for (i = 0; i < 40; i = i + 1) begin
        #1 if (dec_out_valid) $display("LEAK");
        @(negedge clock);
      end
      dec_out_ready = 0;
    end
  endtask
  initial begin
    #1000000 $display("TIMEOUT"); $finish;
  end
  initial begin
    @(negedge clock); @(negedge clock); reset = 0;
"#;

    #[test]
    fn speck_decrypt_verilog_matches_model() {
        let seed = test_seed();
        println!("speck_decrypt_verilog_matches_model: SKIPWALK_SEED={seed}");
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut keys = [Key::from_u128(PAPER_KEY); SLOTS];
        let mut tb = String::from(TB_HEAD);
        let mut want = Vec::new();
        for (slot, key) in keys.iter_mut().enumerate() {
            if slot != 1 {
                *key = Key::from_u128(rng.gen());
            }
            for (word, data) in key.words().into_iter().enumerate() {
                tb += &format!("    key({slot}, {word}, 32'h{data:08x});\n");
            }
        }
        tb += &format!("    decrypt(1, 64'h{PAPER_CT:016x});\n");
        want.push(PAPER_PT);
        let mut expansions = SLOTS;
        for round in 0..6 {
            if round >= 3 {
                // A new key into one slot, straight after a decryption under the last slot
                // (whose word 31 is one of the expander's `l` words) or under that slot.
                let target = rng.gen_range(0..SLOTS);
                let slot = if round % 2 == 0 { SLOTS - 1 } else { target };
                let ct: u64 = rng.gen();
                tb += &format!("    decrypt({slot}, 64'h{ct:016x});\n");
                want.push(expected(&keys[slot], ct));
                keys[target] = Key::from_u128(rng.gen());
                for (word, data) in keys[target].words().into_iter().enumerate() {
                    tb += &format!("    key({target}, {word}, 32'h{data:08x});\n");
                }
                expansions += 1;
            }
            for (slot, key) in keys.iter().enumerate() {
                let ct: u64 = rng.gen();
                if round == 0 {
                    let wait = rng.gen_range(0..LATENCY + 3);
                    tb += &format!("    flushed({slot}, 64'h{ct:016x}, {wait});\n");
                }
                let ct: u64 = rng.gen();
                tb += &format!("    decrypt({slot}, 64'h{ct:016x});\n");
                want.push(expected(key, ct));
            }
        }
        tb += "    $display(\"END\");\n    $finish;\n  end\nendmodule\n";

        let mut uut = SpeckDecrypt::default();
        uut.connect_all();
        let dir = scratch_dir("speck-iverilog");
        std::fs::write(dir.join("top.v"), generate_verilog(&uut)).expect("write top.v");
        std::fs::write(dir.join("tb.v"), &tb).expect("write tb.v");
        run_tool(
            &dir,
            Command::new("iverilog").args(["-g2005", "-o", "tb.vvp", "tb.v", "top.v"]),
        );
        let out = run_tool(&dir, Command::new("vvp").args(["-n", "tb.vvp"]));
        let mut got = Vec::new();
        let mut expanded = 0;
        for line in out.lines() {
            let mut f = line.split_whitespace();
            match f.next() {
                Some("PT") => {
                    let pt =
                        u64::from_str_radix(f.next().unwrap_or(""), 16).expect("hex plaintext");
                    let latency: u64 = f.next().and_then(|l| l.parse().ok()).expect("latency");
                    assert_eq!(latency, LATENCY, "Verilog latency, seed {seed}");
                    got.push(pt);
                }
                Some("EXP") => {
                    let cycles: u64 = f.next().and_then(|l| l.parse().ok()).expect("cycles");
                    assert_eq!(cycles, EXPAND_CYCLES, "Verilog key expansion, seed {seed}");
                    expanded += 1;
                }
                Some("LEAK") => {
                    panic!("Verilog: a flushed decryption produced output, seed {seed}")
                }
                Some("TIMEOUT") => panic!("Verilog test bench timed out, seed {seed}:\n{out}"),
                _ => {}
            }
        }
        assert!(
            out.contains("END"),
            "Verilog test bench did not finish:\n{out}"
        );
        assert_eq!(got.len(), want.len(), "Verilog results, seed {seed}");
        assert_eq!(expanded, expansions, "Verilog key expansions, seed {seed}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                g, w,
                "Verilog result {i}: got {g:016x}, want {w:016x}, seed {seed}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
