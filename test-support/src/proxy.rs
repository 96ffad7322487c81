//! A TCP proxy on loopback that can cut the connection to its target on demand: a database or
//! a provider that "goes away" and comes back, without stopping the real server. It counts the
//! connections clients attempted, refused ones included.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running proxy; it stops when dropped.
pub struct TcpProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
    // Cancelled (and replaced) on every cut, which ends the connections open then.
    connections: Arc<std::sync::Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TcpProxy {
    /// Forwards `127.0.0.1:<port>` (port chosen by the system) to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("the proxy binds a loopback port: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("a bound listener has an address: {e}"));
        let proxy = Self {
            addr,
            cut: Arc::new(AtomicBool::new(false)),
            attempts: Arc::new(AtomicUsize::new(0)),
            connections: Arc::new(std::sync::Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        let (cut, attempts, connections, stop) = (
            Arc::clone(&proxy.cut),
            Arc::clone(&proxy.attempts),
            Arc::clone(&proxy.connections),
            proxy.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                attempts.fetch_add(1, Ordering::SeqCst);
                if cut.load(Ordering::SeqCst) {
                    // Refused: reset at once (no lingering), as a closed port answers.
                    let _ = client.set_zero_linger();
                    drop(client);
                    continue;
                }
                let ended = connections
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        () = ended.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        proxy
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections clients attempted so far, refused ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Drops every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut current = self
            .connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.cancel();
        *current = CancellationToken::new();
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
