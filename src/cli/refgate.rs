//! `smokegate refgate`: the reference gateway (the `smokegate-refgate` crate), served until Ctrl-C.

use refgate::{Fault, RefgateOptions};

use super::args::RefgateArgs;
use super::failure::Failure;
use crate::exit::Exit;

pub async fn serve_forever(args: RefgateArgs) -> Result<Exit, Failure> {
    let mut opts = RefgateOptions { port: args.port, service_port: args.service_port, access_log: true, ..RefgateOptions::default() };
    for f in &args.faults {
        opts.faults.insert(Fault::parse(f).map_err(|e| Failure::new(Exit::Usage, e.to_string()))?);
    }
    if let Some(t) = args.token_ttl {
        opts.token_ttl = t;
    }
    if let Some(l) = args.latency {
        opts.latency = l;
    }
    let gate = refgate::start(opts.clone()).await.map_err(|e| Failure::new(Exit::Usage, format!("cannot listen: {e}")))?;
    let mut faults: Vec<&str> = Fault::ALL.iter().filter(|(_, f)| opts.faults.contains(f)).map(|(n, _)| *n).collect();
    if faults.is_empty() {
        faults.push("none");
    }
    crate::outln!(
        "refgate gateway={} service={} token={} faults={}",
        gate.gateway_url(),
        gate.service_url(),
        gate.token_url(),
        faults.join(",")
    );
    crate::outln!("inspect: curl {}/__inspect   (service listener only)", gate.service_url());
    crate::outln!(
        "client credentials: POST {} (client_id {}); API key routes: /api/keyed/* with X-Api-Key",
        gate.token_url(),
        opts.client_id
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    gate.shutdown().await;
    Ok(Exit::Ok)
}
