//! Request rate limiting by token bucket. Pure: the caller passes the time in.

/// A bucket of `capacity` requests refilled at `per_second`; each request takes one.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    capacity: f64,
    per_second: f64,
    available: f64,
    /// Seconds, on the caller's clock, of the last refill.
    at: f64,
}

impl Bucket {
    /// A full bucket at time `now`.
    pub fn new(per_second: f64, capacity: f64, now: f64) -> Self {
        Self {
            capacity,
            per_second,
            available: capacity,
            at: now,
        }
    }

    /// Whether a request at `now` would be let through, without taking it.
    pub fn has_one(&self, now: f64) -> bool {
        let elapsed = (now - self.at).max(0.0);
        (self.available + elapsed * self.per_second).min(self.capacity) >= 1.0
    }

    /// Takes one request at `now`; `Err(seconds)` says how long until one is available.
    pub fn take(&mut self, now: f64) -> Result<(), f64> {
        let elapsed = (now - self.at).max(0.0);
        self.available = (self.available + elapsed * self.per_second).min(self.capacity);
        self.at = now.max(self.at);
        if self.available >= 1.0 {
            self.available -= 1.0;
            Ok(())
        } else {
            Err((1.0 - self.available) / self.per_second)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peeking_takes_nothing() {
        let mut b = Bucket::new(1.0, 1.0, 0.0);
        assert!(b.has_one(0.0));
        assert!(b.has_one(0.0));
        b.take(0.0).unwrap();
        assert!(!b.has_one(0.5));
        assert!(b.has_one(1.0));
    }

    #[test]
    fn a_burst_then_the_steady_rate() {
        let mut b = Bucket::new(10.0, 20.0, 0.0);
        for _ in 0..20 {
            assert!(b.take(0.0).is_ok());
        }
        let wait = b.take(0.0).unwrap_err();
        assert!((wait - 0.1).abs() < 1e-9, "{wait}");
        assert!(b.take(0.1).is_ok(), "one more after a tenth of a second");
        assert!(b.take(0.1).is_err());
        // A long pause refills to capacity, not beyond.
        for _ in 0..20 {
            assert!(b.take(100.0).is_ok());
        }
        assert!(b.take(100.0).is_err());
        // A clock that steps back does not mint requests.
        assert!(b.take(50.0).is_err());
    }
}
