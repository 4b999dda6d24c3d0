//! The listener: accepts connections and routes each by its first request
//! head.
//!
//! - `GET /v1/stream` over HTTP/1.1 goes to the [lean path](lean): the
//!   stream is written straight onto the socket, with no per-connection
//!   buffers (an idle subscriber costs its stream's state and its socket).
//! - Everything else is [handed on](handoff) to hyper and the axum router
//!   with the bytes already read: the API, the console, CORS preflights,
//!   keep-alive and HTTP/2 work as if hyper had accepted the connection.
//!   (A stream request on a connection that already carried other
//!   requests is served by hyper too, with the same handler.)
//! - Heads that cannot be routed are refused on the spot ([`head::Refusal`]):
//!   431 when too large, 400 when malformed or when a stream request
//!   has a body, 408 when slower than `--head-timeout`.
//!
//! On shutdown the listener stops accepting; streams end with
//! `beacon.shutdown`, other connections finish their open requests, for at
//! most the shutdown grace period.
//!
//! The routing and writing of streams is the product's core, so it is
//! written here on `httparse` (hyper's parser) rather than as a hyper
//! service: a hyper connection keeps a read buffer and a write buffer per
//! connection for its whole life, several times what a stream needs.

pub(crate) mod handoff;
pub(crate) mod head;
pub(crate) mod lean;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::state::AppState;
use head::Routed;
use lean::Lean;

/// Wait after an accept error (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every connection task needs.
#[derive(Clone)]
struct Edge {
    lean: Lean,
    head_timeout: Duration,
    shutdown: CancellationToken,
    /// Every connection's task, for the graceful end.
    tasks: TaskTracker,
}

/// Serves until `state.shutdown` is cancelled, then lets open connections
/// finish for at most the shutdown grace period.
pub(crate) async fn serve(listener: TcpListener, state: AppState) -> io::Result<()> {
    let shutdown = state.shutdown.clone();
    let grace = state.settings.shutdown_grace;
    let edge = Edge {
        lean: Lean {
            // Two heartbeats without taking a byte: the subscriber is gone.
            stall: (state.settings.heartbeat * 2).max(Duration::from_secs(10)),
            router: crate::api::app(state.clone()),
        },
        head_timeout: state.settings.head_timeout,
        shutdown: shutdown.clone(),
        tasks: TaskTracker::new(),
    };
    let tasks = edge.tasks.clone();
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        tasks.spawn(edge.clone().connection(socket, peer));
    }
    drop(listener);
    tasks.close();
    if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
        tracing::warn!(
            grace_s = grace.as_secs(),
            "connections still open after the grace period; stopping"
        );
    }
    Ok(())
}

impl Edge {
    async fn connection(self, mut socket: TcpStream, peer: SocketAddr) {
        // Frames are written whole: never hold one back for an ACK.
        let _ = socket.set_nodelay(true);
        let routed = tokio::select! {
            _ = self.shutdown.cancelled() => return,
            routed = Box::pin(head::read(&mut socket, self.head_timeout)) => routed,
        };
        match routed {
            Ok(Routed::Stream(head)) => {
                if let Some(open) = Box::pin(self.lean.open(socket, head, peer)).await {
                    self.tasks.spawn(open.pump());
                }
            }
            // Boxed, like every path an idle stream does not take: a task's
            // size is its largest future, and streams are most of the tasks.
            Ok(Routed::Other(read)) => {
                Box::pin(handoff::serve(
                    socket,
                    read,
                    peer,
                    self.lean.router,
                    self.head_timeout,
                    self.shutdown,
                ))
                .await
            }
            Ok(Routed::Closed) => {}
            Err(refusal) => {
                tracing::debug!(%peer, reason = refusal.code(), "request head refused");
                Box::pin(self.lean.refuse(socket, refusal, peer)).await;
            }
        }
    }
}
