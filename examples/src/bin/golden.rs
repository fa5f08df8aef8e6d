//! The golden CLI.
fn main() {}
