//! When to try a request again, and how long to wait first.
//!
//! Pure arithmetic, so it is tested without clocks: exponential backoff with jitter
//! (half the delay fixed, half random, so clients that failed together spread out),
//! and the server's own `Retry-After` when it sends one. Which failures are worth
//! retrying is decided in `http`.

use reqwest::header::HeaderMap;
use std::time::Duration;

/// How persistently to retry a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 never retries).
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles after each further one.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` worth waiting for while someone watches the chat; when
    /// the server asks for longer, the request fails at once with `RateLimited`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }
}

/// How long to wait after attempt number `failed_attempt` (1-based) failed, or `None`
/// to give up. `random` is any random number; it only picks the jitter.
pub(crate) fn wait_before_retry(
    policy: &RetryPolicy,
    failed_attempt: u32,
    retry_after: Option<Duration>,
    random: u64,
) -> Option<Duration> {
    if failed_attempt >= policy.max_attempts {
        return None;
    }
    match retry_after {
        Some(wait) if wait > policy.max_retry_after => None,
        Some(wait) => Some(wait),
        None => Some(backoff(policy, failed_attempt, random)),
    }
}

/// Exponential backoff with "equal jitter": between half and all of
/// `initial_backoff × 2^(failed_attempt − 1)`, capped at `max_backoff`.
pub(crate) fn backoff(policy: &RetryPolicy, failed_attempt: u32, random: u64) -> Duration {
    let doublings = failed_attempt.saturating_sub(1).min(30);
    let full = policy.initial_backoff.saturating_mul(1 << doublings).min(policy.max_backoff);
    let full_micros = u64::try_from(full.as_micros()).unwrap_or(u64::MAX);
    let half = full_micros / 2;
    Duration::from_micros(half + random % (full_micros - half + 1))
}

/// The wait a server asks for: OpenAI's `retry-after-ms`, else `Retry-After` in
/// seconds. (The HTTP-date form is not used by model providers and is ignored.)
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<f64>().ok())
            .filter(|number| number.is_finite() && *number >= 0.0)
    };
    number("retry-after-ms")
        .map(|millis| Duration::from_secs_f64(millis / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// A random number for jitter; without one the backoff is merely not jittered.
pub(crate) fn random() -> u64 {
    getrandom::u64().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
        }
    }

    #[test]
    fn backoff_doubles_and_stays_between_half_and_all_of_the_step() {
        let policy = policy();
        for (attempt, step) in [(1, 100), (2, 200), (3, 400), (4, 500), (30, 500)] {
            let step = Duration::from_millis(step);
            assert_eq!(backoff(&policy, attempt, 0), step / 2, "attempt {attempt}");
            assert_eq!(backoff(&policy, attempt, u64::try_from(step.as_micros() / 2).unwrap()), step);
            for random in [1, 7, 12_345, u64::MAX] {
                let wait = backoff(&policy, attempt, random);
                assert!(wait >= step / 2 && wait <= step, "attempt {attempt}: {wait:?}");
            }
        }
    }

    #[test]
    fn gives_up_after_the_last_attempt() {
        let policy = policy();
        assert!(wait_before_retry(&policy, 4, None, 0).is_some());
        assert_eq!(wait_before_retry(&policy, 5, None, 0), None);
        assert_eq!(wait_before_retry(&RetryPolicy::none(), 1, None, 0), None);
    }

    #[test]
    fn honours_retry_after_unless_it_is_too_long_to_wait() {
        let policy = policy();
        assert_eq!(wait_before_retry(&policy, 1, Some(Duration::from_secs(3)), 99), Some(Duration::from_secs(3)));
        assert_eq!(wait_before_retry(&policy, 1, Some(Duration::ZERO), 99), Some(Duration::ZERO));
        assert_eq!(wait_before_retry(&policy, 1, Some(Duration::from_secs(60)), 99), None);
    }

    #[test]
    fn reads_retry_after_in_seconds_or_milliseconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
        let mut dated = HeaderMap::new();
        dated.insert("retry-after", HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&dated), None);
    }
}
