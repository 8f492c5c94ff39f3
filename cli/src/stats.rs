//! Statistics of a streaming run: rates, drops and a latency histogram, printed live and as a
//! final summary (human-readable, or key=value lines for scripts).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Latency recorder with fixed microsecond buckets (no allocation per sample).
#[derive(Debug, Clone)]
pub struct Latency {
    /// Bucket `i` counts samples of `i` microseconds; the last bucket holds everything longer.
    buckets: Vec<u64>,
    count: u64,
    max_ns: u64,
}

const LATENCY_BUCKETS: usize = 100_000;

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: vec![0; LATENCY_BUCKETS],
            count: 0,
            max_ns: 0,
        }
    }
}

impl Latency {
    /// Records one sample.
    pub fn record(&mut self, ns: u64) {
        let us = (ns / 1000) as usize;
        self.buckets[us.min(LATENCY_BUCKETS - 1)] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0..=1) in microseconds, `None` without samples.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (us, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(us as u64);
            }
        }
        Some(LATENCY_BUCKETS as u64)
    }

    /// The largest sample in microseconds.
    pub fn max_us(&self) -> u64 {
        self.max_ns / 1000
    }
}

/// Prints a status line at most once a period (twice a second by default): in place on a
/// terminal, one line each otherwise.
pub struct Ticker {
    last: Instant,
    tty: bool,
    enabled: bool,
    period: Duration,
}

impl Ticker {
    /// A ticker; `enabled = false` prints nothing.
    pub fn new(enabled: bool) -> Ticker {
        Ticker::every(enabled, Duration::from_millis(500))
    }

    /// A ticker whose [`Ticker::due`] fires every `period`.
    pub fn every(enabled: bool, period: Duration) -> Ticker {
        Ticker {
            last: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            enabled,
            period,
        }
    }

    /// Runs `f` if the ticker is enabled and its period passed since the last time.
    pub fn due(&mut self, f: impl FnOnce()) {
        if self.enabled && self.last.elapsed() >= self.period {
            self.last = Instant::now();
            f();
        }
    }

    /// Prints `line()` if the period (half a second unless made with [`Ticker::every`]) passed
    /// since the last one.
    pub fn tick(&mut self, line: impl FnOnce() -> String) {
        let tty = self.tty;
        self.due(|| {
            let mut err = std::io::stderr().lock();
            if tty {
                let _ = write!(err, "\r\x1b[2K{}", line());
            } else {
                let _ = writeln!(err, "{}", line());
            }
            let _ = err.flush();
        });
    }

    /// Ends the in-place line.
    pub fn finish(&mut self) {
        if self.enabled && self.tty {
            eprintln!();
        }
    }
}

/// Prints `pairs` either as `key=value` lines or as an aligned two-column table.
pub fn print_summary(title: &str, pairs: &[(&str, String)], machine: bool) {
    if machine {
        for (k, v) in pairs {
            println!("{k}={v}");
        }
        return;
    }
    println!("{title}");
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in pairs {
        println!("  {k:<width$}  {v}");
    }
}

/// Formats an optional value (a latency in microseconds, a frame number, a slot), `-` if there
/// is none.
pub fn or_dash(v: Option<impl std::fmt::Display>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut l = Latency::default();
        assert_eq!(l.quantile_us(0.5), None);
        for us in 1..=100u64 {
            l.record(us * 1000 + 500);
        }
        assert_eq!(l.quantile_us(0.5), Some(50));
        assert_eq!(l.quantile_us(0.99), Some(99));
        assert_eq!(l.quantile_us(1.0), Some(100));
        assert_eq!(l.max_us(), 100);
        l.record(10_000_000_000);
        assert_eq!(l.quantile_us(1.0), Some(LATENCY_BUCKETS as u64 - 1));
    }
}
