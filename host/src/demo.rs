//! `skipwalk demo`: the whole system in three processes. This process is the registrar: it
//! runs the daemon with the device (the Verilator model, internal loopback). It starts two
//! applications as processes of their own (`skipwalk demo-app`), each with its own PD, key,
//! pool of DMA memory and VI:
//!
//! 1. the **receiver** registers a writable pool, posts receive buffers, and checks every
//!    byte that arrives against the stream the sender generates from the shared seed;
//! 2. the **sender** registers its pool, writes the messages (1 byte to 64 KiB, some
//!    crossing a leaf-table boundary, which the API splits) and sends them to the receiver's
//!    VI, a few in flight at a time;
//! 3. then the sender attacks: sends with forged shortcuts, with the shortcut of a buffer it
//!    deregistered, and with a shortcut minted before its PD's generation was bumped. Every
//!    one must be refused by the device; a fresh shortcut must still work.
//!
//! The applications talk to their parent in lines on stdin/stdout (`ready`, `sent`, `go`,
//! `report {json}`), so that the registrar can read the device's counters between the
//! exchange and the attacks.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use abi::translator::TranslationMode;
use abi::{Access, Status};
use serde::{Deserialize, Serialize};

use crate::backend::DeviceSpec;
use crate::daemon::Daemon;
use crate::error::{Error, Result};
use crate::registrar::{Registrar, LEAF_SPAN};
use crate::verbs::{pieces, Session, Vi};

/// Largest message of the demo.
pub const MAX_MESSAGE: u64 = abi::queues::MAX_MESSAGE_LEN;
/// Sends in flight at once (the receiver keeps many more receive buffers posted).
const SEND_WINDOW: usize = 8;
/// Ring size of both VIs.
const RING_LOG2: u32 = 6;
/// Receive buffers the receiver keeps posted.
const RECV_BUFFERS: u64 = 48;
/// Forged shortcuts the sender tries.
const FORGED: u32 = 32;
/// How long an application waits for a completion before it gives up.
const TIMEOUT: Duration = Duration::from_secs(60);

/// What to run.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The `skipwalk` executable (the applications are processes of it).
    pub exe: PathBuf,
    /// Messages the sender sends.
    pub messages: u32,
    /// Seed of the message sizes and payloads.
    pub seed: u64,
    /// Host memory latency of the simulated device, in cycles.
    pub latency: u64,
    /// The device the registrar opens.
    pub device: DeviceSpec,
}

/// What the demo measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DemoReport {
    /// Backend name.
    pub backend: String,
    /// Messages sent (each one or more frames).
    pub messages: u32,
    /// Frames received.
    pub frames: u64,
    /// Payload bytes sent and received.
    pub bytes: u64,
    /// Every received byte equal to the sent one, nothing missing.
    pub verified: bool,
    /// Table reads per page translation during the exchange.
    pub pte_reads_per_translation: f64,
    /// Descriptors with forged or stale shortcuts.
    pub forged_attempts: u32,
    /// Of those, completed successfully (must be 0).
    pub forged_accepted: u32,
    /// How each forged or stale attempt was refused: status name → count.
    pub refusals: std::collections::BTreeMap<String, u32>,
    /// A send with a freshly minted shortcut after the generation bump succeeded.
    pub fresh_shortcut_ok: bool,
    /// Payload bytes per second of wall-clock time during the exchange.
    pub throughput_bytes_per_second: f64,
    /// Device cycles simulated, and per second of wall-clock time.
    pub device_cycles: u64,
    /// DMA requests outside the registrar's policy (must be 0).
    pub dma_violations: u64,
    /// Wall-clock seconds of the whole demo.
    pub seconds: f64,
}

/// Size of message `i` of the stream with `seed`.
pub fn message_len(seed: u64, i: u32) -> u64 {
    let r = mix(seed ^ u64::from(i) << 32);
    match i % 8 {
        0 => 1 + r % 64,
        1 => MAX_MESSAGE,
        2 => 4096,
        3 => 1 + r % MAX_MESSAGE,
        _ => 1 + r % 8192,
    }
}

