//! `ShortcutCheck`: checks a decrypted shortcut against the descriptor and the PD.
//!
//! Applies the checks of `abi::shortcut::check` in the same order and then the range check
//! (the transfer must stay inside the span of the named table). The comparisons are
//! registered and the priority among them is decided from the registers, so the wide
//! comparators and the status logic sit in different cycles.
//!
//! | port          | width | dir | meaning                                                 |
//! |---------------|-------|-----|---------------------------------------------------------|
//! | `clock`       | 1     | in  | clock                                                   |
//! | `plaintext`   | 64    | in  | decrypted shortcut                                      |
//! | `va`          | 47    | in  | first byte of the transfer (already range-checked)      |
//! | `va_last_tag` | 27    | in  | bits 47:21 of the transfer's last byte                  |
//! | `generation`  | 7     | in  | the PD's current generation                             |
//! | `win_base`    | 28    | in  | first frame of the PD's table window                    |
//! | `win_end`     | 29    | in  | first frame after the window (`win_base + pages`)       |
//! | `status`      | 5     | out | `Ok` or the first failing check (inputs of a cycle ago) |
//! | `fault`       | 1     | out | the status is a shortcut fault (counts towards the lock)|
//! | `table_frame` | 28    | out | frame of the named table                                |
//! | `level`       | 3     | out | named level (1 = leaf)                                  |
//!
//! Latency: `status` and `fault` judge the inputs of the previous cycle (hold them for two
//! cycles); `table_frame` and `level` are wiring.

use abi::shortcut::{GEN_SHIFT, LEVEL_SHIFT, TABLE_FRAME_SHIFT, VA_TAG_FIELD_BITS};
use abi::Status;
use rust_hdl::prelude::*;

use crate::consts::{status_const, STATUS_W};

/// The shortcut checker (see the module documentation).
#[derive(LogicBlock)]
pub struct ShortcutCheck {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Decrypted shortcut.
    pub plaintext: Signal<In, Bits<64>>,
    /// First byte of the transfer.
    pub va: Signal<In, Bits<47>>,
    /// Bits 47:21 of the transfer's last byte (the span of a leaf table and above).
    pub va_last_tag: Signal<In, Bits<27>>,
    /// The PD's current generation.
    pub generation: Signal<In, Bits<7>>,
    /// First frame of the PD's table window.
    pub win_base: Signal<In, Bits<28>>,
    /// First frame after the PD's table window.
    pub win_end: Signal<In, Bits<29>>,
    /// `Ok` or the first failing check.
    pub status: Signal<Out, Bits<STATUS_W>>,
    /// The status counts as a shortcut fault.
    pub fault: Signal<Out, Bit>,
    /// Frame of the named table.
    pub table_frame: Signal<Out, Bits<28>>,
    /// Named level (1 = leaf).
    pub level: Signal<Out, Bits<3>>,
    tag: Signal<Local, Bits<27>>,
    generation_found: Signal<Local, Bits<7>>,
    level_field: Signal<Local, Bits<2>>,
    padding_bad: Signal<Local, Bit>,
    // The tag compared at each level's width (the bits above are padding, checked first);
    // the last byte's tag differs from the first's in the leaf, level-2 or level-3 span.
    tag_bad: Signal<Local, Bit>,
    diff_leaf: Signal<Local, Bit>,
    diff_mid: Signal<Local, Bit>,
    diff_top: Signal<Local, Bit>,
    crosses: Signal<Local, Bit>,
    // The window compares as carries out of additions with the inverted table frame, so
    // synthesis maps them onto carry chains alone (`a < b`: `b + !a` carries out).
    frame_not: Signal<Local, Bits<28>>,
    frame_not_w: Signal<Local, Bits<29>>,
    sum_base: Signal<Local, Bits<29>>,
    sum_end: Signal<Local, Bits<30>>,
    r_level_bad: DFF<Bit>,
    r_padding_bad: DFF<Bit>,
    r_tag_bad: DFF<Bit>,
    r_generation_bad: DFF<Bit>,
    r_outside: DFF<Bit>,
    r_crosses: DFF<Bit>,
    frame_top: Constant<Bits<29>>,
    level1: Constant<Bits<2>>,
    level2: Constant<Bits<2>>,
    st_ok: Constant<Bits<STATUS_W>>,
    st_level: Constant<Bits<STATUS_W>>,
    st_padding: Constant<Bits<STATUS_W>>,
    st_va_tag: Constant<Bits<STATUS_W>>,
    st_generation: Constant<Bits<STATUS_W>>,
    st_window: Constant<Bits<STATUS_W>>,
    st_crosses: Constant<Bits<STATUS_W>>,
}

