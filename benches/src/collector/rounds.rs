//! Collection rounds run in this process, timed in CPU and wall-clock time.

use std::time::{Duration, Instant};

use rustix::time::{clock_gettime, ClockId};
use sightline_collector::pipeline::Pipeline;

/// Totals over a run of collection rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RoundCost {
    pub rounds: usize,
    /// CPU time (user + system) of this process over all rounds.
    pub cpu: Duration,
    pub wall: Duration,
    /// Metrics in the last round.
    pub metrics: usize,
}

impl RoundCost {
    pub fn cpu_per_round(&self) -> Duration {
        per(self.cpu, self.rounds)
    }

    pub fn wall_per_round(&self) -> Duration {
        per(self.wall, self.rounds)
    }

    /// CPU per round over `interval`, in percent of one core.
    pub fn core_share(&self, interval: Duration) -> f64 {
        share(self.cpu_per_round(), interval)
    }
}

/// `cpu / interval` in percent of one core; 0 for a zero interval.
pub fn share(cpu: Duration, interval: Duration) -> f64 {
    if interval.is_zero() {
        return 0.0;
    }
    100.0 * cpu.as_secs_f64() / interval.as_secs_f64()
}

pub fn per(total: Duration, count: usize) -> Duration {
    total / u32::try_from(count.max(1)).unwrap_or(u32::MAX)
}

/// CPU time this process has used, at nanosecond resolution.
fn process_cpu() -> Duration {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Runs one unmeasured warm-up round (which detects the cgroup layout and
/// fills caches, as the agent's first round does), then `rounds` measured
/// rounds back to back.
pub fn measure(pipeline: &mut Pipeline, rounds: usize) -> RoundCost {
    let _ = pipeline.collect();
    let cpu_before = process_cpu();
    let started = Instant::now();
    let mut metrics = 0;
    for _ in 0..rounds {
        let round = pipeline.collect();
        metrics = round.metrics.len();
        // The round is dropped here, as the agent drops it once batched.
        std::hint::black_box(round);
    }
    RoundCost {
        rounds,
        cpu: process_cpu().saturating_sub(cpu_before),
        wall: started.elapsed(),
        metrics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_averages() {
        let cost = RoundCost {
            rounds: 4,
            cpu: Duration::from_millis(40),
            wall: Duration::from_millis(80),
            metrics: 10,
        };
        assert_eq!(cost.cpu_per_round(), Duration::from_millis(10));
        assert_eq!(cost.wall_per_round(), Duration::from_millis(20));
        assert!((cost.core_share(Duration::from_secs(10)) - 0.1).abs() < 1e-9);
        assert_eq!(share(Duration::from_secs(1), Duration::ZERO), 0.0);
        assert_eq!(per(Duration::from_secs(1), 0), Duration::from_secs(1));
    }

    #[test]
    fn process_cpu_advances() {
        let before = process_cpu();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(process_cpu() > before, "{x}");
    }
}
