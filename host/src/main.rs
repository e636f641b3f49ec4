//! `skipwalk`: the registrar daemon, the demo, benchmarks and debugging tools.
//!
//! Data goes to stdout (`--json` for machines), progress to stderr. Exit codes: 0 success,
//! 1 failure (the message says what failed), 2 bad arguments (clap's usage message).

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use skipwalk::backend::DeviceSpec;
use skipwalk::daemon::Daemon;
use skipwalk::demo::{self, DemoConfig, Role};
use skipwalk::registrar::{DeviceInfo, Registrar};
use skipwalk::shortcut_cmd::{self, ShortcutArgs};
use skipwalk::{board_sim, fpga};

/// skipwalk: user-level I/O with keyed address-translation shortcuts.
#[derive(Parser, Debug)]
#[command(name = "skipwalk", version, about)]
struct Cli {
    /// Device backend: `sim` (the Verilator model of the Device, in this process) or
    /// `serial:<path>` (the Alchitry Cu's UART, e.g. /dev/ttyUSB1, or the pty of
    /// `skipwalk board-sim`).
    #[arg(short = 'd', long = "device", global = true, default_value = "sim", value_parser = DeviceSpec::parse)]
    device: DeviceSpec,
    /// Print the result as one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Registrar and two applications in three processes exchange messages over the
    /// loopback port; every byte checked, forged and stale shortcuts tried.
    Demo(DemoArgs),
    /// The four translation modes side by side on the device model.
    Bench(BenchArgs),
    /// Runs the registrar and the device; applications connect over a Unix socket.
    Daemon(DaemonArgs),
    /// Device identity, capabilities, VIs and counters (from a running daemon with
    /// `--socket`, else from a fresh device).
    Info(InfoArgs),
    /// The shortcut codec, for debugging.
    Shortcut(ShortcutArgs),
    /// Builds the Alchitry Cu bitstream (yosys, nextpnr-ice40 at 100 MHz, icepack); fails
    /// when timing or the 80 % logic-cell limit is missed.
    Bitstream,
    /// Programs the Alchitry Cu's flash with the bitstream (iceprog, verified).
    Flash(FlashArgs),
    /// The virtual board: the Verilator model of the Cu top level on a pseudo-terminal.
    /// Prints the pty's path, then serves until interrupted; use it with
    /// `-d serial:<path>`.
    BoardSim(BoardSimArgs),
    /// One application of the demo (started by `skipwalk demo`).
    #[command(hide = true)]
    DemoApp(DemoAppArgs),
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Messages the sender sends (1 B to 64 KiB each).
    #[arg(long, default_value_t = 96, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    messages: u32,
    /// Seed of the message sizes and payloads.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Host memory latency of the device model, in clock cycles.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    latency: u64,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Host memory latency, in clock cycles.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    latency: u64,
    /// Fewer samples (about ten times faster, noisier).
    #[arg(long)]
    quick: bool,
}

#[derive(Args, Debug)]
struct DaemonArgs {
    /// Socket to listen on.
    #[arg(long, default_value_os_t = default_socket())]
    socket: PathBuf,
    /// Host memory latency of the device model, in clock cycles.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    latency: u64,
    /// Internal loopback off: frames leave on the network port.
    #[arg(long)]
    no_loopback: bool,
}

#[derive(Args, Debug)]
struct FlashArgs {
    /// The bitstream (default: the one `skipwalk bitstream` builds).
    #[arg(long)]
    bitstream: Option<PathBuf>,
    /// Print the command instead of running it.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Args, Debug)]
struct BoardSimArgs {
    /// Probability that the line damages a byte, for each of: a flipped bit, a dropped
    /// byte, an inserted garbage byte; both directions.
    #[arg(long, default_value_t = 0.0, value_parser = parse_probability)]
    line_faults: f64,
    /// Seed of the line damage.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print every frame seen on the line (both directions, with its clock) to stderr.
    #[arg(long)]
    trace_frames: bool,
}

fn parse_probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=0.5).contains(&p) => Ok(p),
        _ => Err(format!("{s:?}: expected a probability from 0 to 0.5")),
    }
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// Ask the daemon at this socket instead of opening the device here.
    #[arg(long)]
    socket: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct DemoAppArgs {
    #[arg(long)]
    socket: PathBuf,
    #[arg(long, value_enum)]
    role: Role,
    #[arg(long)]
    messages: u32,
    #[arg(long)]
    seed: u64,
    #[arg(long)]
    dest: Option<u8>,
}

