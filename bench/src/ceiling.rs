//! The ceiling server: actix-web (the same HTTP stack and worker count as `ursa-cp`'s API)
//! answering every GET with one fixed body and every PUT with an empty `200`, after reading the
//! request body. What it does per request is what any handler pays before doing real work, so
//! `ursa-cp ÷ ceiling` is the share of the HTTP stack's throughput the control plane keeps.

use std::path::Path;

use actix_web::http::Method;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpResponse, HttpServer};

/// Serves `body_file` on a free loopback port until killed; prints
/// `ceiling started ceiling=http://ADDR` once listening.
pub fn run(body_file: &Path, workers: usize) -> std::io::Result<()> {
    let body = Bytes::from(std::fs::read(body_file)?);
    actix_web::rt::System::new().block_on(async move {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = HttpServer::new(move || {
            let body = body.clone();
            App::new().default_service(web::to(move |method: Method, _payload: Bytes| {
                let body = body.clone();
                async move {
                    if method == Method::GET {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(body)
                    } else {
                        HttpResponse::Ok().finish()
                    }
                }
            }))
        })
        .workers(workers)
        .disable_signals()
        .listen(listener)?
        .run();
        println!("ceiling started ceiling=http://{addr}");
        server.await
    })
}
