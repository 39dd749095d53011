//! Which failures after a connection was taken from the pool are replayed.
//!
//! An origin may close a kept-alive connection while it sits in the edge's
//! pool (after answering a request whose body it did not read, say). The
//! next request on it fails as its header is written (EPIPE/ECONNRESET) or
//! as the response header is read (EOF); Pingora marks both
//! `RetryType::ReusedOnly` (the write side by patch 0006). That is the
//! pool's fault, not the region's: such a request is replayed once, on a
//! fresh connection to the same region.
//!
//! A failure on a fresh connection before any answer is the region's: the
//! origin died, or whatever stands in front of it (a relay, a balancer)
//! accepted the connection and could not reach it. An idempotent request
//! then goes to the next region, as after a refused connect.

use pingora::RetryType;

/// What is known about a failure while proxying.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    /// The upstream connection came from the pool.
    pub reused: bool,
    pub write_error: bool,
    pub retry: RetryType,
    pub idempotent: bool,
    /// Bytes of the request body already read from the client.
    pub body_bytes: u64,
    /// The request body can no longer be replayed from the retry buffer.
    pub truncated: bool,
    /// This request was already replayed once for a stale connection.
    pub replayed: bool,
    /// Part of the answer already went to the client.
    pub answered: bool,
    /// A read or write timed out: the origin may be working on it still,
    /// and a retry would double the load on a slow region.
    pub timed_out: bool,
}

/// Pingora's default policy (idempotent requests with a whole body, errors
/// Pingora marks retryable), plus: a request whose header could not be
/// written to a stale pooled connection sent nothing, so it is replayed
/// whatever its method. `Stale` means "replay on the same region";
/// `NextRegion`, "the region failed: an idempotent request may go on".
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Stale,
    NextRegion,
    Default(bool),
}

pub fn decide(f: Failure) -> Decision {
    let stale = f.reused && matches!(f.retry, RetryType::ReusedOnly) && !f.replayed;
    let nothing_sent = f.write_error && f.body_bytes == 0;
    if stale && !f.truncated && (f.idempotent || nothing_sent) {
        return Decision::Stale;
    }
    if !f.idempotent || f.truncated {
        return Decision::Default(false);
    }
    if !f.answered && !f.timed_out && (!f.reused || f.replayed) {
        return Decision::NextRegion;
    }
    let mut retry = f.retry;
    retry.decide_reuse(f.reused);
    Decision::Default(retry.retry())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Failure {
        Failure {
            reused: true,
            write_error: true,
            retry: RetryType::ReusedOnly,
            idempotent: false,
            body_bytes: 0,
            truncated: false,
            replayed: false,
            answered: false,
            timed_out: false,
        }
    }

    #[test]
    fn stale_pooled_connections_are_replayed_once_when_that_is_safe() {
        use Decision::*;
        let cases: &[(&str, Failure, Decision)] = &[
            ("POST, header write failed", base(), Stale),
            (
                "GET, closed at response read",
                Failure {
                    write_error: false,
                    idempotent: true,
                    ..base()
                },
                Stale,
            ),
            // The origin may have acted on a POST it read.
            (
                "POST, closed at response read",
                Failure {
                    write_error: false,
                    ..base()
                },
                Default(false),
            ),
            (
                "POST, body partly sent",
                Failure {
                    body_bytes: 10,
                    ..base()
                },
                Default(false),
            ),
            (
                "GET, fresh connection closed before an answer",
                Failure {
                    reused: false,
                    idempotent: true,
                    ..base()
                },
                NextRegion,
            ),
            (
                "POST, fresh connection closed before an answer",
                Failure {
                    reused: false,
                    ..base()
                },
                Default(false),
            ),
            (
                "GET, fresh connection, part of the answer sent",
                Failure {
                    reused: false,
                    idempotent: true,
                    answered: true,
                    ..base()
                },
                Default(false),
            ),
            (
                "GET, fresh connection timed out",
                Failure {
                    reused: false,
                    idempotent: true,
                    timed_out: true,
                    ..base()
                },
                Default(false),
            ),
            (
                "second time",
                Failure {
                    replayed: true,
                    idempotent: true,
                    ..base()
                },
                NextRegion,
            ),
            (
                "body gone",
                Failure {
                    truncated: true,
                    idempotent: true,
                    ..base()
                },
                Default(false),
            ),
            (
                "other error",
                Failure {
                    retry: RetryType::Decided(false),
                    idempotent: true,
                    ..base()
                },
                Default(false),
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(&decide(*f), want, "{name}");
        }
    }
}
