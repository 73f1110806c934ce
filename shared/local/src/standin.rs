//! A stand-in for one side of the deployment, for the demo and the tests: serves `/health` and
//! `/health/ready`, and can be made unhealthy (503), killed (connection refused) and restarted
//! on the same port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;

/// One app instance.
pub struct StandInApp {
    addr: SocketAddr,
    healthy: Arc<AtomicBool>,
    task: Option<JoinHandle<()>>,
}

impl StandInApp {
    /// Starts a healthy app on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut app = StandInApp {
            addr,
            healthy: Arc::new(AtomicBool::new(true)),
            task: None,
        };
        app.serve(listener);
        Ok(app)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let h = self.healthy.clone();
        let health = move || {
            let h = h.clone();
            async move {
                if h.load(Ordering::SeqCst) {
                    (StatusCode::OK, r#"{"status":"healthy"}"#)
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, r#"{"status":"unhealthy"}"#)
                }
            }
        };
        let router = axum::Router::new()
            .route("/health", get(health.clone()))
            .route("/health/ready", get(health));
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers 503 (`false`) or 200 (`true`).
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    /// Kills the server: connections are refused until [`StandInApp::restart`].
    pub async fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Serves again on the same port, healthy.
    pub async fn restart(&mut self) -> std::io::Result<()> {
        self.kill().await;
        self.healthy.store(true, Ordering::SeqCst);
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        self.serve(listener);
        Ok(())
    }
}
