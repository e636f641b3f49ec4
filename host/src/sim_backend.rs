//! The `sim` backend: the Device's generated Verilog in Verilator, in this process, serving
//! its DMA from the registrar's memfd regions. The host port's DMA firewall enforces the
//! registrar's [`DmaPolicy`]: a request outside it is answered with an error and counted.

use std::time::{Duration, Instant};

use rtl::device::CLIENT_TABLE;
use sim::host_port::{DeviceSim, HostConfig};
use sim::VDevice;

use crate::backend::{Backend, BackendStats, DmaPolicy, DmaSpace};
use crate::error::{Error, Result};

/// The Verilator model of the Device with its DMA space.
pub struct SimBackend {
    sim: DeviceSim<DmaSpace>,
    device_time: Duration,
}

impl SimBackend {
    /// A device out of reset with an empty DMA space, its host memory answering after
    /// `latency` cycles.
    pub fn new(latency: u64) -> SimBackend {
        let host = HostConfig {
            latency,
            max_outstanding: 32,
            stall: 0.0,
            seed: 1,
        };
        let sim = DeviceSim::new(VDevice::new(), DmaSpace::new(), host);
        SimBackend {
            sim,
            device_time: Duration::ZERO,
        }
    }

    /// The simulation, for benchmarks and tests that look inside.
    pub fn device(&mut self) -> &mut DeviceSim<DmaSpace> {
        &mut self.sim
    }
}

impl Backend for SimBackend {
    fn name(&self) -> String {
        "sim".into()
    }

    fn dma(&self) -> &DmaSpace {
        &self.sim.mem
    }

    fn dma_mut(&mut self) -> &mut DmaSpace {
        &mut self.sim.mem
    }

    fn write_reg(&mut self, offset: u32, value: u32) -> Result<()> {
        let started = Instant::now();
        self.sim.write_reg(offset, value);
        self.device_time += started.elapsed();
        Ok(())
    }

    fn read_reg(&mut self, offset: u32) -> Result<u32> {
        let started = Instant::now();
        let value = self.sim.read_reg(offset);
        self.device_time += started.elapsed();
        Ok(value)
    }

    fn run(&mut self, budget: u64) -> Result<bool> {
        let before = (self.sim.stats.read_words, self.sim.stats.write_words);
        let started = Instant::now();
        self.sim.run(budget);
        self.device_time += started.elapsed();
        // Frames leave on the network port only when loopback is off; nobody listens there
        // yet, so they are counted by the device (TX_FRAMES) and dropped here.
        self.sim.tx_frames.clear();
        self.sim.events.clear();
        let after = (self.sim.stats.read_words, self.sim.stats.write_words);
        if self.sim.violations.len() > 10_000 {
            return Err(Error::Device {
                backend: self.name(),
                reason: format!(
                    "{} DMA requests outside the policy, first: {}",
                    self.sim.violations.len(),
                    self.sim.violations[0]
                ),
            });
        }
        Ok(before != after)
    }

    fn busy(&self) -> bool {
        self.sim.dma_in_flight() > 0
    }

    fn stats(&self) -> BackendStats {
        BackendStats {
            cycles: self.sim.cycle(),
            table_reads: self.sim.stats.reads_by_client[CLIENT_TABLE as usize],
            dma_violations: self.sim.violations.len() as u64,
            device_time: self.device_time,
        }
    }

    fn set_policy(&mut self, policy: &DmaPolicy) {
        self.sim.firewall = policy.clone();
    }
}
