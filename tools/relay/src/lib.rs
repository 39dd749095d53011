//! A TCP relay that delays what it forwards and can cut its link.
//!
//! Why home-made: the geo lab needs a one-way delay on each link between
//! namespaces, and this kernel has no `netem` qdisc (`tc qdisc add … netem`
//! answers "Specified qdisc kind is unknown"); `tbf` shapes rate, not
//! delay. A relay in user space gives the delay on any kernel, and the same
//! relay in front of a store is the chaos runs' "cut the store" switch.
//!
//! Each direction of a connection is a reader and a writer joined by a
//! bounded queue of (due time, bytes): bytes leave `delay` after they
//! arrived, in order, without limiting throughput (a long fat pipe, as a
//! real fibre is). A cut closes every connection of the link and refuses
//! new ones until it is restored.
//!
//! The wait is a `timerfd` (tokio-timerfd), not `tokio::time`: tokio's
//! timer wheel ticks in whole milliseconds and wakes at the first tick past
//! the deadline, which added 0.5 ms on average to every delayed chunk —
//! a third of the 1.7 ms one-way delay between Seattle and Portland, where
//! the lab's goal is the round trip within 10%.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_timerfd::Delay;

/// Chunks in flight per direction before the reader waits: at 64 KiB a
/// chunk, 16 MiB, more than any link here carries in one delay.
const QUEUE: usize = 256;
const CHUNK: usize = 64 * 1024;

/// The live settings of one link, shared with its control endpoint.
pub struct Control {
    delay_us: AtomicU64,
    cut: AtomicBool,
    /// Bumped by a cut: every connection of the link watches it.
    epoch: watch::Sender<u64>,
    connections: AtomicU64,
}

impl Control {
    pub fn new(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay_us: AtomicU64::new(delay.as_micros() as u64),
            cut: AtomicBool::new(false),
            epoch: watch::Sender::new(0),
            connections: AtomicU64::new(0),
        })
    }

    /// One-way delay added to each direction (the round trip grows by
    /// twice this). Applies to bytes that arrive from now on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn delay(&self) -> Duration {
        Duration::from_micros(self.delay_us.load(Ordering::Relaxed))
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::Relaxed);
        self.epoch.send_modify(|e| *e += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::Relaxed);
    }

    pub fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    /// Connections relayed since the start.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// Relays every connection accepted on `listener` to `upstream`.
pub async fn serve(listener: TcpListener, upstream: SocketAddr, control: Arc<Control>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(e) => {
                // Out of descriptors and the like: wait, do not spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if control.is_cut() {
            drop(client);
            continue;
        }
        control.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(relay(client, upstream, control.clone()));
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, control: Arc<Control>) {
    let mut epoch = control.epoch.subscribe();
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    // Delay is what this relay adds; Nagle's would add its own.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let both = async {
        tokio::join!(
            pump(client_read, server_write, &control),
            pump(server_read, client_write, &control)
        )
    };
    tokio::select! {
        _ = both => {}
        // Cut: dropping the halves closes both sockets.
        _ = epoch.changed() => {}
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, control: &Control) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Bytes)>(QUEUE);
    let reader = async move {
        let mut buf = BytesMut::with_capacity(CHUNK);
        loop {
            buf.reserve(CHUNK);
            match from.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let due = Instant::now() + control.delay();
                    if tx.send((due, buf.split().freeze())).await.is_err() {
                        break;
                    }
                }
            }
        }
        // Dropping `tx` tells the writer: end of stream after the queue.
    };
    let writer = async move {
        let Ok(mut wait) = Delay::new(Instant::now()) else {
            return;
        };
        while let Some((due, chunk)) = rx.recv().await {
            if due > Instant::now() {
                wait.reset(due);
                if (&mut wait).await.is_err() {
                    return;
                }
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        // The other side's FIN, passed on after the data before it.
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server; its address.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn relay_to(upstream: SocketAddr, control: Arc<Control>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, upstream, control));
        addr
    }

    async fn round_trip(stream: &mut TcpStream, payload: &[u8]) -> std::io::Result<Vec<u8>> {
        stream.write_all(payload).await?;
        let mut back = vec![0; payload.len()];
        stream.read_exact(&mut back).await?;
        Ok(back)
    }

    #[tokio::test]
    async fn adds_the_delay_each_way_and_keeps_the_bytes_in_order() {
        let control = Control::new(Duration::from_millis(40));
        let relay = relay_to(echo().await, control.clone()).await;
        let mut s = TcpStream::connect(relay).await.unwrap();
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let sent = std::time::Instant::now();
        let back = round_trip(&mut s, &payload).await.unwrap();
        // A lower bound only: the delay is added, whatever else is slow.
        assert!(
            sent.elapsed() >= Duration::from_millis(80),
            "{:?}",
            sent.elapsed()
        );
        assert_eq!(back, payload);
        control.set_delay(Duration::ZERO);
        assert_eq!(round_trip(&mut s, b"again").await.unwrap(), b"again");
        assert_eq!(control.connections(), 1);
    }

    #[tokio::test]
    async fn a_cut_closes_open_connections_and_refuses_new_ones_until_restored() {
        let control = Control::new(Duration::ZERO);
        let relay = relay_to(echo().await, control.clone()).await;
        let mut open = TcpStream::connect(relay).await.unwrap();
        assert_eq!(round_trip(&mut open, b"hi").await.unwrap(), b"hi");
        control.cut();
        let mut buf = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), open.read(&mut buf)).await;
        assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
        let mut refused = TcpStream::connect(relay).await.unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), refused.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
        control.restore();
        let mut again = TcpStream::connect(relay).await.unwrap();
        assert_eq!(round_trip(&mut again, b"back").await.unwrap(), b"back");
    }

    #[tokio::test]
    async fn a_half_close_is_passed_on_after_the_data() {
        let control = Control::new(Duration::from_millis(10));
        let relay = relay_to(echo().await, control).await;
        let mut s = TcpStream::connect(relay).await.unwrap();
        s.write_all(b"last words").await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"last words");
    }
}
