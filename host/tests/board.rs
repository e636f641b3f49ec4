//! The virtual board as a user runs it: `skipwalk board-sim` (the Verilator model of the Cu
//! top level on a pseudo-terminal) in one process, and the real `serial` backend in others
//! (`-d serial:<pty>`): `info`, and the demo's three processes, every byte checked, every
//! forged shortcut refused, over a clean line and over a damaging one.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};

/// A running `skipwalk board-sim`; stopped (and its report read) by [`BoardSim::stop`].
struct BoardSim {
    child: Child,
    pty: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl BoardSim {
    fn start(extra: &[&str]) -> BoardSim {
        let mut child = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
            .args(["board-sim", "--json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("skipwalk board-sim starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut pty = String::new();
        stdout.read_line(&mut pty).expect("the pty's path");
        let pty = pty.trim().to_string();
        assert!(pty.starts_with("/dev/pts/"), "board-sim printed {pty:?}");
        BoardSim { child, pty, stdout }
    }

    fn device(&self) -> String {
        format!("serial:{}", self.pty)
    }

    /// SIGTERM, then the JSON report it prints on the way out.
    fn stop(mut self) -> serde_json::Value {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "board-sim exited with {status}");
        serde_json::from_str(rest.trim()).unwrap_or_else(|e| panic!("{e}: {rest}"))
    }
}

impl Drop for BoardSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skipwalk_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
        .args(args)
        .output()
        .expect("skipwalk runs");
    assert!(
        out.status.success(),
        "skipwalk {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "skipwalk {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn check_demo(r: &serde_json::Value, device: &str) {
    assert_eq!(r["backend"], device, "{r}");
    assert_eq!(r["verified"], true, "{r}");
    assert_eq!(r["forged_accepted"], 0, "{r}");
    assert_eq!(r["fresh_shortcut_ok"], true, "{r}");
    assert_eq!(r["dma_violations"], 0, "{r}");
    let reads = r["pte_reads_per_translation"].as_f64().unwrap();
    assert!(reads > 0.5 && reads <= 1.0, "{r}");
}

#[test]
fn loopback_through_the_virtual_board() {
    let board = BoardSim::start(&[]);
    let device = board.device();
    let info = skipwalk_json(&["-d", &device, "info", "--json"]);
    assert_eq!(info["id"], "SKPW", "{info}");
    assert_eq!(info["vis"], abi::DEVICE_VIS);
    assert_eq!(info["backend"], device.as_str());
    // Three messages: a short one, 64 KiB (16 pages: the receive engine's writes wait for
    // the send engine's reads across the line) and 4 KiB.
    let demo = skipwalk_json(&["-d", &device, "demo", "--json", "--messages", "3"]);
    check_demo(&demo, &device);
    assert_eq!(demo["forged_attempts"], 34, "{demo}");
    let bytes = demo["bytes"].as_u64().unwrap();
    assert!(bytes > 65536 + 4096, "{demo}");
    let report = board.stop();
    // DMA crossed the pins both ways: table entries, descriptors and payload read by the
    // device, completions and the received messages written back.
    assert!(
        report["to_board"]["payload_bytes"].as_u64().unwrap() > bytes,
        "{report}"
    );
    assert!(
        report["to_host"]["payload_bytes"].as_u64().unwrap() > bytes,
        "{report}"
    );
    assert_eq!(report["to_host"]["damaged_frames"], 0, "{report}");
    assert_eq!(report["to_board"]["damaged_frames"], 0, "{report}");
    // link up; no fault seen.
    assert_eq!(report["leds"].as_u64().unwrap() & 0b101, 0b001, "{report}");
}

/// The same loopback over a line that flips, drops and inserts bytes in both directions:
/// the bridge and the host's link retransmit until every byte is through, unchanged.
#[test]
fn loopback_through_a_damaging_line() {
    let board = BoardSim::start(&["--line-faults", "0.0002", "--seed", "5"]);
    let device = board.device();
    let demo = skipwalk_json(&["-d", &device, "demo", "--json", "--messages", "2"]);
    check_demo(&demo, &device);
    let report = board.stop();
    let damage = |dir: &str| {
        ["flipped", "dropped", "inserted"]
            .iter()
            .map(|k| report[dir][k].as_u64().unwrap())
            .sum::<u64>()
    };
    assert!(
        damage("damage_to_board") > 0 && damage("damage_to_host") > 0,
        "{report}"
    );
    // The board saw the host's damaged frames and dropped them.
    assert!(
        report["to_board"]["damaged_frames"].as_u64().unwrap() > 0,
        "{report}"
    );
}

#[test]
fn serial_errors_say_what_was_looked_for() {
    let out = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
        .args(["-d", "serial:/dev/does-not-exist", "info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/dev/does-not-exist") && err.contains("board-sim"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
        .args(["-d", "serial:", "info"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad -d is a usage error");
}

#[test]
fn flash_dry_run_prints_iceprog_and_a_missing_board_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
        .args(["flash", "--dry-run", "--bitstream", "/tmp/x.bin"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "iceprog /tmp/x.bin"
    );
    if !skipwalk::fpga::find_boards().is_empty() {
        return; // a real board is attached: do not flash it from a test
    }
    let bin = std::env::temp_dir().join(format!("skipwalk-flash-test-{}.bin", std::process::id()));
    std::fs::write(&bin, [0u8; 16]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
        .args(["flash", "--bitstream"])
        .arg(&bin)
        .output()
        .unwrap();
    std::fs::remove_file(&bin).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no Alchitry Cu attached") && err.contains("0403:6010"),
        "{err}"
    );
}