impl Default for ShortcutCheck {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            plaintext: Default::default(),
            va: Default::default(),
            va_last_tag: Default::default(),
            generation: Default::default(),
            win_base: Default::default(),
            win_end: Default::default(),
            status: Default::default(),
            fault: Default::default(),
            table_frame: Default::default(),
            level: Default::default(),
            tag: Default::default(),
            generation_found: Default::default(),
            level_field: Default::default(),
            padding_bad: Default::default(),
            tag_bad: Default::default(),
            diff_leaf: Default::default(),
            diff_mid: Default::default(),
            diff_top: Default::default(),
            crosses: Default::default(),
            frame_not: Default::default(),
            frame_not_w: Default::default(),
            sum_base: Default::default(),
            sum_end: Default::default(),
            frame_top: Constant::new((1u64 << 28).into()),
            r_level_bad: Default::default(),
            r_padding_bad: Default::default(),
            r_tag_bad: Default::default(),
            r_generation_bad: Default::default(),
            r_outside: Default::default(),
            r_crosses: Default::default(),
            level1: Constant::new(1.into()),
            level2: Constant::new(2.into()),
            st_ok: status_const(Status::Ok),
            st_level: status_const(Status::ShortcutLevel),
            st_padding: status_const(Status::ShortcutPadding),
            st_va_tag: status_const(Status::ShortcutVaTag),
            st_generation: status_const(Status::ShortcutGeneration),
            st_window: status_const(Status::ShortcutWindow),
            st_crosses: status_const(Status::CrossesTable),
        }
    }
}

// The slices below hard-wire the abi layout; these assertions tie them to it.
const _: () = assert!(TABLE_FRAME_SHIFT == 36 && LEVEL_SHIFT == 34 && GEN_SHIFT == 27);
const _: () = assert!(VA_TAG_FIELD_BITS == 27 && abi::VA_BITS == 47);
const _: () = assert!(abi::shortcut::va_tag_bits(1) == 26);
const _: () = assert!(abi::shortcut::va_tag_bits(2) == 17);
const _: () = assert!(abi::shortcut::va_tag_bits(3) == 8);

impl Logic for ShortcutCheck {
    #[hdl_gen]
    fn update(&mut self) {
        self.tag.next = self.plaintext.val().get_bits::<27>(0);
        self.generation_found.next = self.plaintext.val().get_bits::<7>(27);
        self.level_field.next = self.plaintext.val().get_bits::<2>(34);
        self.table_frame.next = self.plaintext.val().get_bits::<28>(36);
        self.level.next = bit_cast::<3, 2>(self.plaintext.val().get_bits::<2>(34));
        // Level-dependent slices: leaf tables span VA bits 20:0, level 2 bits 29:0, level 3
        // bits 38:0; the tag is what lies above, up to VA bit 46. (A tag that differs only in
        // its padding fails the padding check, which comes first.)
        self.diff_leaf.next =
            self.va.val().get_bits::<9>(21) != self.va_last_tag.val().get_bits::<9>(0);
        self.diff_mid.next =
            self.va.val().get_bits::<9>(30) != self.va_last_tag.val().get_bits::<9>(9);
        self.diff_top.next = self.va.val().get_bits::<8>(39)
            != self.va_last_tag.val().get_bits::<8>(18)
            || self.va_last_tag.val().get_bit(26);
        if self.level_field.val() == self.level1.val() {
            self.padding_bad.next = self.tag.val().get_bits::<1>(26).any();
            self.tag_bad.next =
                self.tag.val().get_bits::<26>(0) != self.va.val().get_bits::<26>(21);
            self.crosses.next = self.diff_leaf.val() || self.diff_mid.val() || self.diff_top.val();
        } else if self.level_field.val() == self.level2.val() {
            self.padding_bad.next = self.tag.val().get_bits::<10>(17).any();
            self.tag_bad.next =
                self.tag.val().get_bits::<17>(0) != self.va.val().get_bits::<17>(30);
            self.crosses.next = self.diff_mid.val() || self.diff_top.val();
        } else {
            self.padding_bad.next = self.tag.val().get_bits::<19>(8).any();
            self.tag_bad.next = self.tag.val().get_bits::<8>(0) != self.va.val().get_bits::<8>(39);
            self.crosses.next = self.diff_top.val();
        }
        dff_setup!(
            self,
            clock,
            r_level_bad,
            r_padding_bad,
            r_tag_bad,
            r_generation_bad,
            r_outside,
            r_crosses
        );
        self.r_level_bad.d.next = !self.level_field.val().any();
        self.r_padding_bad.d.next = self.padding_bad.val();
        self.r_tag_bad.d.next = self.tag_bad.val();
        self.r_generation_bad.d.next = self.generation_found.val() != self.generation.val();
        // frame < base: base + !frame >= 2^28; frame < end: end + !frame >= 2^29 (with the
        // frame widened to 29 bits before inverting).
        self.frame_not.next = !self.plaintext.val().get_bits::<28>(36);
        self.frame_not_w.next = bit_cast::<29, 28>(self.frame_not.val()) | self.frame_top.val();
        self.sum_base.next =
            bit_cast::<29, 28>(self.win_base.val()) + bit_cast::<29, 28>(self.frame_not.val());
        self.sum_end.next =
            bit_cast::<30, 29>(self.win_end.val()) + bit_cast::<30, 29>(self.frame_not_w.val());
        self.r_outside.d.next = self.sum_base.val().get_bit(28) || !self.sum_end.val().get_bit(29);
        self.r_crosses.d.next = self.crosses.val();
        self.fault.next = true;
        if self.r_level_bad.q.val() {
            self.status.next = self.st_level.val();
        } else if self.r_padding_bad.q.val() {
            self.status.next = self.st_padding.val();
        } else if self.r_tag_bad.q.val() {
            self.status.next = self.st_va_tag.val();
        } else if self.r_generation_bad.q.val() {
            self.status.next = self.st_generation.val();
        } else if self.r_outside.q.val() {
            self.status.next = self.st_window.val();
        } else if self.r_crosses.q.val() {
            self.status.next = self.st_crosses.val();
            self.fault.next = false;
        } else {
            self.status.next = self.st_ok.val();
            self.fault.next = false;
        }
    }
}

