//! `smokegate demo` and the reference gateway's fault matrix, through the real binary.

use crate::common::*;

#[test]
fn the_demo_is_green_and_leaves_nothing_behind() {
    let p = Project::new();
    let o = p.cmd().arg("demo").output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("probe: forged signature · 401"), "{out}");
    assert!(out.contains("0 users, 0 records"), "{out}");
}
