//! The client for the `grpc` example: see `examples/grpc/main.rs` for what
//! to run and what to watch.
//!
//! ```text
//! cargo run -p idle-grpc --example grpc-client -- hello [NAME]
//! cargo run -p idle-grpc --example grpc-client -- ticks [COUNT]
//! cargo run -p idle-grpc --example grpc-client -- probe
//! ```

mod ticker;

use std::error::Error;

use tonic::transport::Endpoint;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use ticker::ticker_client::TickerClient;
use ticker::{HelloRequest, TicksRequest};

const SERVER: &str = "http://127.0.0.1:50051";

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "hello".to_owned());
    let argument = args.next();
    match command.as_str() {
        "hello" => {
            let mut client = TickerClient::new(Endpoint::from_static(SERVER).connect().await?);
            let name = argument.unwrap_or_else(|| "world".to_owned());
            let reply = client.hello(HelloRequest { name }).await?;
            println!("{}", reply.into_inner().message);
        }
        "ticks" => {
            let mut client = TickerClient::new(Endpoint::from_static(SERVER).connect().await?);
            let count = argument.map_or(Ok(10), |count| count.parse())?;
            let request = TicksRequest {
                count,
                interval_ms: 1000,
            };
            let mut ticks = client.ticks(request).await?.into_inner();
            loop {
                match ticks.message().await {
                    Ok(Some(tick)) => println!("tick {}", tick.n),
                    Ok(None) => {
                        println!("stream ended: Ok");
                        break;
                    }
                    Err(status) => {
                        println!("stream ended: {:?}: {}", status.code(), status.message());
                        break;
                    }
                }
            }
        }
        "probe" => {
            // What the kubelet sends: grpc-go's user agent after its own.
            let channel = Endpoint::from_static(SERVER)
                .user_agent("kube-probe/1.33 grpc-go/1.72.0")?
                .connect()
                .await?;
            let request = HealthCheckRequest {
                service: String::new(),
            };
            let reply = HealthClient::new(channel).check(request).await?;
            println!("{:?}", reply.into_inner().status());
        }
        other => return Err(format!("unknown command {other:?}: hello, ticks or probe").into()),
    }
    Ok(())
}
