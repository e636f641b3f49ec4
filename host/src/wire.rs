//! The daemon's socket protocol: a Unix `SOCK_SEQPACKET` socket (message boundaries kept by
//! the kernel), one JSON request or response per message, file descriptors (pools, rings,
//! doorbell pages) passed beside a response with `SCM_RIGHTS`.
//!
//! A message larger than [`MAX_MESSAGE`], one that is not JSON of a known request, or one
//! carrying descriptors the daemon did not ask for is a protocol error: the daemon
//! disconnects that client (revoking its memory) and serves the others.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::registrar::{DeviceInfo, PoolGrant, RegistrationGrant, ViGrant};

/// Protocol version in [`Request::Hello`].
pub const PROTOCOL_VERSION: u32 = 1;
/// Largest message either side accepts.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Most descriptors one message carries.
pub const MAX_FDS: usize = 4;

/// What an application asks the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// First message: the protocol version the application speaks.
    Hello {
        /// [`PROTOCOL_VERSION`].
        version: u32,
    },
    /// A pool of DMA memory (answered with its descriptor).
    AllocPool {
        /// Bytes.
        len: u64,
    },
    /// Frees a pool.
    FreePool {
        /// Pool handle.
        id: u64,
    },
    /// A VI (answered with the rings' and the doorbell page's descriptors).
    OpenVi {
        /// Translation mode: `shortcut`, `full_walk` or `physical`.
        mode: String,
        /// log2 of the ring entries.
        log2: u32,
    },
    /// Closes a VI.
    CloseVi {
        /// VI number.
        vi: u8,
    },
    /// Registers part of a pool.
    Register {
        /// Pool handle.
        pool: u64,
        /// Where the application maps the pool.
        pool_va: u64,
        /// First virtual address.
        va: u64,
        /// Bytes.
        len: u64,
        /// The device may write it.
        writable: bool,
    },
    /// Revokes a registration.
    Deregister {
        /// Registration handle.
        id: u64,
    },
    /// Bumps the PD generation, re-minting every registration's shortcuts.
    RevokeShortcuts,
    /// Device identity and counters.
    Info,
}

/// The daemon's answer.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    /// Done.
    Ok,
    /// Refused or failed; the message says why.
    Error {
        /// What went wrong.
        message: String,
    },
    /// A pool; one descriptor attached.
    Pool(PoolGrant),
    /// A VI; two descriptors attached (rings, doorbell page).
    Vi(ViGrant),
    /// A registration.
    Registration(RegistrationGrant),
    /// Fresh shortcuts of every registration.
    Regrants {
        /// One per live registration.
        grants: Vec<RegistrationGrant>,
    },
    /// Device identity and counters.
    Info(Box<DeviceInfo>),
}

fn os_err(what: &str) -> Error {
    Error::io(what, std::io::Error::last_os_error())
}

fn seqpacket() -> Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before it is owned.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(os_err("creating a Unix seqpacket socket"));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr(path: &Path) -> Result<(libc::sockaddr_un, libc::socklen_t)> {
    let bytes = path.as_os_str().as_encoded_bytes();
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() {
        return Err(Error::Refused(format!(
            "socket path {}: longer than {} bytes",
            path.display(),
            addr.sun_path.len() - 1
        )));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (d, &s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = s as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1;
    Ok((addr, len as libc::socklen_t))
}

/// Listens at `path` (replacing a stale socket file there). The socket is bound under a
/// temporary name and renamed once it listens, so a client that sees the file can connect.
pub fn listen(path: &Path) -> Result<OwnedFd> {
    let fd = seqpacket()?;
    let mut staging = path.as_os_str().to_owned();
    staging.push(format!(".{}.tmp", std::process::id()));
    let staging = std::path::PathBuf::from(staging);
    let (addr, len) = sockaddr(&staging)?;
    let _ = std::fs::remove_file(&staging);
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) } < 0 {
        return Err(Error::io(
            format!("binding {}", staging.display()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: plain listen(2) on our socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 16) } < 0 {
        return Err(os_err("listening"));
    }
    std::fs::rename(&staging, path)
        .map_err(|e| Error::io(format!("moving the socket to {}", path.display()), e))?;
    Ok(fd)
}

/// Connects to the daemon at `path`.
pub fn connect(path: &Path) -> Result<OwnedFd> {
    let fd = seqpacket()?;
    let (addr, len) = sockaddr(path)?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
    if unsafe { libc::connect(fd.as_raw_fd(), (&raw const addr).cast(), len) } < 0 {
        return Err(Error::io(
            format!(
                "connecting to the daemon at {} (is `skipwalk daemon` running?)",
                path.display()
            ),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(fd)
}

/// Accepts a connection (non-blocking listener: `None` when nobody waits).
pub fn accept(listener: BorrowedFd<'_>) -> Result<Option<OwnedFd>> {
    // SAFETY: accept4 on our listener; the result is checked before it is owned.
    let fd = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(Error::io("accepting a connection", e));
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Sends one message with `fds` attached.
pub fn send(sock: BorrowedFd<'_>, msg: &impl Serialize, fds: &[BorrowedFd<'_>]) -> Result<()> {
    let body = serde_json::to_vec(msg).map_err(|e| Error::Protocol(format!("encoding: {e}")))?;
    assert!(fds.len() <= MAX_FDS);
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: body.as_ptr() as *mut libc::c_void,
        iov_len: body.len(),
    };
    // SAFETY: all-zero is a valid msghdr; the pointers set below outlive the sendmsg call.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    if !raw.is_empty() {
        hdr.msg_control = control.as_mut_ptr().cast();
        // SAFETY: as above.
        hdr.msg_controllen =
            unsafe { libc::CMSG_SPACE((raw.len() * std::mem::size_of::<RawFd>()) as u32) } as _;
        // SAFETY: the control buffer is large enough for one header with `raw.len()` fds.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&hdr);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN((raw.len() * std::mem::size_of::<RawFd>()) as u32) as _;
            std::ptr::copy_nonoverlapping(
                raw.as_ptr(),
                libc::CMSG_DATA(c).cast::<RawFd>(),
                raw.len(),
            );
        }
    }
    // SAFETY: `hdr` describes valid buffers.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(os_err("sending on the daemon socket"));
    }
    Ok(())
}

/// What [`recv`] got.
pub enum Received {
    /// One message and the descriptors that came with it.
    Message(Vec<u8>, Vec<OwnedFd>),
    /// The peer closed the connection.
    Closed,
}

/// Receives one message (blocking unless the socket is non-blocking).
pub fn recv(sock: BorrowedFd<'_>) -> Result<Received> {
    let mut body = vec![0u8; MAX_MESSAGE];
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: body.as_mut_ptr().cast(),
        iov_len: body.len(),
    };
    // SAFETY: all-zero is a valid msghdr; the buffers outlive the call.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = space as _;
    // SAFETY: `hdr` describes valid buffers.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut hdr, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(os_err("receiving on the daemon socket"));
    }
    let mut fds = vec![];
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&hdr);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize)
                    / std::mem::size_of::<RawFd>();
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(data.add(i).read_unaligned()));
                }
            }
            c = libc::CMSG_NXTHDR(&hdr, c);
        }
    }
    if hdr.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(Error::Protocol(format!(
            "message larger than {MAX_MESSAGE} bytes or with more than {MAX_FDS} descriptors"
        )));
    }
    if n == 0 {
        return Ok(Received::Closed);
    }
    body.truncate(n as usize);
    Ok(Received::Message(body, fds))
}

/// Decodes a message as `T`.
pub fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| Error::Protocol(format!("not a valid message ({} bytes): {e}", body.len())))
}
