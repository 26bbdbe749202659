//! The tonic server of `micro-bench rpc`, alone in its binary (see
//! `micro_bench::server`).

fn main() -> std::process::ExitCode {
    micro_bench::server::main(
        "micro-bench-server-tonic",
        |_system, port, ready| async move { micro_bench::systems::tonic::serve(port, ready).await },
    )
}
