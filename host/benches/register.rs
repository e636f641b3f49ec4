//! Registration cost: register + deregister of 1 MiB (256 pages) in one application's pool,
//! through the registrar in this process, on the Verilator model of the Device. Deregister
//! includes the device's cache invalidation for the PD and the wait for it. The simulated
//! device runs about a thousand times slower than the FPGA, so three figures are reported:
//! the wall clock with the simulator, the host's own time (wall clock minus the time inside
//! the simulated device), and the host's time plus the device's cycles at 100 MHz — what a
//! real device would give. Prints JSON on stdout, progress on stderr.
//!
//! `cargo bench -p skipwalk --bench register`

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use abi::Access;
use skipwalk::registrar::Registrar;
use skipwalk::sim_backend::SimBackend;

const ROUNDS: usize = 2000;
const LEN: u64 = 1 << 20;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let reg = Registrar::new(Box::new(SimBackend::new(60)), true).expect("device up");
    let reg = Rc::new(RefCell::new(reg));
    let mut r = reg.borrow_mut();
    r.open_session(1).expect("session");
    let (pool, region) = r.alloc_pool(1, 4 * LEN).expect("pool");
    let pool_va = region.as_ptr() as u64;
    eprintln!("register + deregister of {LEN} bytes, {ROUNDS} rounds");
    let (mut both, mut reg_only, mut dereg_only) = (vec![], vec![], vec![]);
    let (mut host, mut at_100mhz) = (vec![], vec![]);
    for i in 0..ROUNDS {
        // Different offsets: different leaf-table entries each round.
        let va = pool_va + (i as u64 % 3) * LEN + 4096 * (i as u64 % 7);
        let before = r.backend().stats();
        let t0 = Instant::now();
        let g = r
            .register(1, pool.id, pool_va, va, LEN, Access::ReadWrite)
            .expect("register");
        let t1 = Instant::now();
        r.deregister(1, g.id).expect("deregister");
        let t2 = Instant::now();
        let after = r.backend().stats();
        let host_us = ((t2 - t0) - (after.device_time - before.device_time)).as_secs_f64() * 1e6;
        host.push(host_us);
        at_100mhz.push(host_us + (after.cycles - before.cycles) as f64 / 100.0);
        reg_only.push((t1 - t0).as_secs_f64() * 1e6);
        dereg_only.push((t2 - t1).as_secs_f64() * 1e6);
        both.push((t2 - t0).as_secs_f64() * 1e6);
    }
    for v in [
        &mut both,
        &mut reg_only,
        &mut dereg_only,
        &mut host,
        &mut at_100mhz,
    ] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "{{\"register_deregister_1MiB_us\": {{\"host_plus_device_at_100MHz_p50\": {:.2}, \"host_only_p50\": {:.2}, \"with_simulator_p50\": {:.2}, \"with_simulator_p90\": {:.2}, \"with_simulator_p99\": {:.2}}}, \"register_1MiB_us_p50\": {:.2}, \"deregister_1MiB_us_p50\": {:.2}, \"rounds\": {ROUNDS}, \"target_p50_us\": 20, \"backend\": \"sim\"}}",
        percentile(&at_100mhz, 0.5),
        percentile(&host, 0.5),
        percentile(&both, 0.5),
        percentile(&both, 0.9),
        percentile(&both, 0.99),
        percentile(&reg_only, 0.5),
        percentile(&dereg_only, 0.5),
    );
}
