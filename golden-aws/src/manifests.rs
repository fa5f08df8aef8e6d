//! The pure, driver-specific half of the EBS backend: the driver name, the
//! snapshot handle format and reading a PersistentVolume's volume source.

use k8s_openapi::api::core::v1::PersistentVolume;

use golden_core::pv::{csi_volume_handle, pv_topology_value, unsupported_volume_source};
use golden_core::{DiskRef, Error, ManifestBuilder, Result};

/// The AWS EBS CSI driver name.
pub const EBS_DRIVER: &str = "ebs.csi.aws.com";

/// [`DiskRef::attributes`] key: the PersistentVolume the disk was found for.
pub const ATTR_PV_NAME: &str = "pv-name";

/// Topology keys that name a PV's availability zone, most specific first.
const ZONE_KEYS: [&str; 3] = [
    "topology.ebs.csi.aws.com/zone",
    "topology.kubernetes.io/zone",
    "failure-domain.beta.kubernetes.io/zone",
];

const SNAPSHOT_FORM: &str = "snap- followed by 8 or 17 lowercase hex digits, e.g. \
                             snap-0123456789abcdef0 (the EC2 snapshot id, passed as is)";
const VOLUME_FORM: &str =
    "vol- followed by 8 or 17 lowercase hex digits, e.g. vol-0123456789abcdef0";

