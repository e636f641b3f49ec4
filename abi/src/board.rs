//! The board the device runs on and the serial link between it and the host.
//!
//! The host opens the USB UART at [`UART_BAUD`]; the device times its bits by dividing
//! [`BOARD_CLOCK_HZ`] by the same rate, so both sides must agree on these numbers.

/// The device's clock: the Alchitry Cu's 100 MHz oscillator.
pub const BOARD_CLOCK_HZ: u32 = 100_000_000;

/// Baud rate of the UART link (8 data bits, no parity, 1 stop bit). 4 Mbaud is a whole number
/// of device clocks per bit (25) and a rate the board's FT2232H produces exactly.
pub const UART_BAUD: u32 = 4_000_000;
