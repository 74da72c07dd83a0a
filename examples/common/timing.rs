//! Timing shared by the benchmark examples (included with `#[path]`; a file here is not an example
//! of its own): thread CPU seconds on Linux, wall seconds, and the median of repeated calls.

use std::sync::OnceLock;
use std::time::Instant;

/// Wall-clock seconds since the first call (for work that runs off this thread, such as a GPU's).
pub fn wall_seconds() -> f64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// Seconds of CPU time this thread has used (`CLOCK_THREAD_CPUTIME_ID`), so time the shared
/// machine's scheduler gives other processes is not counted; wall time off Linux.
#[allow(dead_code)] // quant_bench times with the wall clock only
pub fn thread_seconds() -> f64 {
    #[cfg(target_os = "linux")]
    {
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        unsafe extern "C" {
            fn clock_gettime(clock: i32, ts: *mut Timespec) -> i32;
        }
        const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
        let mut ts = Timespec { sec: 0, nsec: 0 };
        // SAFETY: glibc's clock_gettime writes one timespec (two i64 on x86-64 and aarch64 Linux).
        if unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return ts.sec as f64 + ts.nsec as f64 * 1e-9;
        }
    }
    wall_seconds()
}

/// The median of `reps` timings (seconds by `clock`) of `f`, after one warm-up call.
pub fn median<E>(reps: usize, clock: fn() -> f64, mut f: impl FnMut() -> Result<(), E>) -> Result<f64, E> {
    f()?;
    let mut t = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let s = clock();
        f()?;
        t.push(clock() - s);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(t[t.len() / 2])
}
