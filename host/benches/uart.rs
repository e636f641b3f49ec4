//! UART payload throughput on the virtual board: the registrar and an application in this
//! process on the real `serial` backend, the Verilator model of the Cu top level behind a
//! pseudo-terminal in a thread. One VI sends 64 KiB messages to another through the
//! device's loopback, eight in flight; the device reads each message from host memory (DMA
//! read data, host → board) and writes it back into the receive buffer (DMA writes, board →
//! host). The board's line monitor counts, in simulated time, the DMA data bytes each
//! direction carried per byte time of the line between its first and last byte of the
//! transfer phase: the payload share of the line rate (target ≥ 0.7).
//!
//! `cargo bench -p skipwalk --bench uart [-- --quick]`; prints one JSON object.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use abi::translator::TranslationMode;
use abi::{Access, Status};
use skipwalk::board_sim::{BoardSimReport, LineFaults, PtyBoard};
use skipwalk::registrar::{Registrar, LEAF_SPAN};
use skipwalk::serial_backend::SerialBackend;
use skipwalk::verbs::Session;

const MESSAGE: u64 = 64 << 10;
const IN_FLIGHT: usize = 8;
const WAIT: Duration = Duration::from_secs(600);

enum Ask {
    ResetMonitor,
    Report(mpsc::Sender<BoardSimReport>),
    Stop,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let messages: usize = if quick { 4 } else { 16 };

    let (path_tx, path_rx) = mpsc::channel();
    let (ask_tx, ask_rx) = mpsc::channel::<Ask>();
    let board = std::thread::spawn(move || {
        let mut pty = PtyBoard::open(LineFaults::default()).expect("pty");
        path_tx.send(pty.path().to_path_buf()).unwrap();
        let mut pending_report: Option<mpsc::Sender<BoardSimReport>> = None;
        let mut stop = false;
        let mut reset = false;
        while !stop {
            pty.serve(&mut |_| {
                match ask_rx.try_recv() {
                    Ok(Ask::ResetMonitor) => reset = true,
                    Ok(Ask::Report(to)) => pending_report = Some(to),
                    Ok(Ask::Stop) | Err(mpsc::TryRecvError::Disconnected) => stop = true,
                    Err(mpsc::TryRecvError::Empty) => {}
                }
                reset || pending_report.is_some() || stop
            })
            .expect("board-sim");
            if reset {
                pty.reset_monitor();
                reset = false;
            }
            if let Some(to) = pending_report.take() {
                to.send(pty.report()).unwrap();
            }
        }
    });
    let path = path_rx.recv().unwrap();

    let backend = SerialBackend::open(path.to_str().unwrap()).expect("serial backend");
    let reg = Rc::new(RefCell::new(
        Registrar::new(Box::new(backend), true).expect("device up"),
    ));
    let a = Session::in_process(reg.clone(), 1).unwrap();
    let b = Session::in_process(reg.clone(), 2).unwrap();
    let src_pool = a.alloc(1 << 20).unwrap();
    let src = a
        .register(&src_pool, 0, src_pool.len(), Access::Read)
        .unwrap();
    let dst_pool = b.alloc(2 * LEAF_SPAN).unwrap();
    let dst = b
        .register(&dst_pool, 0, dst_pool.len(), Access::ReadWrite)
        .unwrap();
    let mut tx = a.open_vi(TranslationMode::Shortcut, 5).unwrap();
    let mut rx = b.open_vi(TranslationMode::Shortcut, 5).unwrap();
    // A message must not cross a leaf table's span (a shortcut names one table): the
    // buffers' places in the arena vary, so both sides pick offsets that do not.
    let within_one_table = |va: u64| va / LEAF_SPAN == (va + MESSAGE - 1) / LEAF_SPAN;
    let slots: Vec<u64> = (0..dst.len() / MESSAGE)
        .map(|k| k * MESSAGE)
        .filter(|o| within_one_table(dst.va() + o))
        .take(IN_FLIGHT)
        .collect();
    let sources: Vec<u64> = (0..src.len() / MESSAGE)
        .map(|k| k * MESSAGE)
        .filter(|o| within_one_table(src.va() + o))
        .collect();
    let data: Vec<u8> = (0..src.len()).map(|i| (i * 7 + i / 251) as u8).collect();
    assert!(src.write(0, &data));

    ask_tx.send(Ask::ResetMonitor).unwrap();
    let started = Instant::now();
    let mut sent = 0usize;
    let mut received = 0usize;
    {
        let mut batch = rx.batch();
        for (k, &slot) in slots.iter().enumerate() {
            // SAFETY: read only after its completion.
            unsafe { batch.post_recv(&dst, slot, MESSAGE, k as u32) }.unwrap();
        }
    }
    while received < messages {
        while sent < messages && sent - received < IN_FLIGHT {
            let offset = sources[sent % sources.len()];
            let mut batch = tx.batch();
            // SAFETY: the source is never written during the run.
            unsafe { batch.post_send(&src, offset, MESSAGE, rx.number(), sent as u32) }.unwrap();
            sent += 1;
        }
        for c in rx.wait(1, WAIT).unwrap() {
            assert_eq!(c.status(), Some(Status::Ok), "{c:?}");
            let slot = slots[c.wr_id as usize];
            let mut got = vec![0u8; c.bytes as usize];
            assert!(dst.read(slot, &mut got));
            let offset = sources[received % sources.len()] as usize;
            assert!(
                got == data[offset..offset + MESSAGE as usize],
                "message {received} differs"
            );
            received += 1;
            if received + slots.len() <= messages {
                let mut batch = rx.batch();
                // SAFETY: as above.
                unsafe { batch.post_recv(&dst, slot, MESSAGE, c.wr_id) }.unwrap();
            }
        }
        for c in tx.completions() {
            assert_eq!(c.status(), Some(Status::Ok), "{c:?}");
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let (rep_tx, rep_rx) = mpsc::channel();
    ask_tx.send(Ask::Report(rep_tx)).unwrap();
    let report = rep_rx.recv().unwrap();
    ask_tx.send(Ask::Stop).unwrap();
    let link = reg.borrow().backend().name();
    drop((tx, rx, src, dst, src_pool, dst_pool, a, b, reg));
    board.join().unwrap();

    let cpb = report.clocks_per_bit;
    let frac_in = report.line.to_board.payload_fraction(cpb);
    let frac_out = report.line.to_host.payload_fraction(cpb);
    println!(
        "{{\"backend\": {link:?}, \"messages\": {messages}, \"message_bytes\": {MESSAGE}, \
         \"clocks_per_bit\": {cpb}, \"cycles\": {}, \"wall_seconds\": {seconds:.2}, \
         \"payload_fraction_to_board\": {frac_in:.3}, \"payload_fraction_to_host\": {frac_out:.3}, \
         \"board\": {}}}",
        report.cycles,
        report.json()
    );
}
