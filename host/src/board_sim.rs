//! `skipwalk board-sim`: the virtual board ([`sim::board::VirtualBoard`], the Verilator model
//! of the exact Cu top level) attached to a pseudo-terminal, so that the host's `serial`
//! backend talks to it as to the real board's UART: `-d serial:<pty>`.
//!
//! Bytes the host writes to the pty are driven into the board's `usb_rx` pin bit by bit;
//! bytes the board's `usb_tx` pin sends are written back. The simulated clock runs all the
//! time, as the board's does (the bridge's retransmission timer needs it); with nothing on
//! the line for a while it runs in short bursts between waits for the host, so an idle
//! board does not take a whole core. Optionally the line damages bytes in both directions
//! (flipped bits, dropped bytes, inserted garbage) to exercise the bridge's recovery.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sim::board::{LineMonitor, VirtualBoard};

use crate::error::{Error, Result};

/// Cycles run between two looks at the pty while the line is busy (ten byte times).
const BURST_BYTES: u64 = 10;
/// Cycles without line traffic after which the board idles between waits for the host.
const IDLE_AFTER_CYCLES: u64 = 200_000;
/// How long an idle board waits for the host between bursts, in milliseconds.
const IDLE_WAIT_MS: i32 = 1;

/// Damage the line does to bytes, each direction independently.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LineFaults {
    /// Probability that a byte has one bit flipped.
    pub flip: f64,
    /// Probability that a byte is lost.
    pub drop: f64,
    /// Probability that a random byte is inserted before a byte.
    pub insert: f64,
    /// Seed of the damage.
    pub seed: u64,
}

impl LineFaults {
    /// Whether the line damages anything.
    pub fn any(&self) -> bool {
        self.flip > 0.0 || self.drop > 0.0 || self.insert > 0.0
    }

    /// The same probability of each kind of damage.
    pub fn uniform(rate: f64, seed: u64) -> LineFaults {
        LineFaults {
            flip: rate,
            drop: rate,
            insert: rate,
            seed,
        }
    }
}

/// What the line did to the bytes crossing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DamageStats {
    /// Bytes with a bit flipped.
    pub flipped: u64,
    /// Bytes dropped.
    pub dropped: u64,
    /// Garbage bytes inserted.
    pub inserted: u64,
}

struct Damage {
    faults: LineFaults,
    rng: SmallRng,
    stats: DamageStats,
}

impl Damage {
    fn new(faults: LineFaults, salt: u64) -> Damage {
        Damage {
            faults,
            rng: SmallRng::seed_from_u64(faults.seed ^ salt),
            stats: DamageStats::default(),
        }
    }

    fn apply(&mut self, bytes: &[u8]) -> Vec<u8> {
        if !self.faults.any() {
            return bytes.to_vec();
        }
        let mut out = Vec::with_capacity(bytes.len() + 4);
        for &b in bytes {
            if self.rng.gen_bool(self.faults.insert) {
                // Garbage favours the bytes that matter to the framing.
                let g = match self.rng.gen_range(0..4) {
                    0 => abi::bridge::FLAG,
                    1 => abi::bridge::ESC,
                    _ => self.rng.gen(),
                };
                out.push(g);
                self.stats.inserted += 1;
            }
            if self.rng.gen_bool(self.faults.drop) {
                self.stats.dropped += 1;
                continue;
            }
            if self.rng.gen_bool(self.faults.flip) {
                out.push(b ^ (1 << self.rng.gen_range(0..8)));
                self.stats.flipped += 1;
            } else {
                out.push(b);
            }
        }
        out
    }
}

/// What a board-sim run saw.
#[derive(Clone, Debug)]
pub struct BoardSimReport {
    /// Cycles simulated.
    pub cycles: u64,
    /// Clocks per UART bit of the virtual board.
    pub clocks_per_bit: u64,
    /// The line, decoded passively in both directions.
    pub line: LineMonitor,
    /// Damage done to host → board bytes.
    pub damage_to_board: DamageStats,
    /// Damage done to board → host bytes.
    pub damage_to_host: DamageStats,
    /// The LEDs at the end.
    pub leds: u8,
}

impl BoardSimReport {
    /// The report as one JSON object.
    pub fn json(&self) -> String {
        let dir = |d: &sim::board::DirectionStats| {
            format!(
                "{{\"line_bytes\": {}, \"payload_bytes\": {}, \"frames\": {}, \"damaged_frames\": {}, \
                 \"payload_fraction_of_line_rate\": {:.4}}}",
                d.line_bytes,
                d.payload_bytes,
                d.frames,
                d.damaged_frames,
                d.payload_fraction(self.clocks_per_bit)
            )
        };
        let dmg = |d: &DamageStats| {
            format!(
                "{{\"flipped\": {}, \"dropped\": {}, \"inserted\": {}}}",
                d.flipped, d.dropped, d.inserted
            )
        };
        format!(
            "{{\"cycles\": {}, \"clocks_per_bit\": {}, \"to_board\": {}, \"to_host\": {}, \
             \"damage_to_board\": {}, \"damage_to_host\": {}, \"leds\": {}}}",
            self.cycles,
            self.clocks_per_bit,
            dir(&self.line.to_board),
            dir(&self.line.to_host),
            dmg(&self.damage_to_board),
            dmg(&self.damage_to_host),
            self.leds
        )
    }
}

