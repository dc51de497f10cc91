//! The main job as a library call: the catalogue against the embedded reference server,
//! the reference client as sender and as client under test, the way `smtpspec run`
//! runs without `--target` (the self-tests run it with deviations and variants).

use crate::outcome::HarnessError;
use std::sync::Arc;

use reference_server::Variant;
use smtp_protocol::server::Deviation;

use super::{CaseResult, Options, PacerStats, Subjects, Target};
use crate::profile::embedded::start_with;
use crate::roles::client::{Client, ClientUnderTest};
use crate::roles::sender::Sender;
use crate::scenario::load::Case;
use crate::send::{ClientVariant, SenderDeviation};
use crate::test_ca::TestCa;
use crate::wire::TlsSettings;

/// What the embedded target and the reference client run as: the main job's setup,
/// with deviations (the mutation test) or permitted variants (the negative control).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Server deviations.
    pub deviations: Vec<Deviation>,
    /// Server variants.
    pub variants: Vec<Variant>,
    /// Sender deviations of the reference client in delivery cases.
    pub sender: Vec<SenderDeviation>,
    /// Variants of the reference client in client cases.
    pub client: Vec<ClientVariant>,
}

/// Run `cases` the way `smtpspec run` does without `--target`: the embedded server
/// with `setup`, discovered and surveyed (connection probe, catch-all), the reference
/// client as sender and as client under test, a test CA for client cases.
pub async fn run_cases(
    cases: &[Case],
    setup: &Setup,
    mut options: Options,
) -> Result<(Target, Vec<CaseResult>, PacerStats), HarnessError> {
    let e = start_with(&setup.deviations, &setup.variants).await?;
    let mut target = super::discover(
        e.server.addr(),
        e.vars.clone(),
        Some(e.store()),
        TlsSettings {
            proxy: e.proxy,
            ..TlsSettings::default()
        },
        options.step_timeout,
    )
    .await?;
    options.initial_jobs =
        Some(super::survey(&mut target, options.jobs, options.step_timeout).await);
    let discovered = target.clone();
    let subjects = Subjects {
        server: Some(target),
        sender: Sender::Reference(setup.sender.clone()),
        client: Client {
            under_test: ClientUnderTest::Reference(setup.client.clone()),
            ca: Some(Arc::new(TestCa::generate()?)),
        },
    };
    let (results, pacing) = super::run_paced(cases, &subjects, options, None).await;
    let _ = e.server.stop().await;
    Ok((discovered, results, pacing))
}
