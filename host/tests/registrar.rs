//! The registrar and the application API in one process, on the Verilator model of the
//! Device: transfers byte for byte, revocation, key isolation, bad ranges, teardown.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use abi::translator::TranslationMode;
use abi::{Access, Status};
use skipwalk::registrar::{Registrar, LEAF_SPAN};
use skipwalk::sim_backend::SimBackend;
use skipwalk::verbs::{Session, Vi};
use skipwalk::Error;

const WAIT: Duration = Duration::from_secs(60);

fn registrar() -> Rc<RefCell<Registrar>> {
    let r = Registrar::new(Box::new(SimBackend::new(60)), true).expect("device up");
    Rc::new(RefCell::new(r))
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Sends one 64-byte message at `va` with `shortcut` from `vi` to itself; its status.
fn try_send(vi: &mut Vi, va: u64, shortcut: u64) -> Option<Status> {
    let d = abi::Descriptor {
        opcode: abi::Opcode::Send as u8,
        dest: vi.number(),
        length: 64,
        wr_id: 7,
        va,
        shortcut,
    };
    {
        let mut b = vi.batch();
        // SAFETY: the buffer is not written while the device reads it.
        unsafe { b.post_descriptor(abi::QueueKind::Send, &d).unwrap() };
    }
    vi.wait(1, WAIT).unwrap()[0].status()
}

#[test]
fn messages_cross_between_two_applications_byte_for_byte() {
    let reg = registrar();
    let a = Session::in_process(reg.clone(), 1).unwrap();
    let b = Session::in_process(reg.clone(), 2).unwrap();
    // The sender's pool spans a leaf-table boundary wherever it is mapped.
    let src_pool = a.alloc(2 * LEAF_SPAN).unwrap();
    let src = a
        .register(&src_pool, 0, src_pool.len(), Access::Read)
        .unwrap();
    let dst_pool = b.alloc(1 << 20).unwrap();
    let dst = b
        .register(&dst_pool, 0, dst_pool.len(), Access::ReadWrite)
        .unwrap();
    let mut tx = a.open_vi(TranslationMode::Shortcut, 5).unwrap();
    let mut rx = b.open_vi(TranslationMode::Shortcut, 5).unwrap();
    let crossing = (LEAF_SPAN - src.va() % LEAF_SPAN) % LEAF_SPAN;
    // Receive buffers inside one leaf table each: one across a boundary would be posted as
    // two smaller descriptors.
    let slots: Vec<u64> = (0..dst.len() / 65536)
        .map(|k| k * 65536)
        .filter(|o| (dst.va() + o) / LEAF_SPAN == (dst.va() + o + 65535) / LEAF_SPAN)
        .collect();
    let mut sent = vec![];
    for (k, &len) in [1u64, 3, 64, 4096, 4097, 65536, 20_000].iter().enumerate() {
        let offset = if k == 6 && crossing >= 12_000 {
            crossing - 12_000
        } else {
            k as u64 * 65536
        };
        let data = pattern(k as u8, len as usize);
        assert!(src.write(offset, &data));
        sent.push(data);
        {
            let mut batch = rx.batch();
            // SAFETY: read only after the completion.
            let n = unsafe { batch.post_recv(&dst, slots[k], 65536, k as u32) }.unwrap();
            assert_eq!(n, 1);
            if k == 6 {
                // SAFETY: as above.
                unsafe { batch.post_recv(&dst, slots[8], 65536, 8) }.unwrap();
            }
        }
        let pieces = {
            let mut batch = tx.batch();
            // SAFETY: not written until the completion.
            unsafe { batch.post_send(&src, offset, len, rx.number(), k as u32) }.unwrap()
        };
        assert_eq!(pieces, if k == 6 && crossing >= 12_000 { 2 } else { 1 });
        for c in tx.wait(pieces, WAIT).unwrap() {
            assert_eq!(c.status(), Some(Status::Ok), "send {k}: {c:?}");
            assert_eq!(c.wr_id, k as u32);
        }
        let mut got = vec![];
        for c in rx.wait(pieces, WAIT).unwrap() {
            assert_eq!(c.status(), Some(Status::Ok), "receive {k}: {c:?}");
            assert_eq!(u32::from(c.peer), u32::from(tx.number()));
            let mut buf = vec![0u8; c.bytes as usize];
            assert!(dst.read(slots[c.wr_id as usize], &mut buf));
            got.extend(buf);
        }
        assert_eq!(got, sent[k], "message {k} ({len} bytes) differs");
    }
    assert_eq!(reg.borrow().backend().stats().dma_violations, 0);
}

#[test]
fn revoked_forged_and_foreign_shortcuts_are_refused() {
    let reg = registrar();
    let a = Session::in_process(reg.clone(), 1).unwrap();
    let other = Session::in_process(reg.clone(), 2).unwrap();
    let pool = a.alloc(64 << 10).unwrap();
    let mut vi = a.open_vi(TranslationMode::Shortcut, 3).unwrap();

    let mr = a.register(&pool, 0, 4096, Access::Read).unwrap();
    let good = mr.shortcut_for(mr.va()).unwrap();
    assert_eq!(try_send(&mut vi, mr.va(), good), Some(Status::Ok));
    // Deregistered: the entries are gone and the device's cache forgot them.
    let va = mr.va();
    drop(mr);
    assert_eq!(try_send(&mut vi, va, good), Some(Status::NotPresent));

    // A generation bump refuses every shortcut minted before; fresh ones work.
    let mr = a.register(&pool, 8192, 4096, Access::Read).unwrap();
    let before = mr.shortcut_for(mr.va()).unwrap();
    a.revoke_shortcuts().unwrap();
    let after = mr.shortcut_for(mr.va()).unwrap();
    assert_ne!(before, after);
    assert_eq!(
        try_send(&mut vi, mr.va(), before),
        Some(Status::ShortcutGeneration)
    );
    assert_eq!(try_send(&mut vi, mr.va(), after), Some(Status::Ok));

    // Another application's shortcut was minted under another key.
    let other_pool = other.alloc(64 << 10).unwrap();
    let theirs = other.register(&other_pool, 0, 4096, Access::Read).unwrap();
    let stolen = theirs.shortcut_for(theirs.va()).unwrap();
    assert_ne!(try_send(&mut vi, theirs.va(), stolen), Some(Status::Ok));
    // Random ciphertexts.
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..16 {
        x = x.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
        assert_ne!(try_send(&mut vi, mr.va(), x), Some(Status::Ok));
    }
    assert_eq!(reg.borrow().backend().stats().dma_violations, 0);
}

#[test]
fn bad_ranges_are_refused_with_what_was_wrong() {
    let reg = registrar();
    let a = Session::in_process(reg.clone(), 1).unwrap();
    let pool = a.alloc(16 << 10).unwrap();
    let msg = |r: Result<skipwalk::verbs::MemoryRegion, Error>| match r {
        Ok(_) => panic!("registered"),
        Err(e) => e.to_string(),
    };
    assert!(msg(a.register(&pool, 0, 0, Access::Read)).contains("zero length"));
    assert!(msg(a.register(&pool, 8192, 16 << 10, Access::Read)).contains("outside"));
    assert!(msg(a.register(&pool, u64::MAX - 10, 100, Access::Read)).contains("overflow"));
    // Straight to the registrar: an unknown pool, another client's pool.
    let mut r = reg.borrow_mut();
    let e = r.register(1, 999, pool.va(), pool.va(), 4096, Access::Read);
    assert!(e.unwrap_err().to_string().contains("unknown pool"));
    r.open_session(2).unwrap();
    let (theirs, _) = r.alloc_pool(2, 4096).unwrap();
    let e = r.register(1, theirs.id, pool.va(), pool.va(), 4096, Access::Read);
    assert!(e.unwrap_err().to_string().contains("unknown pool"));
    // A pool is not freed under its registrations.
    drop(r);
    let mr = a.register(&pool, 0, 100, Access::Read).unwrap();
    // The first handle the registrar gives out is 1: this session's pool.
    let refused = reg.borrow_mut().free_pool(1, 1).unwrap_err().to_string();
    assert!(refused.contains("deregister them first"), "{refused}");
    drop(mr);
}

#[test]
fn closing_a_session_returns_its_memory_and_resources() {
    let reg = registrar();
    let baseline = reg.borrow().backend().dma().bytes();
    {
        let a = Session::in_process(reg.clone(), 1).unwrap();
        let pool = a.alloc(1 << 20).unwrap();
        let _mr = a.register(&pool, 0, 1 << 20, Access::ReadWrite).unwrap();
        let _vis: Vec<Vi> = (0..abi::DEVICE_VIS)
            .map(|_| a.open_vi(TranslationMode::Shortcut, 2).unwrap())
            .collect();
        assert!(matches!(
            a.open_vi(TranslationMode::Shortcut, 2),
            Err(Error::Exhausted("VI", _))
        ));
        assert!(reg.borrow().backend().dma().bytes() > baseline);
    }
    assert_eq!(reg.borrow().backend().dma().bytes(), baseline);
    // Every VI is free again.
    let b = Session::in_process(reg.clone(), 2).unwrap();
    let _vis: Vec<Vi> = (0..abi::DEVICE_VIS)
        .map(|_| b.open_vi(TranslationMode::Shortcut, 2).unwrap())
        .collect();
}