/// Byte `n` of the stream with `seed`.
pub fn stream_byte(seed: u64, n: u64) -> u8 {
    (mix(seed.wrapping_add(n / 8)) >> (8 * (n % 8))) as u8
}

fn mix(x: u64) -> u64 {
    // splitmix64's finaliser: cheap, deterministic on both sides.
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Role of a `skipwalk demo-app` process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Posts receive buffers and verifies the stream.
    Receiver,
    /// Sends the stream, then tries forged and stale shortcuts.
    Sender,
}

/// The sender's and receiver's reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppReport {
    /// Messages sent.
    pub messages: u32,
    /// Frames sent or received.
    pub frames: u64,
    /// Payload bytes.
    pub bytes: u64,
    /// Pages translated by successful descriptors.
    pub translations: u64,
    /// Receiver: every byte matched.
    pub verified: bool,
    /// Forged and stale attempts.
    pub forged_attempts: u32,
    /// Of which accepted.
    pub forged_accepted: u32,
    /// Status names of the refusals.
    pub refusals: Vec<String>,
    /// Fresh shortcut after the generation bump worked.
    pub fresh_shortcut_ok: bool,
}

fn pages_of(va: u64, len: u64) -> u64 {
    (va + len).div_ceil(abi::PAGE_SIZE) - va / abi::PAGE_SIZE
}

fn line(out: &mut impl Write, text: &str) -> Result<()> {
    writeln!(out, "{text}")
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("writing to the registrar", e))
}

/// Runs one demo application in this process, talking to the daemon at `socket`.
pub fn run_app(
    role: Role,
    socket: &Path,
    messages: u32,
    seed: u64,
    dest: Option<u8>,
) -> Result<AppReport> {
    let session = Session::connect(socket)?;
    let mut stdout = std::io::stdout();
    match role {
        Role::Receiver => receiver(&session, messages, seed, &mut stdout),
        Role::Sender => {
            let dest = dest.ok_or_else(|| Error::Refused("the sender needs --dest".into()))?;
            sender(&session, messages, seed, dest, &mut stdout)
        }
    }
}

fn receiver(
    session: &Session,
    messages: u32,
    seed: u64,
    out: &mut impl Write,
) -> Result<AppReport> {
    let total: u64 = (0..messages).map(|i| message_len(seed, i)).sum();
    // Buffers of the largest message, none across a leaf-table boundary (it would be split
    // into two smaller receive descriptors).
    let pool = session.alloc((RECV_BUFFERS + 2) * MAX_MESSAGE)?;
    let mr = session.register(&pool, 0, pool.len(), Access::ReadWrite)?;
    let slots: Vec<u64> = (0..pool.len() / MAX_MESSAGE)
        .map(|k| k * MAX_MESSAGE)
        .filter(|&o| (mr.va() + o) / LEAF_SPAN == (mr.va() + o + MAX_MESSAGE - 1) / LEAF_SPAN)
        .take(RECV_BUFFERS as usize)
        .collect();
    let mut vi = session.open_vi(TranslationMode::Shortcut, RING_LOG2)?;
    {
        let mut batch = vi.batch();
        for (b, &offset) in slots.iter().enumerate() {
            // SAFETY: the buffers are read only after their completions.
            unsafe { batch.post_recv(&mr, offset, MAX_MESSAGE, b as u32)? };
        }
    }
    line(out, &format!("ready {}", vi.number()))?;
    let mut report = AppReport {
        verified: true,
        ..Default::default()
    };
    let mut buf = vec![0u8; MAX_MESSAGE as usize];
    while report.bytes < total {
        let c = vi.wait(1, TIMEOUT)?.remove(0);
        if c.status() != Some(Status::Ok) {
            return Err(Error::Refused(format!(
                "receive completed with {:?}",
                c.status()
            )));
        }
        let slot = c.wr_id as usize;
        let offset = *slots
            .get(slot)
            .ok_or_else(|| Error::Protocol(format!("receive wr_id {slot}")))?;
        let n = u64::from(c.bytes);
        mr.read(offset, &mut buf[..n as usize]);
        let ok = buf[..n as usize]
            .iter()
            .enumerate()
            .all(|(k, &b)| b == stream_byte(seed, report.bytes + k as u64));
        report.verified &= ok;
        report.bytes += n;
        report.frames += 1;
        report.translations += pages_of(mr.va() + offset, n);
        let mut batch = vi.batch();
        // SAFETY: as above.
        unsafe { batch.post_recv(&mr, offset, MAX_MESSAGE, slot as u32)? };
    }
    report.verified &= report.bytes == total;
    report.messages = messages;
    Ok(report)
}

