//! A token bucket: what the chat's per-connection message rate and the
//! admin sign-in throttle are both made of. Time is passed in, so the tests
//! need no clock.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Bucket {
    capacity: f64,
    /// Tokens regained per second.
    refill: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket of `capacity` tokens that regains `refill` a second.
    pub fn new(capacity: u32, refill: f64, now: Instant) -> Self {
        Bucket {
            capacity: f64::from(capacity),
            refill,
            tokens: f64::from(capacity),
            last: now,
        }
    }

    /// Takes one token, or says how long until there is one.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.refill).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.refill))
        }
    }

    /// Gives back a token taken for something that turned out not to count.
    pub fn give_back(&mut self) {
        self.tokens = (self.tokens + 1.0).min(self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_up_to_the_capacity_passes_then_the_wait_is_told() {
        let start = Instant::now();
        let mut bucket = Bucket::new(3, 0.5, start);
        for _ in 0..3 {
            assert!(bucket.take(start).is_ok());
        }
        assert_eq!(bucket.take(start), Err(Duration::from_secs(2)));
    }

    #[test]
    fn the_bucket_refills_with_time_and_takes_back_what_is_given() {
        let start = Instant::now();
        let mut bucket = Bucket::new(2, 2.0, start);
        bucket.take(start).unwrap();
        bucket.take(start).unwrap();
        assert!(bucket.take(start + Duration::from_millis(100)).is_err());
        assert!(bucket.take(start + Duration::from_millis(600)).is_ok());
        bucket.give_back();
        assert!(bucket.take(start + Duration::from_millis(600)).is_ok());
        assert!(bucket.take(start + Duration::from_millis(600)).is_err());
    }
}
