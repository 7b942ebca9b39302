//! The plugin start contract, as the Pulumi engine expects it.
//!
//! Bind 127.0.0.1 on a free port; write that port, alone, as the first line of stdout; log to stderr
//! only what `RUST_LOG` asks for (nothing without it); serve until killed (SIGINT, SIGTERM) or until stdin, when it is a pipe from the
//! parent, is closed. An engine address given as the first argument is accepted and not needed.

use std::io::Write;
use std::process::ExitCode;

use palisade_proto::ResourceProviderServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::provider::Provider;
use crate::server::ProviderService;

/// Largest gRPC message accepted or sent (schemas and big policy documents fit well within it).
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Runs `provider` as a Pulumi resource-provider plugin; returns when it should exit.
///
/// The engine waits for the port line, so the port is bound and printed before anything else is
/// set up (the log, the async runtime); a connection made meanwhile waits in the listen backlog.
/// The runtime has one thread: a plugin's work is waiting on AWS, many plugins share the machine's
/// cores, and each worker thread more costs start-up time and memory.
pub fn main(provider: Provider) -> ExitCode {
    let listener = match announce_port() {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on 127.0.0.1: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(log_filter(std::env::var("RUST_LOG").ok().as_deref()))
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let listener = TcpListener::from_std(listener)?;
        serve(listener, provider).await
    });
    // When a signal ended the plugin while its parent keeps stdin open, the stdin reader is still
    // blocked in a read that cannot be cancelled: waiting for it would keep the plugin alive.
    runtime.shutdown_background();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

/// The plugin's log filter: `RUST_LOG` when it is set, else nothing at all.
///
/// Whoever starts the plugin (the Pulumi engine, the Palisade SDK) shows its stderr to the user,
/// and every error the user needs already travels in the gRPC answer. The AWS SDK's warnings (a
/// missing config file, a retried request) belong in the log that `RUST_LOG` asks for, the same
/// rule as the SDK's programs follow; a crash still prints, as panics do not go through the log.
fn log_filter(rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    match rust_log.map(str::trim).filter(|directives| !directives.is_empty()) {
        // Logs were asked for: directives that do not parse still get the warnings.
        Some(directives) => EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("warn")),
        None => EnvFilter::new("off"),
    }
}

/// Binds 127.0.0.1 on a free port and writes the port, alone, as the first line of stdout.
fn announce_port() -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{port}")?;
    stdout.flush()?;
    Ok(listener)
}

/// Serves `provider` on `listener`, whose port is already announced, until a shutdown signal.
async fn serve(listener: TcpListener, provider: Provider) -> std::io::Result<()> {
    if let Some(engine) = std::env::args().nth(1) {
        tracing::debug!(engine, "engine address given; this provider does not call back");
    }
    let service = ResourceProviderServer::new(ProviderService::new(provider))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(service)
        // Without TCP_NODELAY, a response written in more than one segment waits for the engine's
        // delayed ACK: about 40 ms per call on loopback.
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown_signal())
        .await
        .map_err(std::io::Error::other)
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => tracing::info!("interrupted"),
        _ = terminate => tracing::info!("terminated"),
        _ = stdin_closed() => tracing::info!("stdin closed; parent is gone"),
    }
}

/// Completes when stdin is a pipe and its writer closes it. Stdin that is a terminal or /dev/null
/// says nothing about the parent, so then this never completes.
async fn stdin_closed() {
    use std::os::unix::fs::FileTypeExt;
    let is_pipe = std::fs::metadata("/dev/stdin")
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false);
    if !is_pipe {
        return std::future::pending().await;
    }
    let mut stdin = tokio::io::stdin();
    let mut buffer = [0u8; 256];
    loop {
        match stdin.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn the_plugin_logs_only_when_rust_log_asks() {
        assert_eq!(log_filter(None).max_level_hint(), Some(LevelFilter::OFF));
        assert_eq!(log_filter(Some(" ")).max_level_hint(), Some(LevelFilter::OFF));
        assert_eq!(log_filter(Some("debug")).max_level_hint(), Some(LevelFilter::DEBUG));
        assert_eq!(
            log_filter(Some("palisade_provider_kit=info")).max_level_hint(),
            Some(LevelFilter::INFO)
        );
        assert_eq!(log_filter(Some("=[bad")).max_level_hint(), Some(LevelFilter::WARN));
    }
}
