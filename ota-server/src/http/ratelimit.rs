//! Per-device token bucket for check-ins (in memory, per replica).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::Millis;

/// Entries kept before idle buckets are swept.
const SWEEP_AT: usize = 200_000;

#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    per_ms: f64,
    buckets: Mutex<HashMap<String, (f64, Millis)>>,
}

impl RateLimiter {
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_ms: per_second.max(0.0) / 1000.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token; `Err(retry_after_seconds)` when the bucket is empty.
    pub fn check(&self, key: &str, now: Millis) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= SWEEP_AT {
            let full_after = if self.per_ms > 0.0 {
                (self.burst / self.per_ms) as i64
            } else {
                i64::MAX
            };
            buckets.retain(|_, (_, at)| now.saturating_sub(*at) < full_after);
        }
        if !buckets.contains_key(key) {
            buckets.insert(key.to_owned(), (self.burst, now));
        }
        let Some((tokens, at)) = buckets.get_mut(key) else {
            return Ok(());
        };
        let elapsed = now.saturating_sub(*at).max(0) as f64;
        *tokens = (*tokens + elapsed * self.per_ms).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else if self.per_ms > 0.0 {
            Err(((1.0 - *tokens) / self.per_ms / 1000.0).ceil() as u64)
        } else {
            Err(60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let r = RateLimiter::new(2, 1.0);
        assert!(r.check("a", 0).is_ok());
        assert!(r.check("a", 0).is_ok());
        assert_eq!(r.check("a", 0), Err(1));
        assert!(r.check("b", 0).is_ok());
        assert!(r.check("a", 1000).is_ok());
    }
}
