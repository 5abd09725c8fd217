//! Gzips the website survey's script once, at build time, for browsers that take it.

use std::io::Write;

fn main() {
    let script = "assets/widget.js";
    println!("cargo::rerun-if-changed={script}");
    let source = std::fs::read(script).expect("the widget's script is there");
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&source).expect("gzip writes to memory");
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("widget.js.gz");
    std::fs::write(out, gzip.finish().expect("gzip finishes")).expect("OUT_DIR is writable");
}
