//! A device and its DMA space: the one trait every backend implements (the Verilator model
//! now; the Alchitry Cu over its UART and a PCIe/VFIO device later), and the DMA space
//! itself — the memfd regions the registrar has made reachable, each at a device address.
//!
//! The registrar and the application API only ever see [`Backend`]; which device stands
//! behind it is chosen once, by `-d/--device`.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use abi::TableMemory;

use crate::dma::DmaRegion;
use crate::error::{Error, Result};

/// Device address of the first region: non-zero, so that a zeroed descriptor or ring base
/// never names DMA memory.
pub const DA_BASE: u64 = 0x1000_0000;

/// Device addresses are handed out at this alignment (a huge page), never reused: a DMA that
/// was in flight when its region went away cannot land in the next region.
pub const DA_ALIGN: u64 = 2 << 20;

/// The DMA space: regions of shared memory, each at a device address.
#[derive(Default)]
pub struct DmaSpace {
    regions: BTreeMap<u64, Arc<DmaRegion>>,
    next_da: u64,
}

impl DmaSpace {
    /// An empty DMA space.
    pub fn new() -> DmaSpace {
        DmaSpace {
            regions: BTreeMap::new(),
            next_da: DA_BASE,
        }
    }

    /// Creates a region of `len` bytes named `name` and makes it reachable by the device;
    /// returns its device address and the region.
    pub fn add(&mut self, name: &str, len: usize) -> Result<(u64, Arc<DmaRegion>)> {
        let region = Arc::new(DmaRegion::create(name, len)?);
        let da = self.next_da;
        let end = da
            .checked_add(region.len() as u64)
            .filter(|&e| e <= 1 << abi::DA_BITS)
            .ok_or(Error::Exhausted("device address space", 1 << abi::DA_BITS))?;
        self.next_da = end.next_multiple_of(DA_ALIGN);
        self.regions.insert(da, region.clone());
        Ok((da, region))
    }

    /// Makes the region at `da` unreachable by the device (the memory lives on while anyone
    /// still maps it).
    pub fn remove(&mut self, da: u64) -> Option<Arc<DmaRegion>> {
        self.regions.remove(&da)
    }

    /// Device addresses of every region.
    pub fn spans(&self) -> Vec<Range<u64>> {
        self.regions
            .iter()
            .map(|(&da, r)| da..da + r.len() as u64)
            .collect()
    }

    /// Bytes in all regions.
    pub fn bytes(&self) -> u64 {
        self.regions.values().map(|r| r.len() as u64).sum()
    }

    /// Bytes in regions that could not be locked in memory (`RLIMIT_MEMLOCK` too small):
    /// the kernel may swap them out, and a device would then read whatever is there.
    pub fn unlocked_bytes(&self) -> u64 {
        self.regions
            .values()
            .filter(|r| !r.locked())
            .map(|r| r.len() as u64)
            .sum()
    }

    /// The region holding `[da, da + len)` and the offset of `da` in it.
    fn find(&self, da: u64, len: u64) -> Option<(&DmaRegion, usize)> {
        let (&base, region) = self.regions.range(..=da).next_back()?;
        let off = da - base;
        (off.checked_add(len)? <= region.len() as u64).then_some((region, off as usize))
    }
}

impl sim::host_port::DmaSpace for DmaSpace {
    fn dma_read(&self, da: u64, buf: &mut [u8]) -> bool {
        self.find(da, buf.len() as u64)
            .is_some_and(|(r, off)| r.read(off, buf))
    }

    fn dma_write(&mut self, da: u64, data: &[u8]) -> bool {
        self.find(da, data.len() as u64)
            .is_some_and(|(r, off)| r.write(off, data))
    }

    fn dma_backed(&self, da: u64, len: u64) -> bool {
        self.find(da, len).is_some()
    }
}

impl TableMemory for DmaSpace {
    fn read_u64(&self, da: u64) -> Option<u64> {
        let (r, off) = self.find(da, 8)?;
        r.load_u64(off)
    }

