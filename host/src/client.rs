//! The application's end of the daemon socket: [`Control`] over [`crate::wire`]. Regions
//! arrive as file descriptors and are mapped here; the daemon runs the device, so
//! `progress` only yields the processor.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use abi::translator::TranslationMode;
use abi::Access;

use crate::dma::DmaRegion;
use crate::error::{Error, Result};
use crate::registrar::{DeviceInfo, PoolGrant, RegistrationGrant, ViGrant};
use crate::verbs::Control;
use crate::wire::{self, Received, Request, Response, PROTOCOL_VERSION};

/// A connection to the daemon.
pub struct RemoteControl {
    sock: OwnedFd,
}

impl RemoteControl {
    /// Connects to the daemon at `socket` and opens a session.
    pub fn connect(socket: &Path) -> Result<RemoteControl> {
        let mut c = RemoteControl {
            sock: wire::connect(socket)?,
        };
        c.call(
            &Request::Hello {
                version: PROTOCOL_VERSION,
            },
            0,
        )?;
        Ok(c)
    }

    /// Sends `req` and waits for its answer, expecting `fds` descriptors with a success.
    fn call(&mut self, req: &Request, fds: usize) -> Result<(Response, Vec<OwnedFd>)> {
        wire::send(self.sock.as_fd(), req, &[])?;
        match wire::recv(self.sock.as_fd())? {
            Received::Closed => Err(Error::Protocol("the daemon closed the connection".into())),
            Received::Message(body, got) => match wire::decode::<Response>(&body)? {
                Response::Error { message } => Err(Error::Refused(message)),
                r if got.len() == fds => Ok((r, got)),
                r => Err(Error::Protocol(format!(
                    "{r:?} came with {} descriptors, expected {fds}",
                    got.len()
                ))),
            },
        }
    }

    /// Device identity and counters.
    pub fn info(&mut self) -> Result<DeviceInfo> {
        match self.call(&Request::Info, 0)?.0 {
            Response::Info(i) => Ok(*i),
            r => Err(unexpected(r)),
        }
    }
}

fn unexpected(r: Response) -> Error {
    Error::Protocol(format!("unexpected answer {r:?}"))
}

impl Control for RemoteControl {
    fn alloc_pool(&mut self, len: u64) -> Result<(PoolGrant, DmaRegion)> {
        match self.call(&Request::AllocPool { len }, 1)? {
            (Response::Pool(g), mut fds) => Ok((g, DmaRegion::from_fd(fds.remove(0))?)),
            (r, _) => Err(unexpected(r)),
        }
    }

    fn free_pool(&mut self, id: u64) -> Result<()> {
        self.call(&Request::FreePool { id }, 0).map(|_| ())
    }

    fn open_vi(
        &mut self,
        mode: TranslationMode,
        log2: u32,
    ) -> Result<(ViGrant, DmaRegion, DmaRegion)> {
        let req = Request::OpenVi {
            mode: mode.name().into(),
            log2,
        };
        match self.call(&req, 2)? {
            (Response::Vi(g), mut fds) => {
                let doorbell = DmaRegion::from_fd(fds.pop().expect("two"))?;
                let rings = DmaRegion::from_fd(fds.pop().expect("two"))?;
                Ok((g, rings, doorbell))
            }
            (r, _) => Err(unexpected(r)),
        }
    }

    fn close_vi(&mut self, vi: u8) -> Result<()> {
        self.call(&Request::CloseVi { vi }, 0).map(|_| ())
    }

    fn register(
        &mut self,
        pool: u64,
        pool_va: u64,
        va: u64,
        len: u64,
        access: Access,
    ) -> Result<RegistrationGrant> {
        let req = Request::Register {
            pool,
            pool_va,
            va,
            len,
            writable: access == Access::ReadWrite,
        };
        match self.call(&req, 0)?.0 {
            Response::Registration(g) => Ok(g),
            r => Err(unexpected(r)),
        }
    }

    fn deregister(&mut self, id: u64) -> Result<()> {
        self.call(&Request::Deregister { id }, 0).map(|_| ())
    }

    fn revoke_shortcuts(&mut self) -> Result<Vec<RegistrationGrant>> {
        match self.call(&Request::RevokeShortcuts, 0)?.0 {
            Response::Regrants { grants } => Ok(grants),
            r => Err(unexpected(r)),
        }
    }

    fn progress(&mut self) -> Result<()> {
        std::thread::yield_now();
        Ok(())
    }
}
