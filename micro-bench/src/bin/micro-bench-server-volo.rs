//! The volo server of `micro-bench rpc`, alone in its binary (see
//! `micro_bench::server`).

fn main() -> std::process::ExitCode {
    micro_bench::server::main(
        "micro-bench-server-volo",
        |_system, port, ready| async move { micro_bench::systems::volo::serve(port, ready).await },
    )
}
