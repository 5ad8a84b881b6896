//! A small round-robin TCP front for the demo's replicas, as a layer-4 load balancer does it:
//! each new connection goes to the next replica that accepts it. TLS passes through untouched,
//! so devices still present their own certificates to the replica they reach, and a replica
//! that is down is skipped.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

/// The front's listener; stops accepting when dropped (open connections finish on their own).
#[derive(Debug)]
pub struct Front {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Front {
    /// Listens on `listen` and spreads connections over `replicas`.
    pub async fn start(listen: SocketAddr, replicas: Vec<SocketAddr>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let replicas = Arc::new(replicas);
        let next = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let (replicas, next) = (replicas.clone(), next.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..replicas.len() {
                        let replica = replicas[(first + i) % replicas.len()];
                        if let Ok(upstream) = TcpStream::connect(replica).await {
                            pipe(client, upstream).await;
                            return;
                        }
                    }
                    tracing::warn!("no replica accepted a connection");
                });
            }
        });
        Ok(Self { addr, task })
    }
}

async fn pipe(mut client: TcpStream, mut upstream: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    // Ends when either side closes; an error is a closed connection, nothing more.
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// Two echo-ish backends that answer with their own name: connections alternate, and a
    /// backend that is gone is skipped.
    #[tokio::test]
    async fn connections_alternate_and_a_dead_replica_is_skipped() {
        async fn backend(name: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let task = tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let _ = s.write_all(name).await;
                }
            });
            (addr, task)
        }
        let (a, _ta) = backend(b"a").await;
        let (b, tb) = backend(b"b").await;
        let front = Front::start("127.0.0.1:0".parse().unwrap(), vec![a, b]).await.unwrap();
        let hello = || async {
            let mut s = TcpStream::connect(front.addr).await.unwrap();
            let mut got = [0u8; 1];
            s.read_exact(&mut got).await.unwrap();
            got[0]
        };
        let seen = [hello().await, hello().await, hello().await, hello().await];
        assert_eq!(seen.iter().filter(|&&c| c == b'a').count(), 2, "{seen:?}");
        assert_eq!(seen.iter().filter(|&&c| c == b'b').count(), 2, "{seen:?}");
        tb.abort();
        let _ = tb.await;
        for _ in 0..4 {
            assert_eq!(hello().await, b'a');
        }
    }
}