crate::clocked!(ShortcutCheck);

#[cfg(test)]
mod tests {
    use super::*;
    use abi::shortcut::{check, va_tag, Plaintext, TableWindow};
    use rand::{Rng, SeedableRng};

    fn golden(p: &Plaintext, va: u64, len: u64, gen: u8, win: &TableWindow) -> Status {
        if let Err(e) = check(p, va, gen, win) {
            return e.status();
        }
        let span = abi::level_span_shift(p.level);
        if (va + len - 1) >> span != va >> span {
            return Status::CrossesTable;
        }
        Status::Ok
    }

    #[test]
    fn matches_the_golden_checks() {
        let seed = crate::bench::test_seed();
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut b = crate::bench::Bench::new(ShortcutCheck::default());
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20_000 {
            let va = rng.gen::<u64>() & abi::mask(47);
            let len = rng.gen_range(1..=abi::MAX_TRANSFER_LEN);
            let level = rng.gen_range(0..4u8);
            let gen = rng.gen::<u8>() & 0x7f;
            let win = TableWindow {
                base: rng.gen::<u32>() & 0xfff_ffff,
                pages: rng.gen_range(1..64),
            };
            let mut p = Plaintext {
                table_frame: win.base.wrapping_add(rng.gen_range(0..80)) & 0xfff_ffff,
                level,
                generation: if rng.gen_bool(0.9) {
                    gen
                } else {
                    rng.gen::<u8>() & 0x7f
                },
                va_tag: if level == 0 { 0 } else { va_tag(va, level) },
            };
            match rng.gen_range(0..10) {
                0 => p.va_tag ^= 1 << rng.gen_range(0..27),
                1 => p = Plaintext::unpack(rng.gen()),
                _ => {}
            }
            let va_last = va + len - 1;
            let uut = &mut b.uut;
            uut.plaintext.next = p.pack().into();
            uut.va.next = va.into();
            uut.va_last_tag.next = (va_last >> 21).into();
            uut.generation.next = u64::from(gen).into();
            uut.win_base.next = u64::from(win.base).into();
            uut.win_end.next = (u64::from(win.base) + u64::from(win.pages)).into();
            b.tick();
            let uut = &b.uut;
            let want = golden(&p, va, len, gen, &win);
            let got = uut.status.val().to_u64() as u8;
            assert_eq!(
                Status::from_code(got),
                Some(want),
                "seed {seed}: {p:?} va {va:#x} len {len:#x} gen {gen} {win:?}"
            );
            assert_eq!(uut.fault.val(), want.is_fault(), "seed {seed}");
            if want == Status::Ok {
                assert_eq!(uut.table_frame.val().to_u64(), u64::from(p.table_frame));
                assert_eq!(uut.level.val().to_u64(), u64::from(p.level));
            }
            seen.insert(want);
        }
        assert!(seen.len() >= 7, "seed {seed}: only {seen:?} exercised");
    }
}
