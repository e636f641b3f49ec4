//! `skipwalk shortcut mint|open`: the shortcut codec from the command line, for debugging.
//!
//! ```text
//! skipwalk shortcut mint --key HEX --table-frame N [--level L] --generation G --va ADDR
//! skipwalk shortcut open --key HEX --shortcut HEX
//!                        [--va ADDR --generation G --window-base FRAME --window-pages N]
//! ```
//!
//! `mint` seals a table pointer the way the registrar does; `open` decrypts a shortcut and,
//! given the descriptor's VA and the PD's generation and table window, applies the device's
//! checks to it. A failed check is a successful decode: it is printed, not returned as an error.
//! Only bad arguments are errors.
//!
//! The key is a secret: it is held as an [`abi::Key`] (whose `Debug` is redacted) and never
//! appears in any output or error message, not even when it is malformed.

use std::ffi::OsStr;
use std::io::Write;

use abi::shortcut::{va_tag, TableWindow, MAX_SHORTCUT_LEVEL};
use abi::{mask, Key, Shortcut, ShortcutCipher, FRAME_BITS, GEN_BITS, VA_BITS};
use clap::error::ErrorKind;

/// Hex digits of a 128-bit key.
const KEY_DIGITS: usize = 32;
/// Hex digits of a 64-bit shortcut.
const SHORTCUT_DIGITS: usize = 16;

/// Arguments of `skipwalk shortcut`.
#[derive(clap::Args, Debug)]
pub struct ShortcutArgs {
    /// What to do with the shortcut.
    #[command(subcommand)]
    pub command: ShortcutCommand,
}

/// The `skipwalk shortcut` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ShortcutCommand {
    /// Mint (encrypt) the shortcut of a table page.
    Mint(MintArgs),
    /// Open (decrypt) a shortcut, and optionally check it as the device would.
    Open(OpenArgs),
}

/// Arguments of `skipwalk shortcut mint`.
#[derive(clap::Args, Debug)]
pub struct MintArgs {
    /// The 128-bit shortcut key: exactly 32 hex digits, optional 0x prefix, '_' allowed.
    /// Better from the environment (SKIPWALK_KEY): a command line is visible to every user.
    #[arg(long, value_name = "HEX", value_parser = KeyParser, env = "SKIPWALK_KEY", hide_env_values = true)]
    pub key: Key,
    /// Frame number (device address >> 12) of the table page the shortcut names.
    #[arg(long, value_name = "N", value_parser = parse_frame)]
    pub table_frame: u32,
    /// Level of that table: 1 is the leaf table.
    #[arg(long, value_name = "L", default_value = "1", value_parser = parse_level)]
    pub level: u8,
    /// The PD's current generation.
    #[arg(long, value_name = "G", value_parser = parse_generation)]
    pub generation: u8,
    /// A virtual address the table serves (hex with 0x, or decimal).
    #[arg(long, value_name = "ADDR", value_parser = parse_va)]
    pub va: u64,
}

/// Arguments of `skipwalk shortcut open`.
#[derive(clap::Args, Debug)]
pub struct OpenArgs {
    /// The 128-bit shortcut key: exactly 32 hex digits, optional 0x prefix, '_' allowed.
    /// Better from the environment (SKIPWALK_KEY): a command line is visible to every user.
    #[arg(long, value_name = "HEX", value_parser = KeyParser, env = "SKIPWALK_KEY", hide_env_values = true)]
    pub key: Key,
    /// The shortcut: up to 16 hex digits, optional 0x prefix, '_' allowed.
    #[arg(long, value_name = "HEX", value_parser = parse_shortcut)]
    pub shortcut: u64,
    /// Check against this descriptor VA (hex with 0x, or decimal).
    #[arg(
        long,
        value_name = "ADDR",
        value_parser = parse_va,
        requires_all = ["generation", "window_base", "window_pages"]
    )]
    pub va: Option<u64>,
    /// Check against this PD generation.
    #[arg(
        long,
        value_name = "G",
        value_parser = parse_generation,
        requires_all = ["va", "window_base", "window_pages"]
    )]
    pub generation: Option<u8>,
    /// Check against the PD's table window starting at this frame.
    #[arg(
        long,
        value_name = "FRAME",
        value_parser = parse_frame,
        requires_all = ["va", "generation", "window_pages"]
    )]
    pub window_base: Option<u32>,
    /// Check against the PD's table window of this many frames.
    #[arg(
        long,
        value_name = "N",
        value_parser = parse_window_pages,
        requires_all = ["va", "generation", "window_base"]
    )]
    pub window_pages: Option<u32>,
}

