//! Misuse of `#[asset]` and `#[asset_check]` is a compile error that points at the mistake and
//! says how to fix it. The expected messages are the `.stderr` files next to each case.

#[test]
fn misuse_is_a_spanned_compile_error() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
