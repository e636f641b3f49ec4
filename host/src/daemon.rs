//! `skipwalk daemon`: the registrar and the device backend in one process, serving
//! applications in other processes over a Unix socket ([`crate::wire`]).
//!
//! One thread does everything, in a loop: accept connections, answer requests, relay
//! doorbells and let the device run. Each connection is one session (one PD, opened by its
//! `hello`). A client
//! that hangs up, dies, or sends anything but a valid request is disconnected: its VIs are
//! disabled, the device drains, its registrations are revoked and its memory is unpinned;
//! the other clients keep running.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use abi::translator::TranslationMode;
use abi::Access;

use crate::error::{Error, Result};
use crate::registrar::{ClientId, Registrar};
use crate::wire::{self, Received, Request, Response, PROTOCOL_VERSION};

/// Cycles the device runs per loop while it has work.
const SLICE: u64 = 4096;
/// Connections at once (sessions are limited by the PDs; this bounds the ones not yet in one).
const MAX_CONNECTIONS: usize = 64;
/// How long a connection may stay without `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the loop sleeps in `poll` when the device is idle.
const IDLE_WAIT: Duration = Duration::from_millis(2);

struct Client {
    sock: OwnedFd,
    /// The session is open (after a good `hello`).
    hello: bool,
    connected: Instant,
}

/// Counters of the daemon's connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct DaemonStats {
    /// Connections accepted.
    pub accepted: u64,
    /// Clients disconnected for a protocol violation.
    pub protocol_errors: u64,
    /// Clients that hung up or died.
    pub hangups: u64,
}