/// Runs the subcommand, writing its result to `out`: plain text, or one line of JSON when
/// `json` is set.
pub fn run(args: &ShortcutArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    match &args.command {
        ShortcutCommand::Mint(m) => mint(m, json, out),
        ShortcutCommand::Open(o) => open(o, json, out),
    }
}

/// Error of a [`run`] call on arguments that did not come through the parser.
fn invalid(arg: &str, message: String) -> anyhow::Error {
    anyhow::anyhow!("{arg}: {message}")
}

fn mint(args: &MintArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    // The fields are public, so re-check what the parser checked: minting truncates silently.
    check_frame(u64::from(args.table_frame)).map_err(|m| invalid("--table-frame", m))?;
    check_level(u64::from(args.level)).map_err(|m| invalid("--level", m))?;
    check_generation(u64::from(args.generation)).map_err(|m| invalid("--generation", m))?;
    check_va(args.va).map_err(|m| invalid("--va", m))?;

    let cipher = ShortcutCipher::new(&args.key);
    let shortcut = Shortcut::mint(
        &cipher,
        args.table_frame,
        args.level,
        args.generation,
        args.va,
    );
    if json {
        let value = serde_json::json!({
            "shortcut": format!("{:#018x}", shortcut.0),
            "table_frame": args.table_frame,
            "level": args.level,
            "generation": args.generation,
            "va_tag": va_tag(args.va, args.level),
        });
        serde_json::to_writer(&mut *out, &value)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{:#018x}", shortcut.0)?;
    }
    Ok(())
}

fn open(args: &OpenArgs, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    let checks = match (
        args.va,
        args.generation,
        args.window_base,
        args.window_pages,
    ) {
        (None, None, None, None) => None,
        (Some(va), Some(generation), Some(base), Some(pages)) => {
            check_va(va).map_err(|m| invalid("--va", m))?;
            check_generation(u64::from(generation)).map_err(|m| invalid("--generation", m))?;
            check_frame(u64::from(base)).map_err(|m| invalid("--window-base", m))?;
            check_window_pages(u64::from(pages)).map_err(|m| invalid("--window-pages", m))?;
            Some((va, generation, TableWindow { base, pages }))
        }
        _ => anyhow::bail!(
            "--va, --generation, --window-base and --window-pages must be given together"
        ),
    };

    let cipher = ShortcutCipher::new(&args.key);
    let shortcut = Shortcut(args.shortcut);
    let p = shortcut.decrypt(&cipher);
    let verdict = checks.map(|(va, generation, window)| {
        shortcut.open(&cipher, va, generation, &window).map(|_| ())
    });

    if json {
        let mut value = serde_json::json!({
            "table_frame": p.table_frame,
            "level": p.level,
            "generation": p.generation,
            "va_tag": p.va_tag,
        });
        if let Some(verdict) = &verdict {
            value["check"] = match verdict {
                Ok(()) => serde_json::json!("ok"),
                Err(e) => serde_json::json!({
                    "status": e.status().name(),
                    "reason": e.to_string(),
                }),
            };
        }
        serde_json::to_writer(&mut *out, &value)?;
        writeln!(out)?;
    } else {
        writeln!(out, "table_frame: {:#x}", p.table_frame)?;
        writeln!(out, "level: {}", p.level)?;
        writeln!(out, "generation: {}", p.generation)?;
        writeln!(out, "va_tag: {:#x}", p.va_tag)?;
        match &verdict {
            None => {}
            Some(Ok(())) => writeln!(out, "check: ok")?,
            Some(Err(e)) => writeln!(out, "check: {}: {e}", e.status().name())?,
        }
    }
    Ok(())
}

/// Parses the `--key` value without ever putting it into an error message.
///
/// clap's function value parsers quote the rejected value in their error, so the key has a
/// parser of its own whose errors only say how many digits were given.
#[derive(Clone, Copy, Debug)]
struct KeyParser;

impl clap::builder::TypedValueParser for KeyParser {
    type Value = Key;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Key, clap::Error> {
        parse_key(value).map_err(|problem| {
            let arg = arg.map_or_else(|| "--key".to_owned(), |a| a.to_string());
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value for '{arg}': expected {KEY_DIGITS} hex digits \
                     (a 128-bit key), {problem} (the value is not shown: it is a secret)"
                ),
            )
            .format(&mut cmd.clone())
        })
    }
}

