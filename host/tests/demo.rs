//! `skipwalk demo` and `skipwalk bench` as a user runs them: the real binary, three real
//! processes, the JSON they print.

use std::process::Command;

fn skipwalk(args: &[&str]) -> (serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_skipwalk"))
        .args(args)
        .output()
        .expect("skipwalk runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "skipwalk {args:?} failed: {stderr}");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "skipwalk {args:?}: stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (json, stderr)
}

#[test]
fn demo_moves_every_byte_and_refuses_every_forgery() {
    let (r, stderr) = skipwalk(&["demo", "--json"]);
    assert_eq!(r["backend"], "sim");
    assert_eq!(r["messages"], 96);
    assert_eq!(r["verified"], true, "{r}");
    // The messages come from the stream: 96 of them, some 64 KiB.
    assert!(r["bytes"].as_u64().unwrap() > 1_000_000, "{r}");
    // One message per eighth crosses the leaf-table boundary of the sender's pool.
    assert!(r["frames"].as_u64().unwrap() > 96, "{r}");
    let reads = r["pte_reads_per_translation"].as_f64().unwrap();
    assert!(
        reads > 0.5 && reads <= 1.0,
        "shortcut mode reads one entry per page: {r}"
    );
    assert_eq!(r["forged_attempts"], 34);
    assert_eq!(r["forged_accepted"], 0);
    assert_eq!(r["refusals"]["not_present"], 1, "{r}");
    assert_eq!(r["refusals"]["shortcut_generation"], 1, "{r}");
    assert_eq!(r["fresh_shortcut_ok"], true);
    assert_eq!(r["dma_violations"], 0);
    assert!(
        stderr.contains("every byte checked"),
        "progress on stderr: {stderr}"
    );
}

#[test]
fn bench_prints_the_four_modes() {
    let (r, _) = skipwalk(&["bench", "--json", "--quick", "--latency", "40"]);
    assert_eq!(r["mem_latency_cycles"], 40);
    for mode in ["physical", "full_walk", "shortcut", "shortcut_cached"] {
        let m = &r["modes"][mode];
        for key in [
            "mem_reads_per_translation",
            "cycles_per_desc_64B",
            "latency_cycles_64B_p50",
            "payload_efficiency_4KiB",
        ] {
            assert!(m[key].is_number(), "{mode}.{key} missing: {r}");
        }
    }
    let reads = |m: &str| r["modes"][m]["mem_reads_per_translation"].as_f64().unwrap();
    assert_eq!(reads("full_walk"), 4.0);
    assert_eq!(reads("shortcut"), 1.0);
    assert_eq!(reads("physical"), 0.0);
}

#[test]
fn info_reports_the_device() {
    let (r, _) = skipwalk(&["info", "--json"]);
    assert_eq!(r["id"], "SKPW");
    assert_eq!(r["vis"], abi::DEVICE_VIS);
    assert_eq!(r["version"], abi::regs::ABI_VERSION);
    // The table windows of every PD are DMA memory from the start.
    assert!(r["dma_bytes"].as_u64().unwrap() > 0, "{r}");
}
