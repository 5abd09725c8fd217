//! The `ovation` command; everything lives in the library so tests can run the same code.

fn main() -> std::process::ExitCode {
    ovation_cli::main()
}