/// A key from hex text; the error describes the text without quoting any of it.
fn parse_key(value: &OsStr) -> Result<Key, String> {
    let text = value
        .to_str()
        .ok_or_else(|| "got text that is not valid UTF-8".to_owned())?;
    let digits = hex_digits(text).map_err(|pos| {
        format!("got a character that is not a hex digit or '_' at position {pos}")
    })?;
    if digits.len() != KEY_DIGITS {
        return Err(format!("got {}", digits.len()));
    }
    u128::from_str_radix(&digits, 16)
        .map(Key::from_u128)
        .map_err(|_| "got an unparsable value".to_owned())
}

/// The hex digits of `text` (optional 0x prefix, '_' separators dropped); on a bad character,
/// its 1-based position in `text`.
fn hex_digits(text: &str) -> Result<String, usize> {
    let (offset, body) = match text.get(..2) {
        Some("0x" | "0X") => (2, &text[2..]),
        _ => (0, text),
    };
    let mut digits = String::with_capacity(body.len());
    for (i, c) in body.chars().enumerate() {
        match c {
            '_' => {}
            c if c.is_ascii_hexdigit() => digits.push(c),
            _ => return Err(offset + i + 1),
        }
    }
    Ok(digits)
}

/// A number as hex with a 0x prefix or as decimal, '_' allowed.
fn parse_number(text: &str) -> Result<u64, String> {
    let (radix, body) = match text.get(..2) {
        Some("0x" | "0X") => (16, &text[2..]),
        _ => (10, text),
    };
    let body: String = body.chars().filter(|&c| c != '_').collect();
    let kind = if radix == 16 { "hex" } else { "decimal" };
    if body.is_empty() {
        return Err(format!(
            "expected a number (0x-prefixed hex or decimal), got no {kind} digits"
        ));
    }
    if !body.chars().all(|c| c.is_digit(radix)) {
        return Err(format!(
            "expected a number (0x-prefixed hex or decimal), got a character that is not a \
             {kind} digit"
        ));
    }
    u64::from_str_radix(&body, radix).map_err(|_| "expected a number below 2^64".to_owned())
}

fn check_frame(v: u64) -> Result<u32, String> {
    if v > mask(FRAME_BITS) {
        return Err(format!(
            "expected a frame number that fits in {FRAME_BITS} bits (at most {:#x})",
            mask(FRAME_BITS)
        ));
    }
    Ok(v as u32)
}

fn check_level(v: u64) -> Result<u8, String> {
    if v == 0 || v > u64::from(MAX_SHORTCUT_LEVEL) {
        return Err(format!(
            "expected a table level in 1..={MAX_SHORTCUT_LEVEL} (1 is the leaf table)"
        ));
    }
    Ok(v as u8)
}

fn check_generation(v: u64) -> Result<u8, String> {
    if v > mask(GEN_BITS) {
        return Err(format!(
            "expected a generation that fits in {GEN_BITS} bits (0..={})",
            mask(GEN_BITS)
        ));
    }
    Ok(v as u8)
}

fn check_va(v: u64) -> Result<u64, String> {
    if v > mask(VA_BITS) {
        return Err(format!(
            "expected a virtual address that fits in {VA_BITS} bits (at most {:#x})",
            mask(VA_BITS)
        ));
    }
    Ok(v)
}

fn check_window_pages(v: u64) -> Result<u32, String> {
    if v > 1 << FRAME_BITS {
        return Err(format!(
            "expected a page count of at most 2^{FRAME_BITS} ({:#x})",
            1u64 << FRAME_BITS
        ));
    }
    Ok(v as u32)
}

fn parse_frame(text: &str) -> Result<u32, String> {
    check_frame(parse_number(text)?)
}

