//! Test fixtures: EBS providers tuned for tests and volumes to snapshot. moto
//! and the fault-injecting EC2 proxy come from `golden_sim::moto`.

#![allow(dead_code)]

use std::time::Duration;

use golden_aws::EbsProvider;

/// The Region every test works in (moto's default account lives everywhere).
pub(crate) const REGION: &str = "us-east-1";

// ---------------------------------------------------------------------------
// providers and fixtures

/// A provider for `endpoint` with static test credentials, fast SDK retries
/// (4 attempts, 5-40 ms backoff) and fast polling.
pub(crate) async fn provider(endpoint: &str) -> EbsProvider {
    provider_with(endpoint, |b| b).await
}

/// [`provider`] with extra builder settings.
pub(crate) async fn provider_with(
    endpoint: &str,
    f: impl FnOnce(golden_aws::EbsBuilder) -> golden_aws::EbsBuilder,
) -> EbsProvider {
    let b = EbsProvider::builder()
        .with_region(REGION)
        .with_endpoint(endpoint)
        .with_static_credentials("testing", "testing")
        .with_retry_config(
            aws_sdk_ec2::config::retry::RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(5))
                .with_max_backoff(Duration::from_millis(40)),
        )
        .with_poll_intervals(Duration::from_millis(5), Duration::from_millis(20))
        .with_wait_timeout(Duration::from_secs(20));
    f(b).build().await.expect("build the EBS provider")
}

/// Creates a volume of `gib` GiB in `zone` with `tags`; returns its id.
pub(crate) async fn create_volume(
    p: &EbsProvider,
    zone: &str,
    gib: i32,
    tags: &[(&str, &str)],
) -> String {
    create_volume_with(p, zone, gib, tags, None).await
}

/// [`create_volume`], encrypted with `kms_key` when given.
pub(crate) async fn create_volume_with(
    p: &EbsProvider,
    zone: &str,
    gib: i32,
    tags: &[(&str, &str)],
    kms_key: Option<&str>,
) -> String {
    use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification, VolumeType};
    let mut req = p
        .client()
        .create_volume()
        .availability_zone(zone)
        .size(gib)
        .volume_type(VolumeType::Gp3);
    if !tags.is_empty() {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::Volume);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        req = req.tag_specifications(spec.build());
    }
    if let Some(k) = kms_key {
        req = req.encrypted(true).kms_key_id(k);
    }
    req.send()
        .await
        .expect("create a test volume")
        .volume_id()
        .expect("volume id")
        .to_string()
}