    fn write_u64(&mut self, da: u64, value: u64) -> bool {
        self.find(da, 8)
            .is_some_and(|(r, off)| r.store_u64(off, value))
    }
}

/// What the device may touch, as the registrar has set it up: each VI's PD and rings, each
/// PD's table window and pinned ranges. A backend that can check DMA (the simulator's
/// firewall, or an IOMMU) enforces it, the others ignore it. It is the simulator's firewall
/// description itself, so the policy and its check are one piece of code.
pub use sim::host_port::Firewall as DmaPolicy;

/// Counters a backend keeps of the traffic it served.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendStats {
    /// Device clock cycles run (simulators; 0 where unknown).
    pub cycles: u64,
    /// DMA reads of translation-table entries.
    pub table_reads: u64,
    /// DMA requests the policy refused.
    pub dma_violations: u64,
    /// Wall-clock time spent running the device (a simulator's cost; about zero for
    /// hardware, whose time is its cycles).
    pub device_time: std::time::Duration,
}

/// A device and its DMA space.
pub trait Backend {
    /// The backend's name as `-d` spells it (`sim`, `serial:/dev/ttyUSB1`, …).
    fn name(&self) -> String;
    /// The DMA space the device reaches.
    fn dma(&self) -> &DmaSpace;
    /// The DMA space, to add and remove regions and to write tables.
    fn dma_mut(&mut self) -> &mut DmaSpace;
    /// Writes a device register.
    fn write_reg(&mut self, offset: u32, value: u32) -> Result<()>;
    /// Reads a device register.
    fn read_reg(&mut self, offset: u32) -> Result<u32>;
    /// Lets the device work for up to `budget` cycles (a simulator runs them; real hardware
    /// runs on its own and only the host's side is served); whether the device moved any
    /// data meanwhile.
    fn run(&mut self, budget: u64) -> Result<bool>;
    /// Whether the device has DMA requests outstanding.
    fn busy(&self) -> bool;
    /// Whether the device runs whether or not it is run (real hardware): then its link must
    /// be served all the time, since a request it resends after a damaged frame can come at
    /// any moment. A simulated device only advances inside [`Backend::run`].
    fn runs_on_its_own(&self) -> bool {
        false
    }
    /// Traffic counters.
    fn stats(&self) -> BackendStats;
    /// Tells the backend what the device may touch.
    fn set_policy(&mut self, policy: &DmaPolicy);
}

/// A device as `-d/--device` names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// `sim`: the Verilator model of the Device, in this process.
    Sim,
    /// `serial:<path>`: the Device on the Alchitry Cu, or the virtual board, over its UART.
    Serial(String),
}

impl DeviceSpec {
    /// Parses `sim` or `serial:<path>`.
    pub fn parse(s: &str) -> std::result::Result<DeviceSpec, String> {
        match s.split_once(':') {
            None if s == "sim" => Ok(DeviceSpec::Sim),
            Some(("serial", path)) if !path.is_empty() => Ok(DeviceSpec::Serial(path.into())),
            Some(("serial", _)) => Err(format!(
                "{s:?}: name the UART, as in `serial:/dev/ttyUSB1` or the pty `skipwalk board-sim` prints"
            )),
            Some(("vfio", _)) => Err(format!(
                "{s:?}: the PCIe/VFIO backend is not built yet; expected `sim` or `serial:<path>`"
            )),
            _ => Err(format!("{s:?}: expected `sim` or `serial:<path>`")),
        }
    }

    /// Opens the device; `latency` is the host memory latency of the simulator in cycles.
    pub fn open(&self, latency: u64) -> Result<Box<dyn Backend>> {
        Ok(match self {
            DeviceSpec::Sim => Box::new(crate::sim_backend::SimBackend::new(latency)),
            DeviceSpec::Serial(path) => Box::new(crate::serial_backend::SerialBackend::open(path)?),
        })
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Sim => write!(f, "sim"),
            DeviceSpec::Serial(path) => write!(f, "serial:{path}"),
        }
    }
}