fn sender(
    session: &Session,
    messages: u32,
    seed: u64,
    dest: u8,
    out: &mut impl Write,
) -> Result<AppReport> {
    // A pool of two leaf spans has a leaf-table boundary with room for the largest message
    // on both sides wherever it is mapped: message slots of 64 KiB, and the messages that
    // straddle the boundary, split in two by the API.
    let pool = session.alloc(2 * LEAF_SPAN)?;
    let first_boundary = (LEAF_SPAN - pool.va() % LEAF_SPAN) % LEAF_SPAN;
    let leaf_crossing = if first_boundary >= MAX_MESSAGE {
        first_boundary
    } else {
        first_boundary + LEAF_SPAN
    };
    // The slots of ordinary messages keep clear of the largest message around the boundary.
    let crossing_area = leaf_crossing.saturating_sub(MAX_MESSAGE)..leaf_crossing + MAX_MESSAGE;
    let slots: Vec<u64> = (0..pool.len() / MAX_MESSAGE)
        .map(|k| k * MAX_MESSAGE)
        .filter(|o| o + MAX_MESSAGE <= crossing_area.start || *o >= crossing_area.end)
        .collect();
    let mr = session.register(&pool, 0, pool.len(), Access::Read)?;
    let mut vi = session.open_vi(TranslationMode::Shortcut, RING_LOG2)?;
    let mut report = AppReport::default();
    let mut stream_at = 0u64;
    let mut in_flight: Vec<usize> = vec![];
    for i in 0..messages {
        let len = message_len(seed, i);
        // Every eighth message straddles the leaf-table boundary.
        let offset = if i % 8 == 5 {
            (leaf_crossing - len.div_ceil(2)) & !3
        } else {
            slots[i as usize % slots.len()]
        };
        while in_flight.len() >= SEND_WINDOW {
            let done = vi.wait(in_flight.remove(0), TIMEOUT)?;
            check_sends(&done)?;
        }
        let payload: Vec<u8> = (0..len).map(|k| stream_byte(seed, stream_at + k)).collect();
        mr.write(offset, &payload);
        let n = {
            let mut batch = vi.batch();
            // SAFETY: a slot is written again only after its sends completed (the window
            // is smaller than the slots).
            unsafe { batch.post_send(&mr, offset, len, dest, i)? }
        };
        in_flight.push(n);
        report.frames += n as u64;
        for p in pieces(&mr, offset, len)? {
            report.translations += pages_of(p.va, u64::from(p.len));
        }
        stream_at += len;
    }
    for n in in_flight {
        check_sends(&vi.wait(n, TIMEOUT)?)?;
    }
    report.messages = messages;
    report.bytes = stream_at;
    line(out, "sent")?;
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .map_err(|e| Error::io("waiting for the registrar", e))?;
    drop(mr);
    attacks(session, &mut vi, seed, &mut report)?;
    Ok(report)
}

fn check_sends(done: &[abi::Completion]) -> Result<()> {
    match done.iter().find(|c| c.status() != Some(Status::Ok)) {
        Some(c) => Err(Error::Refused(format!(
            "send {} completed with {:?}",
            c.wr_id,
            c.status()
        ))),
        None => Ok(()),
    }
}