fn default_socket() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("skipwalk.sock")
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("skipwalk: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Demo(a) => {
            let cfg = DemoConfig {
                exe: std::env::current_exe().context("finding the skipwalk executable")?,
                messages: a.messages,
                seed: a.seed,
                latency: a.latency,
                device: cli.device.clone(),
            };
            let r = demo::run(&cfg, &mut |l| eprintln!("{l}"))?;
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                writeln!(out, "backend                {}", r.backend)?;
                writeln!(
                    out,
                    "messages               {} ({} frames)",
                    r.messages, r.frames
                )?;
                writeln!(out, "bytes                  {}", r.bytes)?;
                writeln!(
                    out,
                    "verified               {}",
                    if r.verified { "every byte" } else { "NO" }
                )?;
                writeln!(
                    out,
                    "table reads/translation {:.2}",
                    r.pte_reads_per_translation
                )?;
                writeln!(
                    out,
                    "forged/stale shortcuts {} tried, {} accepted ({})",
                    r.forged_attempts,
                    r.forged_accepted,
                    r.refusals
                        .iter()
                        .map(|(k, v)| format!("{v} {k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
                writeln!(
                    out,
                    "fresh shortcut         {}",
                    if r.fresh_shortcut_ok {
                        "accepted"
                    } else {
                        "REFUSED"
                    }
                )?;
                writeln!(
                    out,
                    "throughput             {:.2} MB/s (wall clock, {})",
                    r.throughput_bytes_per_second / 1e6,
                    r.backend
                )?;
                if r.device_cycles > 0 {
                    writeln!(out, "device cycles          {}", r.device_cycles)?;
                } else {
                    writeln!(
                        out,
                        "device cycles          (the device keeps its own clock)"
                    )?;
                }
                writeln!(out, "DMA outside policy     {}", r.dma_violations)?;
                writeln!(out, "time                   {:.1} s", r.seconds)?;
            }
            if !r.verified || r.forged_accepted > 0 || !r.fresh_shortcut_ok || r.dma_violations > 0
            {
                bail!("the demo found a fault (see the summary)");
            }
        }
        Command::DemoApp(a) => {
            let report = demo::run_app(a.role, &a.socket, a.messages, a.seed, a.dest)?;
            writeln!(out, "report {}", serde_json::to_string(&report)?)?;
        }
        Command::Bench(a) => {
            if cli.device != DeviceSpec::Sim {
                bail!(
                    "`bench` counts device clock cycles, which only the simulator (`-d sim`) \
                     shows; on {} use `demo` (its throughput and table reads per translation)",
                    cli.device
                );
            }
            let report = sim::bench::run(
                &sim::bench::BenchConfig {
                    latency: a.latency,
                    quick: a.quick,
                },
                &mut |l| eprintln!("{l}"),
            );
            if report.firewall_violations > 0 {
                bail!(
                    "{} DMA requests outside the firewall",
                    report.firewall_violations
                );
            }
            if cli.json {
                writeln!(
                    out,
                    "{{\"mem_latency_cycles\": {}, \"modes\": {}}}",
                    report.mem_latency_cycles,
                    report.modes_json()
                )?;
            } else {
                writeln!(
                    out,
                    "host memory latency: {} cycles",
                    report.mem_latency_cycles
                )?;
                writeln!(
                    out,
                    "{:<16} {:>14} {:>16} {:>14} {:>16}",
                    "mode", "reads/transl.", "cycles/64B desc", "p50 latency", "4KiB efficiency"
                )?;
                for (name, f) in &report.modes {
                    writeln!(
                        out,
                        "{name:<16} {:>14.2} {:>16.1} {:>14} {:>16.3}",
                        f.mem_reads_per_translation,
                        f.cycles_per_desc_64b,
                        f.latency_cycles_64b_p50,
                        f.payload_efficiency_4kib
                    )?;
                }
            }
        }
        Command::Daemon(a) => {
            let registrar = Registrar::new(cli.device.open(a.latency)?, !a.no_loopback)?;
            let mut daemon = Daemon::new(registrar, &a.socket, Box::new(|l| eprintln!("{l}")))
                .with_context(|| format!("listening at {}", a.socket.display()))?;
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [libc::SIGINT, libc::SIGTERM] {
                register_stop(sig, stop.clone());
            }
            let unlocked = daemon.registrar().info()?.dma_unlocked_bytes;
            if unlocked > 0 {
                eprintln!(
                    "skipwalk daemon: warning: mlock refused {unlocked} bytes of DMA memory \
                     (RLIMIT_MEMLOCK too small); they can be swapped out"
                );
            }
            eprintln!(
                "skipwalk daemon: device `{}`, listening at {}",
                cli.device,
                a.socket.display()
            );
            daemon.serve(|_| !stop.load(Ordering::Relaxed))?;
            eprintln!("skipwalk daemon: stopped");
        }
        Command::Info(a) => {
            let info: DeviceInfo = match a.socket {
                Some(path) => skipwalk::client::RemoteControl::connect(&path)?.info()?,
                None => Registrar::new(cli.device.open(60)?, true)?.info()?,
            };
            if cli.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?;
            } else {
                writeln!(out, "backend      {}", info.backend)?;
                writeln!(
                    out,
                    "device       {} (contract version {})",
                    info.id, info.version
                )?;
                writeln!(
                    out,
                    "VIs          {} (rings up to 2^{} entries)",
                    info.vis, info.max_ring_log2
                )?;
                writeln!(
                    out,
                    "loopback     {}",
                    if info.loopback { "on" } else { "off" }
                )?;
                writeln!(
                    out,
                    "DMA memory   {} bytes, {} not locked",
                    info.dma_bytes, info.dma_unlocked_bytes
                )?;
                writeln!(
                    out,
                    "frames       {} sent, {} received, {} malformed",
                    info.tx_frames, info.rx_frames, info.rx_bad_frames
                )?;
                for v in &info.vi_state {
                    writeln!(
                        out,
                        "VI {}         PD {} {} sq_head {} rq_head {} cq_tail {} doorbell drops {} rx drops {} faults {}{}",
                        v.vi,
                        v.pd,
                        v.mode,
                        v.sq_head,
                        v.rq_head,
                        v.cq_tail,
                        v.doorbell_drops,
                        v.rx_drops,
                        v.faults,
                        if v.locked { " LOCKED" } else { "" }
                    )?;
                }
            }
        }
        Command::Shortcut(a) => shortcut_cmd::run(&a, cli.json, &mut out)?,
        Command::Bitstream => {
            eprintln!("skipwalk bitstream: yosys, nextpnr-ice40, icepack (a few minutes)");
            match fpga::build_bitstream() {
                Ok(report) => {
                    if cli.json {
                        writeln!(out, "{}", report.json())?;
                    } else {
                        writeln!(out, "{report}")?;
                    }
                }
                Err(e @ rtl::flow::FlowError::NotFit { .. }) => {
                    if cli.json {
                        if let rtl::flow::FlowError::NotFit { report, .. } = &e {
                            if let Ok(text) = std::fs::read_to_string(report) {
                                write!(out, "{text}")?;
                            }
                        }
                    }
                    bail!("{e}");
                }
                Err(e) => bail!("{e}"),
            }
        }
        Command::Flash(a) => {
            let bitstream = a.bitstream.unwrap_or_else(fpga::default_bitstream);
            if a.dry_run {
                writeln!(out, "{}", fpga::shown(&fpga::flash_command(&bitstream)))?;
            } else {
                fpga::flash(&bitstream)?;
                writeln!(out, "flashed and verified {}", bitstream.display())?;
            }
        }
        Command::BoardSim(a) => {
            let faults = board_sim::LineFaults::uniform(a.line_faults, a.seed);
            let mut board = board_sim::PtyBoard::open(faults)?;
            board.board_mut().trace_frames(a.trace_frames);
            writeln!(out, "{}", board.path().display())?;
            out.flush()?;
            eprintln!(
                "skipwalk board-sim: the Cu top level in Verilator at {} clocks per UART bit; \
                 serving {} until interrupted (use -d serial:{})",
                board.board().clocks_per_bit(),
                board.path().display(),
                board.path().display()
            );
            let stop = Arc::new(AtomicBool::new(false));
            for sig in [libc::SIGINT, libc::SIGTERM] {
                register_stop(sig, stop.clone());
            }
            board.serve(&mut |_| stop.load(Ordering::Relaxed))?;
            let report = board.report();
            if cli.json {
                writeln!(out, "{}", report.json())?;
            } else {
                let line = &report.line;
                writeln!(out, "cycles          {}", report.cycles)?;
                for (name, d) in [
                    ("host -> board", &line.to_board),
                    ("board -> host", &line.to_host),
                ] {
                    writeln!(
                        out,
                        "{name}   {} line bytes, {} frames ({} damaged), {} DMA data bytes, {:.3} of the line rate",
                        d.line_bytes,
                        d.frames,
                        d.damaged_frames,
                        d.payload_bytes,
                        d.payload_fraction(report.clocks_per_bit)
                    )?;
                }
            }
        }
    }
    Ok(())
}

static STOP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();

extern "C" fn on_signal(_: libc::c_int) {
    if let Some(s) = STOP.get() {
        s.store(true, Ordering::Relaxed);
    }
}

fn register_stop(sig: libc::c_int, stop: Arc<AtomicBool>) {
    let _ = STOP.set(stop);
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
}