/// The daemon: a registrar and its listening socket.
pub struct Daemon {
    registrar: Registrar,
    listener: OwnedFd,
    path: PathBuf,
    clients: BTreeMap<ClientId, Client>,
    next_client: ClientId,
    /// Connection counters.
    pub stats: DaemonStats,
    log: Box<dyn FnMut(&str)>,
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0
        || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
    {
        return Err(Error::io(
            "making a socket non-blocking",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

impl Daemon {
    /// A daemon for `registrar` listening at `path`; `log` gets one line per connection event.
    pub fn new(registrar: Registrar, path: &Path, log: Box<dyn FnMut(&str)>) -> Result<Daemon> {
        let listener = wire::listen(path)?;
        set_nonblocking(listener.as_fd())?;
        Ok(Daemon {
            registrar,
            listener,
            path: path.to_path_buf(),
            clients: BTreeMap::new(),
            next_client: 1,
            stats: DaemonStats::default(),
            log,
        })
    }

    /// The registrar (for counters and `info`).
    pub fn registrar(&mut self) -> &mut Registrar {
        &mut self.registrar
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Serves until `keep_going` says stop (it is asked once per loop).
    pub fn serve(&mut self, mut keep_going: impl FnMut(&mut Daemon) -> bool) -> Result<()> {
        let mut active = false;
        while keep_going(self) {
            self.wait_for_sockets(if active { Duration::ZERO } else { IDLE_WAIT })?;
            self.accept_all()?;
            self.serve_clients()?;
            active = self.registrar.pump(SLICE)?;
        }
        Ok(())
    }

    fn wait_for_sockets(&self, timeout: Duration) -> Result<()> {
        let mut fds: Vec<libc::pollfd> = std::iter::once(self.listener.as_raw_fd())
            .chain(self.clients.values().map(|c| c.sock.as_raw_fd()))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfd.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout.as_millis() as i32,
            )
        };
        if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io("poll", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn accept_all(&mut self) -> Result<()> {
        while let Some(sock) = wire::accept(self.listener.as_fd())? {
            set_nonblocking(sock.as_fd())?;
            let id = self.next_client;
            self.next_client += 1;
            self.stats.accepted += 1;
            if self.clients.len() >= MAX_CONNECTIONS {
                (self.log)(&format!(
                    "client {id}: refused: {MAX_CONNECTIONS} connections open"
                ));
                continue;
            }
            self.clients.insert(
                id,
                Client {
                    sock,
                    hello: false,
                    connected: Instant::now(),
                },
            );
        }
        // A connection holds no PD until its `hello`, and may not wait for ever.
        let silent: Vec<ClientId> = self
            .clients
            .iter()
            .filter(|(_, c)| !c.hello && c.connected.elapsed() > HELLO_TIMEOUT)
            .map(|(&id, _)| id)
            .collect();
        for id in silent {
            self.disconnect(id, "no hello in time", true)?;
        }
        Ok(())
    }

    fn serve_clients(&mut self) -> Result<()> {
        let ids: Vec<ClientId> = self.clients.keys().copied().collect();
        for id in ids {
            loop {
                let sock = self.clients[&id].sock.as_fd();
                let got = match wire::recv(sock) {
                    Ok(g) => g,
                    Err(Error::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::WouldBlock =>
                    {
                        break
                    }
                    Err(e) => {
                        self.disconnect(id, &format!("{e}"), true)?;
                        break;
                    }
                };
                match got {
                    Received::Closed => {
                        self.disconnect(id, "hung up", false)?;
                        break;
                    }
                    Received::Message(body, fds) => {
                        if !fds.is_empty() {
                            self.disconnect(id, "sent file descriptors", true)?;
                            break;
                        }
                        let req = match wire::decode::<Request>(&body) {
                            Ok(r) => r,
                            Err(e) => {
                                self.disconnect(id, &e.to_string(), true)?;
                                break;
                            }
                        };
                        if !self.answer(id, req)? {
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Answers one request; `false` when the client was disconnected.
    fn answer(&mut self, id: ClientId, req: Request) -> Result<bool> {
        let client = self.clients.get_mut(&id).expect("connected");
        match (&req, client.hello) {
            (Request::Hello { version }, false) => {
                if *version != PROTOCOL_VERSION {
                    let msg =
                        format!("protocol version {version}, the daemon speaks {PROTOCOL_VERSION}");
                    let _ = wire::send(
                        client.sock.as_fd(),
                        &Response::Error {
                            message: msg.clone(),
                        },
                        &[],
                    );
                    self.disconnect(id, &msg, true)?;
                    return Ok(false);
                }
                // The session (a PD) opens now, not at connect: idle connections hold none.
                match self.registrar.open_session(id) {
                    Ok(pd) => {
                        (self.log)(&format!("client {id}: connected, PD {pd}"));
                        let client = self.clients.get_mut(&id).expect("connected");
                        client.hello = true;
                        wire::send(client.sock.as_fd(), &Response::Ok, &[]).ok();
                        return Ok(true);
                    }
                    Err(e @ Error::Device { .. }) => return Err(e),
                    Err(e) => {
                        let message = e.to_string();
                        let sock = self.clients[&id].sock.as_fd();
                        let _ = wire::send(
                            sock,
                            &Response::Error {
                                message: message.clone(),
                            },
                            &[],
                        );
                        self.disconnect(id, &format!("refused: {message}"), false)?;
                        return Ok(false);
                    }
                }
            }
            (_, false) | (Request::Hello { .. }, true) => {
                self.disconnect(
                    id,
                    "the first message must be hello, and only the first",
                    true,
                )?;
                return Ok(false);
            }
            _ => {}
        }
        let r = &mut self.registrar;
        let mut fds: Vec<OwnedFd> = vec![];
        let result: Result<Response> = (|| {
            Ok(match req {
                Request::Hello { .. } => unreachable!("handled above"),
                Request::AllocPool { len } => {
                    let (g, region) = r.alloc_pool(id, len)?;
                    fds.push(dup(region.fd())?);
                    Response::Pool(g)
                }
                Request::FreePool { id: pool } => {
                    r.free_pool(id, pool)?;
                    Response::Ok
                }
                Request::OpenVi { mode, log2 } => {
                    let mode = parse_mode(&mode)?;
                    let h = r.open_vi(id, mode, log2)?;
                    fds.push(dup(h.rings.fd())?);
                    fds.push(dup(h.doorbell.fd())?);
                    Response::Vi(h.grant)
                }
                Request::CloseVi { vi } => {
                    r.close_vi(id, vi)?;
                    Response::Ok
                }
                Request::Register {
                    pool,
                    pool_va,
                    va,
                    len,
                    writable,
                } => {
                    let access = if writable {
                        Access::ReadWrite
                    } else {
                        Access::Read
                    };
                    Response::Registration(r.register(id, pool, pool_va, va, len, access)?)
                }
                Request::Deregister { id: reg } => {
                    r.deregister(id, reg)?;
                    Response::Ok
                }
                Request::RevokeShortcuts => Response::Regrants {
                    grants: r.revoke_shortcuts(id)?,
                },
                Request::Info => Response::Info(Box::new(r.info()?)),
            })
        })();
        let reply = match result {
            Ok(reply) => reply,
            // A device failure ends the daemon; anything else is the client's problem.
            Err(e @ Error::Device { .. }) => return Err(e),
            Err(e) => {
                fds.clear();
                Response::Error {
                    message: e.to_string(),
                }
            }
        };
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
        let sock = self.clients[&id].sock.as_fd();
        if let Err(e) = wire::send(sock, &reply, &borrowed) {
            self.disconnect(id, &e.to_string(), false)?;
            return Ok(false);
        }
        Ok(true)
    }

    fn disconnect(&mut self, id: ClientId, why: &str, protocol_error: bool) -> Result<()> {
        if protocol_error {
            self.stats.protocol_errors += 1;
        } else {
            self.stats.hangups += 1;
        }
        (self.log)(&format!(
            "client {id}: disconnected ({why}); revoking its memory"
        ));
        self.clients.remove(&id);
        match self.registrar.close_session(id) {
            Err(e @ Error::Device { .. }) => Err(e),
            _ => Ok(()),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    fd.try_clone_to_owned()
        .map_err(|e| Error::io("duplicating a region's descriptor", e))
}

/// A translation mode an application may ask for, from its name. Physical mode (descriptors
/// carry device addresses) would let an application name any memory: it is for the
/// registrar's own benchmarks and never handed out.
pub fn parse_mode(name: &str) -> Result<TranslationMode> {
    [TranslationMode::Shortcut, TranslationMode::FullWalk]
        .into_iter()
        .find(|m| m.name() == name)
        .ok_or_else(|| Error::Refused(format!("mode {name:?}: expected shortcut or full_walk")))
}
