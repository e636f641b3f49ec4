//! `skipwalk bitstream` and `skipwalk flash`: the board's bitstream built from the generated
//! Verilog of [`rtl::cu_top::CuTop`] through the gated flow of [`rtl::flow::build_bitstream`],
//! and written to the Alchitry Cu's flash with `iceprog`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rtl::flow::{BoardReport, BoardTarget, FlowError};

use crate::error::{Error, Result};

/// The flow's name for the board build: its files are in `target/flow/skipwalk-cu/`.
pub const DESIGN: &str = "skipwalk-cu";
/// USB vendor and product of the Cu's FTDI FT2232H (interface A: the flash, B: the UART).
pub const CU_USB_ID: (&str, &str) = ("0403", "6010");
/// Where the kernel lists USB devices.
const USB_DEVICES: &str = "/sys/bus/usb/devices";

/// Builds the board's bitstream: yosys, nextpnr-ice40 at the board's 100 MHz with the Cu's
/// pins, icepack; fails when timing or the 80 % logic-cell limit is missed (the report and
/// the bitstream are written all the same).
pub fn build_bitstream() -> std::result::Result<BoardReport, FlowError> {
    let verilog = rtl::verilog::verilog_of(rtl::cu_top::CuTop::default());
    rtl::flow::build_bitstream(
        &verilog,
        &rtl::cu_top::pcf(),
        DESIGN,
        BoardTarget::default(),
    )
}

/// Where [`build_bitstream`] writes the bitstream.
pub fn default_bitstream() -> PathBuf {
    rtl::flow::flow_dir(DESIGN)
        .map(|d| d.join("top.bin"))
        .unwrap_or_else(|_| PathBuf::from("top.bin"))
}

/// The USB devices (sysfs paths) that are an Alchitry Cu's FTDI chip.
pub fn find_boards() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(USB_DEVICES) else {
        return vec![];
    };
    let read = |p: &Path, f: &str| {
        std::fs::read_to_string(p.join(f))
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| read(p, "idVendor") == CU_USB_ID.0 && read(p, "idProduct") == CU_USB_ID.1)
        .collect();
    found.sort();
    found
}

/// The command that programs `bitstream` into the Cu's flash (iceprog writes, then reads
/// back and verifies).
pub fn flash_command(bitstream: &Path) -> Command {
    let mut c = Command::new("iceprog");
    c.arg(bitstream);
    c
}

/// The command as a shell would show it.
pub fn shown(c: &Command) -> String {
    std::iter::once(c.get_program())
        .chain(c.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Programs the board's flash with `bitstream` and verifies it.
pub fn flash(bitstream: &Path) -> Result<()> {
    if !bitstream.is_file() {
        return Err(Error::Refused(format!(
            "no bitstream at {}: build it with `skipwalk bitstream` (or `make bitstream`)",
            bitstream.display()
        )));
    }
    if find_boards().is_empty() {
        return Err(Error::Refused(format!(
            "no Alchitry Cu attached: looked for USB device {}:{} (FTDI FT2232H) under {}; \
             plug the board in and check `lsusb`",
            CU_USB_ID.0, CU_USB_ID.1, USB_DEVICES
        )));
    }
    let mut cmd = flash_command(bitstream);
    let status = cmd
        .status()
        .map_err(|e| Error::io("running iceprog (`make deps` installs fpga-icestorm)", e))?;
    match status.code() {
        Some(0) => Ok(()),
        Some(code) => Err(Error::Refused(format!(
            "`{}` failed: {} (exit {code})",
            shown(&cmd),
            match code {
                1 => "error (see its output above)",
                2 => "hardware error: the FTDI chip or the flash did not answer",
                3 => "the flash read back differs from the bitstream",
                _ => "unexpected exit status",
            }
        ))),
        None => Err(Error::Refused(format!(
            "`{}` was killed by a signal",
            shown(&cmd)
        ))),
    }
}
