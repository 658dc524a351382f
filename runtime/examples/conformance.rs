//! The server of the official Engine.IO v4 and Socket.IO v5 protocol test suites.
//!
//! `cargo run --release -p tickwire --example conformance -- --port 3000`

use actix_web::{App, HttpServer};
use clap::Parser;

#[path = "../tests/support/conformance_app.rs"]
mod conformance_app;

#[derive(Parser)]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 3000)]
    port: u16,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (io, echo) = conformance_app::build();
    let configure = conformance_app::configure(&io, &echo);
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .bind(("127.0.0.1", args.port))?;
    let port = server.addrs().first().map_or(args.port, |a| a.port());
    println!("listening on 127.0.0.1:{port}");
    server.run().await
}
