//! `micro`: look at, call and watch micro services from a terminal.

fn main() -> std::process::ExitCode {
    micro_cli::main()
}
