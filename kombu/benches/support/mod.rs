//! What the broker benchmarks share: rates, medians, sizes from the environment, and the
//! alternating rounds that compare kombu with the bare client underneath it.

use std::future::Future;
use std::time::Duration;

/// Messages per second.
pub(crate) fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// The median of some rates.
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A number from the environment, or `default`.
pub(crate) fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Whether `KOMBU_BENCH_ONLY` leaves out the workload `name`.
pub(crate) fn skipped(name: &str) -> bool {
    std::env::var("KOMBU_BENCH_ONLY").is_ok_and(|only| !name.contains(only.as_str()))
}

/// Runs `rounds` rounds of one workload on both sides (`run(false)` the bare client,
/// `run(true)` kombu), alternating which side goes first so drift favours neither, and returns
/// the median rates (bare, kombu) for `n` messages a round.
pub(crate) async fn compare<F, Fut>(rounds: u64, n: u64, mut run: F) -> (f64, f64)
where
    F: FnMut(bool) -> Fut,
    Fut: Future<Output = Duration>,
{
    let (mut bare, mut kombu) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for side in order {
            let elapsed = run(side).await;
            if side { &mut kombu } else { &mut bare }.push(rate(n, elapsed));
        }
    }
    (median(bare), median(kombu))
}