/// The virtual board on a pseudo-terminal.
pub struct PtyBoard {
    master: File,
    /// Held open so the pty keeps its raw settings and reads never see a hang-up while the
    /// host closes and reopens it.
    _slave: File,
    path: PathBuf,
    board: VirtualBoard,
    to_board: Damage,
    to_host: Damage,
    pending_out: Vec<u8>,
}

fn os_error(context: &str) -> Error {
    Error::io(context, std::io::Error::last_os_error())
}

impl PtyBoard {
    /// A new pty with a freshly configured board behind it.
    pub fn open(faults: LineFaults) -> Result<PtyBoard> {
        // SAFETY: plain libc calls on a descriptor this function owns; ptsname_r writes at
        // most `buf.len()` bytes.
        let (master, slave, path) = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(os_error("posix_openpt"));
            }
            let master = File::from_raw_fd(fd);
            if libc::grantpt(fd) != 0 || libc::unlockpt(fd) != 0 {
                return Err(os_error("grantpt/unlockpt"));
            }
            let mut buf = [0 as libc::c_char; 128];
            if libc::ptsname_r(fd, buf.as_mut_ptr(), buf.len()) != 0 {
                return Err(os_error("ptsname_r"));
            }
            let path = std::ffi::CStr::from_ptr(buf.as_ptr())
                .to_string_lossy()
                .into_owned();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
                return Err(os_error("fcntl O_NONBLOCK"));
            }
            let slave = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY)
                .open(&path)
                .map_err(|e| Error::io(format!("opening {path}"), e))?;
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(slave.as_raw_fd(), &mut t) != 0 {
                return Err(os_error("tcgetattr"));
            }
            libc::cfmakeraw(&mut t);
            if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &t) != 0 {
                return Err(os_error("tcsetattr"));
            }
            (master, slave, PathBuf::from(path))
        };
        Ok(PtyBoard {
            master,
            _slave: slave,
            path,
            board: VirtualBoard::new(),
            to_board: Damage::new(faults, 0x746f_626f),
            to_host: Damage::new(faults, 0x746f_686f),
            pending_out: vec![],
        })
    }

    /// The pty the host opens: `-d serial:<path>`.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The board.
    pub fn board(&self) -> &VirtualBoard {
        &self.board
    }

    /// The virtual board, to change its settings.
    pub fn board_mut(&mut self) -> &mut VirtualBoard {
        &mut self.board
    }

    /// Starts a new line measurement.
    pub fn reset_monitor(&mut self) {
        self.board.reset_monitor();
    }

    /// What the run saw so far.
    pub fn report(&self) -> BoardSimReport {
        BoardSimReport {
            cycles: self.board.cycle(),
            clocks_per_bit: self.board.clocks_per_bit(),
            line: self.board.monitor().clone(),
            damage_to_board: self.to_board.stats,
            damage_to_host: self.to_host.stats,
            leds: self.board.leds(),
        }
    }

    /// Serves the pty until `control` returns `true`; it is called between bursts with the
    /// board (to read or reset its line monitor, or press its button).
    pub fn serve(&mut self, control: &mut dyn FnMut(&mut VirtualBoard) -> bool) -> Result<()> {
        let burst = BURST_BYTES * 10 * self.board.clocks_per_bit();
        let mut quiet = 0u64;
        let mut buf = [0u8; 4096];
        while !control(&mut self.board) {
            let mut traffic = false;
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let bytes = self.to_board.apply(&buf[..n]);
                    self.board.send(&bytes);
                    traffic = true;
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                // EIO: no process has the terminal open (cannot happen while we hold the
                // slave side, but a closed terminal is no reason to stop the board).
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
                Err(e) => return Err(Error::io(format!("{}: read", self.path.display()), e)),
            }
            self.board.run(burst);
            let out = self.board.take_output();
            if !out.is_empty() {
                let damaged = self.to_host.apply(&out);
                self.pending_out.extend(damaged);
                traffic = true;
            }
            if !self.pending_out.is_empty() {
                match self.master.write(&self.pending_out) {
                    Ok(n) => {
                        self.pending_out.drain(..n);
                    }
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                    Err(e) => return Err(Error::io(format!("{}: write", self.path.display()), e)),
                }
            }
            traffic |= self.board.pending_input() > 0 || self.board.transmitting();
            quiet = if traffic { 0 } else { quiet + burst };
            if quiet >= IDLE_AFTER_CYCLES {
                let mut pfd = libc::pollfd {
                    fd: self.master.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, IDLE_WAIT_MS) };
            }
        }
        Ok(())
    }
}
