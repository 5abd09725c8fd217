//! Records the versions of the storage engines in use, from the workspace's Cargo.lock, so that
//! `/health` can report them.

fn main() {
    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    println!("cargo:rerun-if-changed={lock_path}");
    let lock = std::fs::read_to_string(lock_path).unwrap_or_default();
    let version = |name: &str| {
        let needle = format!("name = \"{name}\"\nversion = \"");
        lock.find(&needle)
            .and_then(|at| lock[at + needle.len()..].split('"').next())
            .unwrap_or("unknown")
            .to_owned()
    };
    println!("cargo:rustc-env=OVATION_REDB_VERSION={}", version("redb"));
}
