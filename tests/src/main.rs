//! The `ovation` command, linked into the test package so crash tests can run and kill it.

fn main() -> std::process::ExitCode {
    ovation_cli::main()
}