/// Sends one 64-byte message at `va` with `shortcut` to the sender's own VI (which has no
/// receive buffers: an accepted forgery would show as a completed send).
fn attempt(vi: &mut Vi, va: u64, shortcut: u64) -> Result<Option<Status>> {
    let d = abi::Descriptor {
        opcode: abi::Opcode::Send as u8,
        dest: vi.number(),
        length: 64,
        wr_id: 0xa77a_c000,
        va,
        shortcut,
    };
    {
        let mut batch = vi.batch();
        // SAFETY: the device only reads; the program does not write the buffer meanwhile.
        unsafe { batch.post_descriptor(abi::QueueKind::Send, &d)? };
    }
    Ok(vi.wait(1, TIMEOUT)?[0].status())
}

fn attacks(session: &Session, vi: &mut Vi, seed: u64, report: &mut AppReport) -> Result<()> {
    // A pool of its own, so that no other registration maps the pages tried below.
    let pool = &session.alloc(4 * abi::PAGE_SIZE)?;
    let refused = |report: &mut AppReport, status: Option<Status>| {
        report.forged_attempts += 1;
        match status {
            Some(Status::Ok) => report.forged_accepted += 1,
            s => report
                .refusals
                .push(s.map_or("unknown".into(), |s| s.name().to_string())),
        }
    };
    // A buffer registered, its shortcut kept, then deregistered.
    let stale = session.register(pool, 0, 4096, Access::Read)?;
    let (va, old) = (
        stale.va(),
        stale.shortcut_for(stale.va()).expect("registered"),
    );
    drop(stale);
    refused(report, attempt(vi, va, old)?);
    // A shortcut minted before the PD's generation was bumped.
    let live = session.register(pool, 8192, 4096, Access::Read)?;
    let before = live.shortcut_for(live.va()).expect("registered");
    session.revoke_shortcuts()?;
    refused(report, attempt(vi, live.va(), before)?);
    let fresh = live.shortcut_for(live.va()).expect("re-minted");
    report.fresh_shortcut_ok = attempt(vi, live.va(), fresh)? == Some(Status::Ok);
    // Forged shortcuts: random ciphertexts for a buffer the sender really owns.
    for k in 0..FORGED {
        refused(
            report,
            attempt(vi, live.va(), mix(seed ^ 0xf0f0 ^ u64::from(k)))?,
        );
    }
    Ok(())
}

/// A child application and the lines it printed.
struct App {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    report: Option<AppReport>,
}

