//! The Cu top level: its pin constraints match its ports, bit by bit, and the checked-in
//! `constraints/alchitry_cu.pcf` is what `rtl::cu_top::pcf` generates.

use std::collections::BTreeSet;

use rtl::cu_top::{pcf, CuTop, PINS};

const PCF_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../constraints/alchitry_cu.pcf"
);

/// Port bits of module `top` in `verilog`: `name` for one bit, `name[i]` for buses.
fn port_bits(verilog: &str) -> BTreeSet<String> {
    let start = verilog.find("\nmodule top(").expect("module top");
    let body = &verilog[start..];
    let end = body.find("endmodule").unwrap();
    let mut bits = BTreeSet::new();
    for line in body[..end].lines() {
        let line = line.trim();
        let Some(decl) = line
            .strip_prefix("input wire")
            .or_else(|| line.strip_prefix("output wire"))
            .or_else(|| line.strip_prefix("output reg"))
        else {
            continue;
        };
        let decl = decl.trim().trim_end_matches(';').trim();
        if let Some(rest) = decl.strip_prefix('[') {
            let (range, name) = rest.split_once(']').unwrap();
            let (hi, lo) = range.split_once(':').unwrap();
            let (hi, lo): (u32, u32) = (hi.trim().parse().unwrap(), lo.trim().parse().unwrap());
            for i in lo..=hi {
                bits.insert(format!("{}[{i}]", name.trim()));
            }
        } else {
            bits.insert(decl.to_string());
        }
    }
    bits
}

#[test]
fn pins_match_the_top_levels_ports() {
    let verilog = rtl::verilog::verilog_of(CuTop::default());
    let ports = port_bits(&verilog);
    let pinned: BTreeSet<String> = PINS.iter().map(|(p, _)| p.to_string()).collect();
    assert_eq!(ports, pinned, "every port bit has exactly one pin");
    let pins: BTreeSet<&str> = PINS.iter().map(|(_, pin)| *pin).collect();
    assert_eq!(pins.len(), PINS.len(), "no pin used twice");
    // The Cu's documented pins (TOOLCHAIN.md, Alchitry's schematic).
    for (port, pin) in [
        ("clk", "P7"),
        ("rst_n", "P8"),
        ("usb_rx", "P14"),
        ("usb_tx", "M9"),
    ] {
        assert!(PINS.contains(&(port, pin)), "{port} on {pin}");
    }
}

#[test]
fn checked_in_pcf_is_generated() {
    if std::env::var_os("SKIPWALK_WRITE_DOCS").is_some() {
        std::fs::write(PCF_FILE, pcf()).unwrap();
    }
    let on_disk = std::fs::read_to_string(PCF_FILE).expect("constraints/alchitry_cu.pcf");
    assert_eq!(on_disk, pcf(), "run `make docs` to regenerate {PCF_FILE}");
    for (port, pin) in PINS {
        assert!(on_disk.contains(&format!("set_io {port} {pin}\n")));
    }
}
