//! CPU time of the calling thread: what a pack's evaluation cost, without
//! the time its thread spent preempted. On a loaded machine a 40 µs
//! evaluation can take milliseconds of wall time (the scheduler ran
//! something else in between), which is not the pack's doing; judging
//! packs by wall time sent every tenant of a busy server to the evaluation
//! pool (see [`crate::decisions::pace`]).

use std::time::Duration;

/// A reading of the calling thread's CPU clock.
#[derive(Debug, Clone, Copy)]
pub struct ThreadCpu(Duration);

impl ThreadCpu {
    /// The CPU time the calling thread has used so far; on platforms without
    /// a per-thread CPU clock, the time since an arbitrary fixed point
    /// (wall time: the old, conservative measure).
    pub fn now() -> ThreadCpu {
        ThreadCpu(read())
    }

    /// CPU time the calling thread used since `self` was read on it.
    pub fn elapsed(self) -> Duration {
        read().saturating_sub(self.0)
    }
}

/// The CPU time of a piece of work on the calling thread, reading the CPU
/// clock (a system call) at the end only when the answer can matter.
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch {
    wall: std::time::Instant,
    cpu: ThreadCpu,
}

impl Stopwatch {
    /// Starts measuring on the calling thread.
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: std::time::Instant::now(),
            cpu: ThreadCpu::now(),
        }
    }

    /// The CPU time used since [`Stopwatch::start`] on the same thread; when
    /// less than `min` of wall time has passed, that wall time instead (the
    /// CPU time cannot exceed it, so both are under `min`).
    pub fn cpu_unless_under(self, min: Duration) -> Duration {
        let wall = self.wall.elapsed();
        if wall < min { wall } else { self.cpu.elapsed() }
    }
}

#[cfg(unix)]
fn read() -> Duration {
    // The clock exists on Linux and the BSDs; where it does not, wall time
    // (never zero: a looping pack must still read as slow).
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .map_or_else(|_| wall(), Duration::from)
}

/// Time since an arbitrary fixed point of this process.
fn wall() -> Duration {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(not(unix))]
fn read() -> Duration {
    wall()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopwatch_reads_cpu_time_once_the_wall_time_is_over_the_bound() {
        let w = Stopwatch::start();
        assert!(w.cpu_unless_under(Duration::from_secs(1)) < Duration::from_secs(1));
        let w = Stopwatch::start();
        std::thread::sleep(Duration::from_millis(30));
        assert!(w.cpu_unless_under(Duration::from_millis(20)) < Duration::from_millis(15));
    }

    #[test]
    fn sleeping_costs_no_cpu_and_spinning_does() {
        let t = ThreadCpu::now();
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.elapsed() < Duration::from_millis(15), "{:?}", t.elapsed());
        let t = ThreadCpu::now();
        let wall = std::time::Instant::now();
        let mut x = 0u64;
        while wall.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        // At least some of 30 ms of spinning was on the CPU, even on a busy machine.
        assert!(t.elapsed() > Duration::from_millis(1), "{:?}", t.elapsed());
    }
}