impl App {
    fn spawn(cfg: &DemoConfig, socket: &Path, role: &str, dest: Option<u8>) -> Result<App> {
        let mut cmd = Command::new(&cfg.exe);
        cmd.arg("demo-app")
            .arg("--socket")
            .arg(socket)
            .arg("--role")
            .arg(role)
            .arg("--messages")
            .arg(cfg.messages.to_string())
            .arg("--seed")
            .arg(cfg.seed.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(d) = dest {
            cmd.arg("--dest").arg(d.to_string());
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("starting {} demo-app", cfg.exe.display()), e))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // A reader thread per child: the registrar's loop must never block on a pipe.
        std::thread::spawn(move || {
            for l in BufReader::new(stdout)
                .lines()
                .map_while(std::result::Result::ok)
            {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Ok(App {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            report: None,
        })
    }

    fn next_line(&mut self) -> Option<String> {
        let l = self.lines.try_recv().ok()?;
        self.take_report(&l);
        Some(l)
    }

    fn take_report(&mut self, l: &str) {
        if let Some(json) = l.strip_prefix("report ") {
            self.report = serde_json::from_str(json).ok();
        }
    }

    /// After the child exited: every line still in the pipe, until its reader ends.
    fn last_lines(&mut self) {
        while let Ok(l) = self.lines.recv() {
            self.take_report(&l);
        }
    }

    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        self.child
            .try_wait()
            .map_err(|e| Error::io("waiting for a demo application", e))
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the demo; progress lines go to `progress`.
pub fn run(cfg: &DemoConfig, progress: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    let started = Instant::now();
    let socket = std::env::temp_dir().join(format!("skipwalk-demo-{}.sock", std::process::id()));
    let registrar = Registrar::new(cfg.device.open(cfg.latency)?, true)?;
    let mut daemon = Daemon::new(
        registrar,
        &socket,
        Box::new(|l| eprintln!("registrar: {l}")),
    )?;
    progress(&format!(
        "registrar: device up ({}), socket {}",
        cfg.device,
        socket.display()
    ));
    let mut receiver = App::spawn(cfg, &socket, "receiver", None)?;
    let mut sender: Option<App> = None;
    let mut exchange_started = Instant::now();
    let mut exchange = (0u64, Duration::ZERO);
    let mut failure: Option<String> = None;
    daemon.serve(|d| {
        let step = (|| -> Result<bool> {
            while let Some(l) = receiver.next_line() {
                if let Some(vi) = l.strip_prefix("ready ") {
                    let dest: u8 = vi
                        .trim()
                        .parse()
                        .map_err(|_| Error::Protocol(format!("receiver said {l:?}")))?;
                    progress(&format!("receiver: VI {dest} ready; starting the sender"));
                    exchange_started = Instant::now();
                    sender = Some(App::spawn(cfg, &socket, "sender", Some(dest))?);
                }
            }
            if let Some(s) = sender.as_mut() {
                while let Some(l) = s.next_line() {
                    if l == "sent" {
                        progress("sender: every message sent; waiting for the receiver");
                    }
                }
            }
            let receiver_done = receiver.report.is_some();
            if let (true, Some(s)) = (receiver_done, sender.as_mut()) {
                if let Some(mut stdin) = s.stdin.take() {
                    let stats = d.registrar().backend().stats();
                    exchange = (stats.table_reads, exchange_started.elapsed());
                    progress(
                        "receiver: every byte checked; sender: forged and stale shortcuts next",
                    );
                    stdin
                        .write_all(b"go\n")
                        .map_err(|e| Error::io("signalling the sender", e))?;
                }
            }
            for app in [Some(&mut receiver), sender.as_mut()].into_iter().flatten() {
                if let Some(status) = app.exited()? {
                    app.last_lines();
                    if !status.success() || app.report.is_none() {
                        return Err(Error::Refused(format!(
                            "a demo application failed ({status})"
                        )));
                    }
                }
            }
            let sender_done = sender.as_mut().is_some_and(|s| s.report.is_some());
            Ok(!(receiver_done && sender_done))
        })();
        match step {
            Ok(go_on) => go_on && started.elapsed() < Duration::from_secs(600),
            Err(e) => {
                failure = Some(e.to_string());
                false
            }
        }
    })?;
    if let Some(f) = failure {
        return Err(Error::Refused(f));
    }
    let r = receiver
        .report
        .clone()
        .ok_or_else(|| Error::Refused("the receiver did not report".into()))?;
    let s = sender
        .as_ref()
        .and_then(|s| s.report.clone())
        .ok_or_else(|| Error::Refused("the sender did not report (timeout?)".into()))?;
    let stats = daemon.registrar().backend().stats();
    let mut refusals = std::collections::BTreeMap::new();
    for name in &s.refusals {
        *refusals.entry(name.clone()).or_insert(0) += 1;
    }
    let (table_reads, wall) = exchange;
    if std::env::var_os("SKIPWALK_DEMO_DEBUG").is_some() {
        eprintln!("receiver {r:?}\nsender {s:?}");
    }
    Ok(DemoReport {
        backend: daemon.registrar().backend_name(),
        messages: s.messages,
        frames: r.frames,
        bytes: r.bytes,
        verified: r.verified && r.bytes == s.bytes && r.frames == s.frames,
        pte_reads_per_translation: table_reads as f64
            / (r.translations + s.translations).max(1) as f64,
        forged_attempts: s.forged_attempts,
        forged_accepted: s.forged_accepted,
        refusals,
        fresh_shortcut_ok: s.fresh_shortcut_ok,
        throughput_bytes_per_second: r.bytes as f64 / wall.as_secs_f64().max(1e-9),
        device_cycles: stats.cycles,
        dma_violations: stats.dma_violations,
        seconds: started.elapsed().as_secs_f64(),
    })
}
