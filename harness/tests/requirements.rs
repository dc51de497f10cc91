//! The requirements index and the catalogue agree: the index reads cleanly, every case
//! it names exists, and every case covers at least one requirement (a case that tests
//! nothing the index knows is either a missing entry or a case without a purpose).

use smtpspec::profile::embedded;
use smtpspec::requirements::{self, Role};
use smtpspec::scenario::Level;
use smtpspec::scenario::load;

#[test]
fn index_and_catalogue_agree() {
    let cases = load::load(&[embedded::catalogue()]).expect("catalogue");
    let index = requirements::load(&requirements::default_dir(), &cases)
        .unwrap_or_else(|e| panic!("{e:#?}"));
    let rfc5321 = index.iter().filter(|r| r.rfc == 5321).count();
    assert!(
        rfc5321 >= 359,
        "every keyword sentence of RFC 5321 is indexed"
    );
    let cov = requirements::coverage(&index, &cases);
    assert!(
        cov.orphans.is_empty(),
        "cases linked to no requirement: {:?}",
        cov.orphans
    );
    // The server-side MUSTs are the catalogue's core: most of them must have a case.
    let must = cov.tallies[&(Role::Server, Level::Must)];
    assert!(
        must.covered * 2 > must.covered + must.uncovered,
        "server MUST coverage fell to {}/{}",
        must.covered,
        must.covered + must.uncovered
    );
}

#[test]
fn a_link_to_a_missing_case_is_a_located_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("x.yaml"),
        "requirements:\n  - id: 5321-4.1.4-1\n    rfc: 5321\n    section: \"4.1.4\"\n    \
         level: MUST\n    text: t\n    role: server\n    cases: [no.such/case]\n",
    )
    .expect("write");
    let errors = requirements::load(dir.path(), &[]).expect_err("unknown case");
    assert!(
        errors[0].to_string().contains("x.yaml:2:")
            && errors[0].to_string().contains("no.such/case"),
        "{errors:?}"
    );
}
