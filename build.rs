//! Generates the C header into OUT_DIR (`make` copies it to include/, and a
//! test fails when the committed copy is stale) and gives the shared
//! library its soname.

use std::env;
use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());

    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    // Only the C layer is parsed: what the core declares public for Rust
    // callers (constants, types, the copy's asm symbol) never reaches C.
    cbindgen::Builder::new()
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(out_dir.join("mapipc.h"));

    // rustc cannot set a soname itself. 0.x releases break at each minor
    // version, so the soname carries major and minor.
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let soname = if major == "0" {
        format!("libmapipc.so.0.{minor}")
    } else {
        format!("libmapipc.so.{major}")
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    // Once loaded, never unloaded: the SIGBUS handler may be installed, and
    // after a dlclose the disposition would point into unmapped code.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
}
