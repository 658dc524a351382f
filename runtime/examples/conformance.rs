//! The server of the official Engine.IO v4 and Socket.IO v5 protocol test suites.
//!
//! `cargo run --release -p tickwire --example conformance -- --port 3000` serves with
//! `tickwire::Server`; `--plain` serves the same app from a plain `actix_web::HttpServer`.

use actix_web::{App, HttpServer};
use clap::Parser;

#[path = "../tests/support/conformance_app.rs"]
mod conformance_app;

#[derive(Parser)]
struct Args {
    /// Port to listen on (127.0.0.1).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Serve from `actix_web::HttpServer` (websockets inside its HTTP dispatcher).
    #[arg(long)]
    plain: bool,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let (io, echo) = conformance_app::build();
    let configure = conformance_app::configure(&io, &echo);
    if args.plain {
        let server = HttpServer::new(move || App::new().configure(configure.clone()))
            .bind(("127.0.0.1", args.port))?;
        let port = server.addrs().first().map_or(args.port, |a| a.port());
        println!("serving from actix-web's HttpServer");
        println!("listening on 127.0.0.1:{port}");
        return server.run().await;
    }
    let server = tickwire::Server::new(&io, move || App::new().configure(configure.clone()))
        .with(&echo)
        .bind(("127.0.0.1", args.port))?;
    let port = server.addrs().first().map_or(args.port, |a| a.port());
    println!("serving from tickwire::Server");
    println!("listening on 127.0.0.1:{port}");
    server.run().await
}