fn parse_level(text: &str) -> Result<u8, String> {
    check_level(parse_number(text)?)
}

fn parse_generation(text: &str) -> Result<u8, String> {
    check_generation(parse_number(text)?)
}

fn parse_va(text: &str) -> Result<u64, String> {
    check_va(parse_number(text)?)
}

fn parse_window_pages(text: &str) -> Result<u32, String> {
    check_window_pages(parse_number(text)?)
}

/// A shortcut: hex, optional 0x prefix, '_' allowed.
fn parse_shortcut(text: &str) -> Result<u64, String> {
    let expected = format!("expected 1 to {SHORTCUT_DIGITS} hex digits (a 64-bit shortcut)");
    let digits = hex_digits(text).map_err(|pos| {
        format!("{expected}, got a character that is not a hex digit or '_' at position {pos}")
    })?;
    if digits.is_empty() || digits.len() > SHORTCUT_DIGITS {
        return Err(format!("{expected}, got {}", digits.len()));
    }
    u64::from_str_radix(&digits, 16).map_err(|e| format!("{expected}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::Plaintext;
    use clap::{CommandFactory, Parser};

    /// Stands in for the main command (which owns `--json`).
    #[derive(Parser, Debug)]
    #[command(name = "shortcut")]
    struct TestCli {
        #[command(flatten)]
        args: ShortcutArgs,
    }

    /// A key whose digits are easy to search for.
    const KEY: &str = "0x1234_5678_9abc_def0_fedc_ba98_7654_3210";
    /// Its digits, as they would appear if echoed.
    const KEY_DIGITS_TEXT: &str = "123456789abcdef0fedcba9876543210";

    /// The SPECK64/128 test vector of the SPECK paper (see abi's cipher tests).
    const PAPER_KEY: &str = "1b1a1918131211100b0a090803020100";
    const PAPER_PT: u64 = 0x3b72_6574_7475_432d;
    const PAPER_CT: &str = "0x8c6fa548454e028b";

    fn parse(args: &[&str]) -> Result<ShortcutArgs, clap::Error> {
        TestCli::try_parse_from(std::iter::once("shortcut").chain(args.iter().copied()))
            .map(|cli| cli.args)
    }

    /// Runs the command; `Err` is the rendered clap error.
    fn cli(args: &[&str], json: bool) -> Result<String, String> {
        let parsed = parse(args).map_err(|e| e.render().to_string())?;
        let mut out = Vec::new();
        run(&parsed, json, &mut out).map_err(|e| format!("{e:#}"))?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn json(args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&cli(args, true).unwrap()).unwrap()
    }

    fn assert_no_key(text: &str) {
        let lower = text.to_lowercase().replace('_', "");
        for chunk in KEY_DIGITS_TEXT.as_bytes().chunks(8) {
            let chunk = std::str::from_utf8(chunk).unwrap();
            assert!(
                !lower.contains(chunk),
                "key digits {chunk} leaked in {text:?}"
            );
        }
    }

    fn error_of(args: &[&str]) -> String {
        let e = cli(args, false).unwrap_err();
        assert_no_key(&e);
        e
    }

    #[test]
    fn command_is_well_formed() {
        TestCli::command().debug_assert();
    }

    #[test]
    fn mint_then_open_round_trips() {
        for level in ["1", "2", "3"] {
            let minted = json(&[
                "mint",
                "--key",
                KEY,
                "--table-frame",
                "0x123",
                "--level",
                level,
                "--generation",
                "9",
                "--va",
                "0x7f12_3456_7000",
            ]);
            let shortcut = minted["shortcut"].as_str().unwrap();
            assert_eq!(shortcut.len(), 18);
            let plain = cli(
                &[
                    "mint",
                    "--key",
                    KEY,
                    "--table-frame",
                    "291",
                    "--level",
                    level,
                    "--generation",
                    "0x9",
                    "--va",
                    &0x7f12_3456_7000u64.to_string(),
                ],
                false,
            )
            .unwrap();
            assert_eq!(plain, format!("{shortcut}\n"));

            let opened = json(&[
                "open",
                "--key",
                KEY,
                "--shortcut",
                shortcut,
                "--va",
                "0x7f12_3456_7abc",
                "--generation",
                "9",
                "--window-base",
                "0x100",
                "--window-pages",
                "64",
            ]);
            for field in ["table_frame", "level", "generation", "va_tag"] {
                assert_eq!(opened[field], minted[field], "{field}");
            }
            assert_eq!(opened["table_frame"], 0x123);
            assert_eq!(opened["level"], level.parse::<u8>().unwrap());
            assert_eq!(opened["check"], "ok");
        }
    }

    #[test]
    fn default_level_is_the_leaf() {
        let minted = json(&[
            "mint",
            "--key",
            KEY,
            "--table-frame",
            "0x123",
            "--generation",
            "1",
            "--va",
            "0x200000",
        ]);
        assert_eq!(minted["level"], 1);
        assert_eq!(minted["va_tag"], 1);
    }

    #[test]
    fn paper_vector_decrypts_through_the_cli() {
        let p = Plaintext::unpack(PAPER_PT);
        assert_eq!(
            (p.table_frame, p.level, p.generation, p.va_tag),
            (0x3b7_2657, 1, 14, 0x475_432d)
        );
        let opened = json(&["open", "--key", PAPER_KEY, "--shortcut", PAPER_CT]);
        assert_eq!(opened["table_frame"], 0x3b7_2657);
        assert_eq!(opened["level"], 1);
        assert_eq!(opened["generation"], 14);
        assert_eq!(opened["va_tag"], 0x475_432d);
        assert!(opened.get("check").is_none());

        let plain = cli(&["open", "--key", PAPER_KEY, "--shortcut", PAPER_CT], false).unwrap();
        assert_eq!(
            plain,
            "table_frame: 0x3b72657\nlevel: 1\ngeneration: 14\nva_tag: 0x475432d\n"
        );
    }

    #[test]
    fn wrong_generation_is_reported_not_an_error() {
        let shortcut = json(&[
            "mint",
            "--key",
            KEY,
            "--table-frame",
            "0x120",
            "--generation",
            "9",
            "--va",
            "0x7f12_3456_7000",
        ])["shortcut"]
            .as_str()
            .unwrap()
            .to_owned();
        let args = [
            "open",
            "--key",
            KEY,
            "--shortcut",
            &shortcut,
            "--va",
            "0x7f12_3456_7000",
            "--generation",
            "10",
            "--window-base",
            "0x100",
            "--window-pages",
            "64",
        ];
        let opened = json(&args);
        assert_eq!(opened["generation"], 9);
        assert_eq!(opened["check"]["status"], "shortcut_generation");
        assert_eq!(
            opened["check"]["reason"],
            "shortcut generation 9 is stale (PD generation 10)"
        );
        let plain = cli(&args, false).unwrap();
        assert!(plain.ends_with(
            "check: shortcut_generation: shortcut generation 9 is stale (PD generation 10)\n"
        ));
        assert_no_key(&plain);
    }

    #[test]
    fn window_check_is_reported() {
        let shortcut = json(&[
            "mint",
            "--key",
            KEY,
            "--table-frame",
            "0x90",
            "--generation",
            "9",
            "--va",
            "0x1000",
        ])["shortcut"]
            .as_str()
            .unwrap()
            .to_owned();
        let opened = json(&[
            "open",
            "--key",
            KEY,
            "--shortcut",
            &shortcut,
            "--va",
            "0x1000",
            "--generation",
            "9",
            "--window-base",
            "0x100",
            "--window-pages",
            "64",
        ]);
        assert_eq!(opened["check"]["status"], "shortcut_window");
    }

    #[test]
    fn bad_keys_are_rejected_without_echo() {
        let base = [
            "mint",
            "--table-frame",
            "1",
            "--generation",
            "1",
            "--va",
            "0",
            "--key",
        ];
        let with_key = |key: &str| {
            let mut args = base.to_vec();
            args.push(key);
            error_of(&args)
        };
        let short = with_key(&KEY[..KEY.len() - 1]);
        assert!(short.contains("--key"), "{short}");
        assert!(
            short.contains("expected 32 hex digits (a 128-bit key), got 31"),
            "{short}"
        );
        let long = with_key(&format!("{KEY}0"));
        assert!(long.contains("--key") && long.contains("got 33"), "{long}");
        let bad_hex = with_key("0x1234_5678_9abc_def0_fedc_ba98_7654_321g");
        assert!(bad_hex.contains("--key"), "{bad_hex}");
        assert!(bad_hex.contains("not a hex digit"), "{bad_hex}");
        assert!(!bad_hex.contains("321g"), "{bad_hex}");
        let empty = with_key("0x");
        assert!(empty.contains("got 0"), "{empty}");
        // The open subcommand uses the same parser.
        let open = error_of(&["open", "--key", &KEY[..20], "--shortcut", "0"]);
        assert!(open.contains("--key") && open.contains("got 15"), "{open}");
    }

    /// `args` with `arg` set to `value` (replaced if present, appended if not).
    fn with<'a>(args: &[&'a str], arg: &'a str, value: &'a str) -> Vec<&'a str> {
        let mut args = args.to_vec();
        match args.iter().position(|a| *a == arg) {
            Some(pos) => args[pos + 1] = value,
            None => args.extend([arg, value]),
        }
        args
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let mint = [
            "mint",
            "--key",
            KEY,
            "--table-frame",
            "1",
            "--generation",
            "1",
            "--va",
            "0",
        ];
        let cases = [
            ("--table-frame", "0x1000_0000", "28 bits"),
            ("--table-frame", "12x", "decimal digit"),
            ("--table-frame", "-1", ""),
            ("--level", "0", "1..=3"),
            ("--level", "4", "1..=3"),
            ("--generation", "128", "7 bits"),
            ("--va", "0x8000_0000_0000", "47 bits"),
            ("--va", "0x", "no hex digits"),
            ("--va", "0x1_0000_0000_0000_0000", "2^64"),
        ];
        for (arg, value, expected) in cases {
            let e = error_of(&with(&mint, arg, value));
            assert!(e.contains(arg), "{arg} {value}: {e}");
            assert!(e.contains(expected), "{arg} {value}: {e}");
        }
        // The largest values that fit are accepted.
        for (arg, value) in [
            ("--table-frame", "0xfff_ffff"),
            ("--level", "3"),
            ("--generation", "127"),
            ("--va", "0x7fff_ffff_ffff"),
        ] {
            cli(&with(&mint, arg, value), false).unwrap_or_else(|e| panic!("{arg} {value}: {e}"));
        }

        let open = |extra: &[&str]| {
            let mut args = vec!["open", "--key", KEY, "--shortcut"];
            args.extend(extra);
            error_of(&args)
        };
        let e = open(&["0x1_0000_0000_0000_0000"]);
        assert!(e.contains("--shortcut") && e.contains("got 17"), "{e}");
        let e = open(&["xyz"]);
        assert!(
            e.contains("--shortcut") && e.contains("not a hex digit"),
            "{e}"
        );
        let check = |arg: &str, value: &str| {
            let mut args = vec![
                "0",
                "--va",
                "0",
                "--generation",
                "0",
                "--window-base",
                "0",
                "--window-pages",
                "1",
            ];
            let pos = args.iter().position(|a| *a == arg).unwrap();
            args[pos + 1] = value;
            open(&args)
        };
        for (arg, value, expected) in [
            ("--va", "0x8000_0000_0000", "47 bits"),
            ("--generation", "0x80", "7 bits"),
            ("--window-base", "0x1000_0000", "28 bits"),
            ("--window-pages", "0x1000_0001", "2^28"),
        ] {
            let e = check(arg, value);
            assert!(e.contains(arg) && e.contains(expected), "{arg}: {e}");
        }
    }

    #[test]
    fn check_arguments_come_together() {
        let e = error_of(&[
            "open",
            "--key",
            KEY,
            "--shortcut",
            "0",
            "--va",
            "0",
            "--generation",
            "1",
        ]);
        assert!(
            e.contains("--window-base") && e.contains("--window-pages"),
            "{e}"
        );
        let e = error_of(&[
            "open",
            "--key",
            KEY,
            "--shortcut",
            "0",
            "--window-pages",
            "1",
        ]);
        assert!(e.contains("--va") && e.contains("--generation"), "{e}");
    }

    #[test]
    fn missing_arguments_are_named() {
        let e = error_of(&["mint", "--key", KEY, "--table-frame", "1", "--va", "0"]);
        assert!(e.contains("--generation"), "{e}");
        let e = error_of(&["open", "--shortcut", "0"]);
        assert!(e.contains("--key"), "{e}");
    }

    #[test]
    fn key_never_appears() {
        let mint_args = [
            "mint",
            "--key",
            KEY,
            "--table-frame",
            "0x123",
            "--generation",
            "5",
            "--va",
            "0x4000_0000",
        ];
        let parsed = parse(&mint_args).unwrap();
        assert_no_key(&format!("{parsed:?}"));
        assert_no_key(&format!("{parsed:#?}"));
        let plain = cli(&mint_args, false).unwrap();
        assert_no_key(&plain);
        let minted = cli(&mint_args, true).unwrap();
        assert_no_key(&minted);
        let shortcut = serde_json::from_str::<serde_json::Value>(&minted).unwrap()["shortcut"]
            .as_str()
            .unwrap()
            .to_owned();
        for json in [false, true] {
            let open_args = [
                "open",
                "--key",
                KEY,
                "--shortcut",
                &shortcut,
                "--va",
                "0x4000_0000",
                "--generation",
                "6",
                "--window-base",
                "0",
                "--window-pages",
                "0x1000",
            ];
            assert_no_key(&format!("{:?}", parse(&open_args).unwrap()));
            assert_no_key(&cli(&open_args, json).unwrap());
        }
        // Errors elsewhere on a line with a good key do not show it either.
        error_of(&["mint", "--key", KEY, "--table-frame", "1", "--va", "0"]);
        error_of(&["mint", "--key", KEY, "--key", KEY, "--generation", "1"]);
        error_of(&["mint", "--key", KEY, "--table-frame", "x", "--va", "0"]);
        // Nor does the help text.
        let help = TestCli::command().render_long_help().to_string();
        assert_no_key(&help);
    }

    #[test]
    fn json_output_has_the_keys() {
        let minted = json(&[
            "mint",
            "--key",
            KEY,
            "--table-frame",
            "0x123",
            "--level",
            "2",
            "--generation",
            "3",
            "--va",
            "0x7f12_3456_7000",
        ]);
        let obj = minted.as_object().unwrap();
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["generation", "level", "shortcut", "table_frame", "va_tag"]
        );
        let s = minted["shortcut"].as_str().unwrap();
        assert!(s.starts_with("0x") && s.len() == 18);
        assert_eq!(minted["table_frame"], 0x123);
        assert_eq!(minted["level"], 2);
        assert_eq!(minted["generation"], 3);
        assert_eq!(minted["va_tag"], va_tag(0x7f12_3456_7000, 2));

        let opened = json(&["open", "--key", KEY, "--shortcut", s]);
        let mut keys: Vec<_> = opened.as_object().unwrap().keys().cloned().collect();
        keys.sort_unstable();
        assert_eq!(keys, ["generation", "level", "table_frame", "va_tag"]);
        let checked = json(&[
            "open",
            "--key",
            KEY,
            "--shortcut",
            s,
            "--va",
            "0x7f12_3456_7000",
            "--generation",
            "3",
            "--window-base",
            "0x123",
            "--window-pages",
            "1",
        ]);
        assert_eq!(checked["check"], "ok");
    }

    #[test]
    fn run_rechecks_hand_built_arguments() {
        let args = ShortcutArgs {
            command: ShortcutCommand::Mint(MintArgs {
                key: Key::from_u128(1),
                table_frame: 1 << FRAME_BITS,
                level: 1,
                generation: 0,
                va: 0,
            }),
        };
        let e = run(&args, false, &mut Vec::new()).unwrap_err();
        assert!(format!("{e:#}").contains("--table-frame"), "{e:#}");
        let args = ShortcutArgs {
            command: ShortcutCommand::Open(OpenArgs {
                key: Key::from_u128(1),
                shortcut: 0,
                va: Some(0),
                generation: None,
                window_base: None,
                window_pages: None,
            }),
        };
        let e = run(&args, false, &mut Vec::new()).unwrap_err();
        assert!(format!("{e:#}").contains("together"), "{e:#}");
    }
}