fn is_ec2_id(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// Whether `id` is an EC2 snapshot id: `snap-` and 8 or 17 lowercase hex digits.
pub fn is_snapshot_id(id: &str) -> bool {
    is_ec2_id(id, "snap-")
}

/// Whether `id` is an EC2 volume id: `vol-` and 8 or 17 lowercase hex digits.
pub fn is_volume_id(id: &str) -> bool {
    is_ec2_id(id, "vol-")
}

/// Checks an EC2 snapshot id; the error shows the accepted form.
pub fn validate_snapshot_id(id: &str) -> Result<()> {
    if is_snapshot_id(id) {
        Ok(())
    } else {
        Err(Error::invalid("EBS snapshot id", id, SNAPSHOT_FORM))
    }
}

/// Checks an EC2 volume id; the error shows the accepted form.
pub fn validate_volume_id(id: &str) -> Result<()> {
    if is_volume_id(id) {
        Ok(())
    } else {
        Err(Error::invalid("EBS volume id", id, VOLUME_FORM))
    }
}

/// Parses an in-tree `awsElasticBlockStore.volumeID`: `vol-...`,
/// `aws://<az>/vol-...` or `aws:///vol-...`. Returns the volume id and the
/// availability zone when one is given.
pub fn parse_in_tree_volume_id(value: &str) -> Result<(String, Option<String>)> {
    let bad = || {
        Error::invalid(
            "awsElasticBlockStore.volumeID",
            value,
            format!(
                "expected vol-... or aws://<availability zone>/vol-..., where vol-... is {VOLUME_FORM}"
            ),
        )
    };
    let (zone, id) = match value.strip_prefix("aws://") {
        Some(rest) => {
            let (zone, id) = rest.split_once('/').ok_or_else(bad)?;
            let zone = (!zone.is_empty()).then(|| zone.to_string());
            (zone, id)
        }
        None => (None, value),
    };
    if !is_volume_id(id) {
        return Err(bad());
    }
    Ok((id.to_string(), zone))
}

/// The [`ManifestBuilder`] for the AWS EBS CSI driver (`ebs.csi.aws.com`).
///
/// The snapshot handle is the EC2 snapshot id (`snap-...`) as is; PVs are
/// read from their CSI `volumeHandle` (`vol-...`) or, for in-tree volumes,
/// from `awsElasticBlockStore.volumeID` (`vol-...` or `aws://<az>/vol-...`).
///
/// ```
/// use golden_aws::EbsManifests;
/// use golden_core::ManifestBuilder;
///
/// let ebs = EbsManifests::new();
/// assert_eq!(ebs.driver(), "ebs.csi.aws.com");
/// ebs.validate_handle("snap-0123456789abcdef0")?;
/// assert!(ebs.validate_handle("snap-0123456789ABCDEF0").is_err());
/// # Ok::<(), golden_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EbsManifests;

impl EbsManifests {
    /// The EBS manifest builder.
    pub fn new() -> Self {
        EbsManifests
    }
}

impl ManifestBuilder for EbsManifests {
    fn driver(&self) -> &str {
        EBS_DRIVER
    }

    fn validate_handle(&self, handle: &str) -> Result<()> {
        if is_snapshot_id(handle) {
            Ok(())
        } else {
            Err(Error::invalid(
                "snapshot handle",
                handle,
                format!("the {EBS_DRIVER} driver accepts {SNAPSHOT_FORM}"),
            ))
        }
    }

    fn disk_from_pv(&self, pv: &PersistentVolume) -> Result<DiskRef> {
        let name = pv.metadata.name.as_deref();
        let zone = pv_topology_value(pv, &ZONE_KEYS);
        let mut disk = if let Some(handle) = csi_volume_handle(pv, EBS_DRIVER)? {
            if !is_volume_id(handle) {
                return Err(Error::invalid(
                    "CSI volumeHandle",
                    handle,
                    format!(
                        "PersistentVolume {}: expected {VOLUME_FORM}",
                        name.unwrap_or("<unnamed>")
                    ),
                ));
            }
            let mut d = DiskRef::new(handle);
            d.location = zone;
            d
        } else if let Some(ebs) = pv
            .spec
            .as_ref()
            .and_then(|s| s.aws_elastic_block_store.as_ref())
        {
            let (id, az) = parse_in_tree_volume_id(&ebs.volume_id)?;
            let mut d = DiskRef::new(id);
            d.location = az.or(zone);
            d
        } else {
            return Err(unsupported_volume_source(
                pv,
                EBS_DRIVER,
                "a CSI volume of ebs.csi.aws.com (volumeHandle vol-...) or an in-tree \
                 awsElasticBlockStore volume (vol-... or aws://<az>/vol-...)",
            ));
        };
        if let Some(n) = name {
            disk.attributes.insert(ATTR_PV_NAME.into(), n.into());
        }
        Ok(disk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        AWSElasticBlockStoreVolumeSource, CSIPersistentVolumeSource, PersistentVolumeSpec,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pv(spec: PersistentVolumeSpec) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some("pvc-1234".into()),
                ..Default::default()
            },
            spec: Some(spec),
            status: None,
        }
    }

    fn csi(driver: &str, handle: &str) -> PersistentVolume {
        pv(PersistentVolumeSpec {
            csi: Some(CSIPersistentVolumeSource {
                driver: driver.into(),
                volume_handle: handle.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn in_tree(id: &str) -> PersistentVolume {
        pv(PersistentVolumeSpec {
            aws_elastic_block_store: Some(AWSElasticBlockStoreVolumeSource {
                volume_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    #[test]
    fn handles_are_ec2_snapshot_ids() {
        let b = EbsManifests::new();
        for ok in ["snap-0123456789abcdef0", "snap-0123abcd"] {
            b.validate_handle(ok).unwrap();
        }
        for bad in [
            "",
            "snap-",
            "snap-0123456789ABCDEF0",
            "snap-0123456789abcdef",
            "snap-0123456789abcdef00",
            "snap-0123abcg",
            "vol-0123456789abcdef0",
            "aws/snap-0123456789abcdef0",
            "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0",
        ] {
            let e = b.validate_handle(bad).unwrap_err();
            assert!(matches!(e, Error::InvalidInput { .. }), "{bad}: {e:?}");
            let msg = e.to_string();
            assert!(
                msg.contains("snap-0123456789abcdef0"),
                "shows the form: {msg}"
            );
            assert!(msg.contains(EBS_DRIVER), "{msg}");
        }
    }

    #[test]
    fn csi_volume_handle_is_the_volume_id() {
        let b = EbsManifests::new();
        let d = b
            .disk_from_pv(&csi(EBS_DRIVER, "vol-0123456789abcdef0"))
            .unwrap();
        assert_eq!(d.id, "vol-0123456789abcdef0");
        assert_eq!(d.location, None);
        assert_eq!(d.attributes.get(ATTR_PV_NAME).unwrap(), "pvc-1234");

        let e = b.disk_from_pv(&csi(EBS_DRIVER, "disk-1")).unwrap_err();
        assert!(e.to_string().contains("vol-0123456789abcdef0"), "{e}");
        let e = b
            .disk_from_pv(&csi("pd.csi.storage.gke.io", "vol-0123456789abcdef0"))
            .unwrap_err();
        assert!(e.to_string().contains("pd.csi.storage.gke.io"), "{e}");
    }

    #[test]
    fn csi_zone_comes_from_topology() {
        let mut p = csi(EBS_DRIVER, "vol-0123456789abcdef0");
        p.metadata.labels = Some(
            [(
                "topology.kubernetes.io/zone".to_string(),
                "us-east-1c".to_string(),
            )]
            .into(),
        );
        let d = EbsManifests.disk_from_pv(&p).unwrap();
        assert_eq!(d.location.as_deref(), Some("us-east-1c"));
    }

    #[test]
    fn in_tree_volume_ids() {
        let b = EbsManifests::new();
        let d = b.disk_from_pv(&in_tree("vol-0123456789abcdef0")).unwrap();
        assert_eq!((d.id.as_str(), d.location), ("vol-0123456789abcdef0", None));
        let d = b
            .disk_from_pv(&in_tree("aws://us-west-2b/vol-0123abcd"))
            .unwrap();
        assert_eq!(d.id, "vol-0123abcd");
        assert_eq!(d.location.as_deref(), Some("us-west-2b"));
        let d = b
            .disk_from_pv(&in_tree("aws:///vol-0123456789abcdef0"))
            .unwrap();
        assert_eq!(d.location, None);
        for bad in [
            "aws://us-west-2b/",
            "aws://us-west-2b",
            "vol-XYZ",
            "gcp://zone/vol-0123abcd",
        ] {
            let e = b.disk_from_pv(&in_tree(bad)).unwrap_err();
            assert!(
                e.to_string().contains("aws://<availability zone>/vol-"),
                "{e}"
            );
        }
    }

    #[test]
    fn other_volume_sources_are_refused() {
        let e = EbsManifests
            .disk_from_pv(&pv(PersistentVolumeSpec::default()))
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }));
        assert!(e.to_string().contains("awsElasticBlockStore"), "{e}");
    }
}
