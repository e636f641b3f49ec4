//! The `sim` backend: the Device's generated Verilog in Verilator, in this process, serving
//! its DMA from the registrar's memfd regions. The host port's DMA firewall enforces the
//! registrar's [`DmaPolicy`]: a request outside it is answered with an error and counted.

use std::time::{Duration, Instant};

use rtl::device::CLIENT_TABLE;
use sim::host_port::{DeviceSim, Firewall, HostConfig};
use sim::VDevice;

use crate::backend::{Backend, BackendStats, DmaPolicy, DmaSpace};
use crate::error::{Error, Result};

/// The Verilator model of the Device with its DMA space.
pub struct SimBackend {
    sim: DeviceSim<DmaSpace>,
    seen_violations: usize,
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
        let mut sim = DeviceSim::new(VDevice::new(), DmaSpace::new(), host);
        sim.firewall = firewall(&DmaPolicy::default());
        SimBackend {
            sim,
            seen_violations: 0,
            device_time: Duration::ZERO,
        }
    }

    /// The simulation, for benchmarks and tests that look inside.
    pub fn device(&mut self) -> &mut DeviceSim<DmaSpace> {
        &mut self.sim
    }

    fn check_violations(&mut self) {
        // Violations are counted, never fatal: the device got an error back and reports it in
        // a completion; the registrar's tests fail on any.
        self.seen_violations = self.sim.violations.len();
    }
}

fn firewall(policy: &DmaPolicy) -> Firewall {
    let mut registered = policy.registered.clone();
    registered.resize(abi::NUM_PDS, vec![]);
    let mut table_windows = policy.table_windows.clone();
    table_windows.resize(abi::NUM_PDS, 0..0);
    Firewall {
        pd_of_vi: policy.pd_of_vi,
        rings: policy.rings.clone(),
        registered,
        table_windows,
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
        self.check_violations();
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
            dma_violations: self.seen_violations as u64,
            device_time: self.device_time,
        }
    }

    fn set_policy(&mut self, policy: &DmaPolicy) {
        self.sim.firewall = firewall(policy);
    }
}
