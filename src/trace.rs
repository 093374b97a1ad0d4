//! `CRM_TRACE=1` prints how long each phase took, and the resident memory at its end, to
//! stderr: profiling without a profiler.

use std::sync::OnceLock;
use std::time::Instant;

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("CRM_TRACE").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Resident memory of the process (Linux; 0 elsewhere).
fn resident_mb() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<f64>().ok())
        });
    pages.map_or(0.0, |p| p * 4096.0 / 1e6)
}

/// Reports its lifetime on drop when tracing is on.
pub struct Phase {
    name: &'static str,
    start: Option<Instant>,
}

pub fn phase(name: &'static str) -> Phase {
    Phase {
        name,
        start: enabled().then(Instant::now),
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        if let Some(start) = self.start {
            let ms = start.elapsed().as_secs_f64() * 1e3;
            eprintln!(
                "crm: {:<24} {ms:>9.1} ms   rss {:>7.1} MB",
                self.name,
                resident_mb()
            );
        }
    }
}
