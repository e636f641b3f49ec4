//! The errors of the host library. Every one names what was asked and what was expected;
//! none ever carries a key.

use crate::dma::DmaError;

/// What went wrong in the registrar, a backend, the application API or the daemon protocol.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// DMA memory could not be created, mapped or sealed.
    #[error("DMA memory: {0}")]
    Dma(#[from] DmaError),
    /// The device (or its backend) failed or answered something impossible.
    #[error("device ({backend}): {reason}")]
    Device {
        /// The backend's name.
        backend: String,
        /// What happened.
        reason: String,
    },
    /// Every instance of a device resource is in use.
    #[error("no free {0} (the device has {1})")]
    Exhausted(&'static str, usize),
    /// A buffer range that cannot be registered.
    #[error("buffer {va:#x}+{len:#x}: {reason}")]
    BadRange {
        /// First virtual address asked for.
        va: u64,
        /// Bytes asked for.
        len: u64,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A handle that does not exist, or belongs to another application.
    #[error("unknown {kind} {id} (not opened by this application)")]
    Unknown {
        /// What kind of handle.
        kind: &'static str,
        /// Its number.
        id: u64,
    },
    /// A request the registrar refuses.
    #[error("{0}")]
    Refused(String),
    /// A protection domain's table window is full or its tables are unreadable.
    #[error("translation tables: {0}")]
    Tables(#[from] abi::TableError),
    /// The daemon and an application disagree on the protocol, or a peer sent garbage.
    #[error("protocol: {0}")]
    Protocol(String),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
