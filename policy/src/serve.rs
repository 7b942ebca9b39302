//! The plugin start contract, as the Pulumi engine expects it of an analyzer: bind 127.0.0.1 on a
//! free port, write that port alone as the first line of stdout, serve until killed or until stdin
//! (a pipe from the engine) closes. The engine's address and the pack folder, given as arguments,
//! are not needed: the pack calls nothing back and carries its policies in the binary.

use std::io::Write;

use palisade_proto::AnalyzerServer;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

use crate::service::Guardrails;

/// Largest gRPC message accepted or sent: AnalyzeStack carries every resource of a stack.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves the guardrails on 127.0.0.1:0 after printing the port, until a shutdown signal.
pub async fn serve() -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{port}")?;
        stdout.flush()?;
    }
    let service = AnalyzerServer::new(Guardrails::default())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), shutdown())
        .await
        .map_err(std::io::Error::other)
}

async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = stdin_closed() => {}
    }
}

/// Completes when stdin is a pipe and the engine closes it. A terminal or /dev/null says nothing
/// about the engine, so then this never completes.
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
