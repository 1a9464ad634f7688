//! Picks the linker script of the target architecture.
fn main() {
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let script = format!("{dir}/src/arch/{arch}/kernel.ld");
    println!("cargo:rerun-if-changed={script}");
    println!("cargo:rustc-link-arg-bins=-T{script}");
    if arch == "x86_64" {
        println!("cargo:rustc-link-arg-bins=--no-pie");
    }
}
