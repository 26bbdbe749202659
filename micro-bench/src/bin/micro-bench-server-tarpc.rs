//! The tarpc server of `micro-bench rpc`, alone in its binary (see
//! `micro_bench::server`).

fn main() -> std::process::ExitCode {
    micro_bench::server::main(
        "micro-bench-server-tarpc",
        |_system, port, ready| async move { micro_bench::systems::tarpc::serve(port, ready).await },
    )
}
