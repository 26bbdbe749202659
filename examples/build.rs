//! Compiles the example protos exactly as a user's build script would.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    micro_codegen::compile_protos(
        &[
            "../proto/greeter.proto",
            "../proto/events.proto",
            "../proto/describe_test.proto",
            "../proto/bot.proto",
        ],
        &["../proto"],
    )?;
    Ok(())
}
