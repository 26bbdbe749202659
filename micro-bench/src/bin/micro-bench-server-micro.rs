//! The micro server of `micro-bench rpc`, alone in its binary (see
//! `micro_bench::server`).

fn main() -> std::process::ExitCode {
    micro_bench::server::main(
        "micro-bench-server-micro",
        |system, port, ready| async move {
            micro_bench::systems::micro::serve_system(system, port, ready).await
        },
    )
}
