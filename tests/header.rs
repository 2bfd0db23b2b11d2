//! The committed include/mapipc.h must be exactly what build.rs generates
//! from the current sources; `make header` refreshes it.

#[test]
fn committed_header_is_current() {
    let generated = include_str!(concat!(env!("OUT_DIR"), "/mapipc.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/mapipc.h");
    let committed = std::fs::read_to_string(path).expect("include/mapipc.h exists");
    assert!(
        committed == generated,
        "include/mapipc.h is stale: run `make header` and commit it"
    );
}
