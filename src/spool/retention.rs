//! The retention task (issue 12, section 3): every minute, the messages whose last delivery
//! or refusal is older than `[spool] retention` are purged, in rounds of at most
//! [`ROUND`] records, each its own small transaction through the writer, which serves
//! acceptance first: purging never holds up a 250. A cursor carries over between rounds,
//! so old messages that must stay (a delivery still pending, a document waiting for the pull
//! API) are not scanned again and again before the rest.

use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::Spool;

/// Records one round looks at. A round shares its transaction with the messages being
/// accepted at that moment, so it is kept small: at 500, a purge of a busy minute's mail put
/// the p99 of end of data at up to 254 ms (bench/retention.sh); at 100 with [`PAUSE`], at up
/// to 42 ms (BENCHMARKS.md, "Retention").
pub const ROUND: usize = 100;

/// The pause between two rounds, so that acceptance's commits run between them.
pub const PAUSE: Duration = Duration::from_millis(20);

/// How often the task wakes.
pub const EVERY: Duration = Duration::from_secs(60);

/// Runs until `stop`: purges what is older than `retention`.
pub async fn run(spool: Spool, retention: Duration, stop: CancellationToken) {
    let mut cursor: Option<String> = None;
    // The first round a minute after start, not during it.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + EVERY, EVERY);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        // Rounds until the scan reaches the newest old-enough message, then wait.
        loop {
            if stop.is_cancelled() {
                return;
            }
            let Some(cutoff) = SystemTime::now().checked_sub(retention) else {
                break;
            };
            match spool.purge(cutoff, cursor.clone(), ROUND).await {
                Ok(purged) => {
                    if purged.messages > 0 {
                        tracing::info!(
                            messages = purged.messages,
                            retention = %humantime::format_duration(retention),
                            "retention: purged messages past their retention"
                        );
                    }
                    cursor = purged.next;
                    if cursor.is_none() {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "retention round failed; trying again later");
                    break;
                }
            }
            // Let the writer serve acceptance between rounds.
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                () = tokio::time::sleep(PAUSE) => {}
            }
        }
    }
}
