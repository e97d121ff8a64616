//! `#[derive(Producer)]`, `#[derive(Consumer)]` and `#[derive(Tasks)]` as a user meets them: what compiles, and
//! the errors of what does not (checked-in `.stderr` files, by category: unknown and duplicate
//! keys, wrong values, unsupported shapes, misuse of the generated API).

#![cfg(feature = "derive")]

#[test]
fn derive_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/keys/*.rs");
    t.compile_fail("tests/ui/fail/values/*.rs");
    t.compile_fail("tests/ui/fail/shape/*.rs");
    t.compile_fail("tests/ui/fail/usage/*.rs");
}

/// `#[derive(Tasks)]` (the `celery` feature): what compiles, and the errors of what does not.
#[cfg(feature = "celery")]
#[test]
fn derive_tasks_ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/tasks/pass/*.rs");
    t.compile_fail("tests/ui/tasks/fail/*.rs");
}
