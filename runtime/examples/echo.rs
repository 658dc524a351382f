//! The README's example: echo with acks, rooms, and a room broadcast.
use actix_web::{App, HttpServer};
use tickwire::{Data, SocketIo};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::builder().build();
    io.ns("/", |socket| {
        socket.on(
            "echo",
            |_, Data(msg): Data<serde_json::Value>, ack| async move {
                ack.send(&msg).ok();
            },
        );
        socket.on("join", |socket, Data(room): Data<String>, _| async move {
            socket.join(room);
        });
        socket.on(
            "say",
            |socket, Data((room, text)): Data<(String, String)>, _| async move {
                socket.to(room).emit("said", &text).ok();
            },
        );
    });
    HttpServer::new(move || App::new().configure(io.service()))
        .bind(("127.0.0.1", 3000))?
        .run()
        .await
}
