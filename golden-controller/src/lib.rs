//! # golden-controller
//!
//! The declarative side of **golden**: a Kubernetes controller, built on
//! kube-runtime, that reconciles `golden.dev/v1alpha1` resources
//! ([`GoldenSnapshot`](golden_core::api::v1alpha1::GoldenSnapshot) and
//! [`GoldenClaim`](golden_core::api::v1alpha1::GoldenClaim)) into imports
//! with the [`golden_k8s::Golden`] library.

pub mod lease;
pub mod metrics;
