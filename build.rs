//! Builds the one C file: long double arithmetic for INCRBYFLOAT (see src/longdouble.rs).
fn main() {
    println!("cargo:rerun-if-changed=src/longdouble.c");
    cc::Build::new()
        .file("src/longdouble.c")
        .compile("roost_longdouble");
}
