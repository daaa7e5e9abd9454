//! Each domain's error as an RFC 9457 problem: the kind (and so the status),
//! the detail the caller reads, and extra members naming what was wrong.
//! A server fault tells the caller nothing internal; its cause goes to the
//! request log with the request ([`super::request_log`]).

use super::problem::{ApiError, Kind};
use crate::api::packs::SIGNATURE_HEADER;
use crate::approvals::ApprovalError;
use crate::approvals::record::{RedeemRefused, VoteRefused};
use crate::catalog::upload::CatalogError;
use crate::compositions::resolve::ResolveError;
use crate::keys::SignatureError;
use crate::rollouts::steps::StepError;
use crate::state::StateError;
use crate::tenants::lifecycle::TenantError;
use crate::tenants::settings::SettingsError;
use crate::trace_log::checkpointer::CheckpointError;
use crate::trace_log::fleet_log::FleetKeyError;
use crate::trace_log::integrity::Unverified;
use crate::trace_log::pruner::PruneError;
use serde_json::json;
use warden_host::ComposeError;

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::TenantNotFound(_) => ApiError::new(Kind::NotFound, e.to_string()),
            StateError::ReservedLayer(_) => ApiError::new(Kind::InvalidComposition, e.to_string()),
            StateError::ConfigNotRecorded(_) => ApiError::new(Kind::Unavailable, e.to_string()),
            StateError::Resolve(e) => e.into(),
            StateError::Compose(e) => compose(e),
            StateError::Store(e) => e.into(),
            e @ (StateError::PackMissing(_)
            | StateError::PackNoLongerLoads { .. }
            | StateError::TenantKey { .. }) => ApiError::internal(e),
        }
    }
}

/// A composition that does not build: the document's fault (422), or the
/// server's when a pack could not even be run to check it (503).
fn compose(e: ComposeError) -> ApiError {
    match e {
        ComposeError::CheckFailed { .. } => ApiError::new(Kind::Unavailable, e.to_string()),
        ComposeError::Interrupted(_) => ApiError::internal(e),
        e => ApiError::new(Kind::InvalidComposition, e.to_string()),
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::Policy(e) => e.into(),
            ApprovalError::Stale { current, .. } => ApiError::new(
                Kind::VersionConflict,
                format!("{e}; re-read it and apply your change again"),
            )
            .with(json!({"current_version": current})),
            ApprovalError::NoPolicy(_) | ApprovalError::NotFound(_) => {
                ApiError::new(Kind::NotFound, e.to_string())
            }
            ApprovalError::Vote(v) => vote_refused(v),
            ApprovalError::Redeem(r) => {
                let code = match r {
                    RedeemRefused::NotApproved { .. } => "not-approved",
                    RedeemRefused::Redeemed(_) => "redeemed",
                    RedeemRefused::OtherAction(_) => "other-action",
                };
                ApiError::new(Kind::Conflict, r.to_string()).with(json!({"code": code}))
            }
            ApprovalError::Contended(_) => ApiError::new(Kind::Unavailable, e.to_string()),
            ApprovalError::NotRecorded(ref cause) => ApiError::new(
                Kind::Unavailable,
                "the change could not be recorded in the trace log; it was not made",
            )
            .caused_by(cause),
            ApprovalError::State(e) => e.into(),
            ApprovalError::Store(e) => e.into(),
        }
    }
}

/// A vote not taken: 403 when the caller may not vote on this step, 409
/// when the request's state refuses it, 422 for the vote's own fields; the
/// `code` member says which.
fn vote_refused(v: VoteRefused) -> ApiError {
    let (kind, code) = match &v {
        VoteRefused::NotEligible(_) => (Kind::Forbidden, "not-eligible"),
        VoteRefused::SelfApproval(_) => (Kind::Forbidden, "self-approval"),
        VoteRefused::Resolved(_) => (Kind::Conflict, "resolved"),
        VoteRefused::Late(_) => (Kind::Conflict, "deadline-passed"),
        VoteRefused::Twice(_) => (Kind::Conflict, "voted-already"),
        VoteRefused::ReasonRequired | VoteRefused::BadReason => {
            return ApiError::new(Kind::Unprocessable, v.to_string())
                .with(json!({"field": "reason"}));
        }
    };
    ApiError::new(kind, v.to_string()).with(json!({"code": code}))
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::TooLarge { .. } => ApiError::new(Kind::PayloadTooLarge, e.to_string()),
            CatalogError::Unsigned(_) => ApiError::new(
                Kind::SignatureRejected,
                format!("{e}: send a `{SIGNATURE_HEADER}` header (see `warden pack sign`)"),
            ),
            CatalogError::Signature(SignatureError::Malformed) => ApiError::new(
                Kind::SignatureRejected,
                format!("`{SIGNATURE_HEADER}` header: {e}"),
            ),
            CatalogError::Untrusted(_) | CatalogError::Signature(_) => {
                ApiError::new(Kind::SignatureRejected, e.to_string())
            }
            CatalogError::Invalid(e @ warden_host::LoadError::Interrupted(_)) => {
                ApiError::internal(e)
            }
            CatalogError::Invalid(e) => ApiError::new(Kind::InvalidPack, e.to_string()),
            CatalogError::Conflict {
                ref existing,
                ref uploaded,
                ..
            } => {
                let extra = json!({"existing_digest": existing, "uploaded_digest": uploaded});
                ApiError::new(Kind::Conflict, e.to_string()).with(extra)
            }
            CatalogError::State(e) => e.into(),
            CatalogError::Store(e) => e.into(),
        }
    }
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::BadVersion { .. } | StepError::BadStart(_) => {
                ApiError::new(Kind::Unprocessable, e.to_string())
            }
            StepError::NoSuchPack(_)
            | StepError::NoSuchVersion(_)
            | StepError::NoSuchRollout(_) => ApiError::new(Kind::NotFound, e.to_string()),
            StepError::NotAllowed(_) | StepError::AlreadyOpen(_) => {
                ApiError::new(Kind::Conflict, e.to_string())
            }
            StepError::Refused {
                ref incompatible, ..
            } => {
                let extra = json!({ "incompatible": incompatible });
                ApiError::new(Kind::Conflict, e.to_string()).with(extra)
            }
            StepError::Changed(_) => ApiError::new(Kind::VersionConflict, e.to_string()),
            StepError::State(e) => e.into(),
            StepError::Store(e) => e.into(),
        }
    }
}

impl From<TenantError> for ApiError {
    fn from(e: TenantError) -> Self {
        match e {
            TenantError::InvalidId(_) => {
                ApiError::new(Kind::Unprocessable, e.to_string()).with(json!({"field": "id"}))
            }
            TenantError::DisplayName(_) => ApiError::new(Kind::Unprocessable, e.to_string())
                .with(json!({"field": "display_name"})),
            TenantError::Settings(e) => e.into(),
            TenantError::Exists(_) => ApiError::new(Kind::Conflict, e.to_string()),
            TenantError::NotFound(_) => ApiError::new(Kind::NotFound, e.to_string()),
            e @ TenantError::Key { .. } => ApiError::internal(e),
            TenantError::State(e) => e.into(),
            TenantError::Store(e) => e.into(),
        }
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Store(e) => e.into(),
            e => ApiError::new(Kind::InvalidComposition, e.to_string()),
        }
    }
}

impl From<SettingsError> for ApiError {
    /// 422 with the field's path in the problem's `field` member.
    fn from(e: SettingsError) -> Self {
        let field = json!({ "field": &e.field });
        ApiError::new(Kind::Unprocessable, e.to_string()).with(field)
    }
}

impl From<CheckpointError> for ApiError {
    fn from(e: CheckpointError) -> Self {
        match e {
            CheckpointError::Tenant(e) => e.into(),
            CheckpointError::FleetKey(e) => e.into(),
            CheckpointError::Empty(_) => ApiError::new(Kind::NotFound, e.to_string()),
            CheckpointError::Unverified(e) => unverified(e),
            CheckpointError::Store(e) => e.into(),
            e @ (CheckpointError::Key { .. } | CheckpointError::Sign { .. }) => {
                ApiError::internal(e)
            }
        }
    }
}

/// A head that is not signed because its history does not verify: 409,
/// with the first fault in the problem's `fault` member.
fn unverified(e: Unverified) -> ApiError {
    match e {
        Unverified::Store(e) => e.into(),
        Unverified::Chain { ref fault, .. } => {
            let extra = json!({ "fault": fault });
            ApiError::new(Kind::LogDoesNotVerify, e.to_string()).with(extra)
        }
        e @ Unverified::BadCheckpoint { .. } => {
            ApiError::new(Kind::LogDoesNotVerify, e.to_string())
        }
    }
}

impl From<FleetKeyError> for ApiError {
    fn from(e: FleetKeyError) -> Self {
        match e {
            FleetKeyError::Store(e) => e.into(),
            e @ FleetKeyError::Key(_) => ApiError::internal(e),
        }
    }
}

impl From<PruneError> for ApiError {
    fn from(e: PruneError) -> Self {
        match e {
            PruneError::Tenant(e) => e.into(),
            PruneError::Checkpoint(e) => e.into(),
            PruneError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyError;

    fn problem(e: impl Into<ApiError>) -> (u16, String, Option<serde_json::Value>, bool) {
        let e = e.into();
        let p = e.problem();
        (p.status, p.detail, p.extra, e.cause.is_some())
    }

    #[test]
    fn the_caller_learns_what_it_can_fix() {
        let (status, detail, _, cause) = problem(StateError::TenantNotFound("acme".into()));
        assert_eq!(
            (status, detail.as_str(), cause),
            (404, "tenant `acme` not found", false)
        );

        let (status, detail, _, _) = problem(StateError::Resolve(ResolveError::NoMatch {
            pack: "treasury".into(),
            requirement: "^9".into(),
            available: "1.0.0".into(),
        }));
        assert_eq!(status, 422);
        assert!(
            detail.contains("`treasury`") && detail.contains("`^9`"),
            "{detail}"
        );

        let (status, detail, extra, _) = problem(SettingsError::new(
            "settings.trace.masking[0].pointer".into(),
            "must start with `/args/`".into(),
        ));
        assert_eq!(status, 422);
        assert!(
            detail.starts_with("`settings.trace.masking[0].pointer`"),
            "{detail}"
        );
        assert_eq!(
            extra,
            Some(json!({"field": "settings.trace.masking[0].pointer"}))
        );

        let (status, _, _, _) = problem(CheckpointError::Empty("acme".into()));
        assert_eq!(status, 404);

        let (status, _, extra, _) = problem(TenantError::InvalidId("Acme Corp".into()));
        assert_eq!((status, extra), (422, Some(json!({"field": "id"}))));

        let held = [("acme".to_owned(), "pack `x`: no version matches".to_owned())];
        let (status, detail, extra, _) = problem(StepError::Refused {
            pack: "treasury".into(),
            to: "2.0.0".into(),
            incompatible: held.into_iter().collect(),
        });
        assert_eq!(status, 409);
        assert!(detail.contains("tenants `acme` cannot build"), "{detail}");
        assert_eq!(
            extra,
            Some(json!({"incompatible": {"acme": "pack `x`: no version matches"}}))
        );

        let (status, detail, _, _) = problem(CatalogError::Unsigned("sha256:00".into()));
        assert_eq!(status, 422);
        assert!(detail.ends_with("send a `warden-signature` header (see `warden pack sign`)"));
    }

    #[test]
    fn a_server_fault_tells_the_caller_nothing_internal() {
        let key = StateError::TenantKey {
            tenant: "acme".into(),
            source: KeyError::Decrypt("acme".into()),
        };
        let fleet = FleetKeyError::Key(KeyError::Decrypt("_fleet".into()));
        let prune = PruneError::Checkpoint(CheckpointError::Sign {
            log: "acme".into(),
            message: "secret detail".into(),
        });
        for e in [
            ApiError::from(key),
            ApiError::from(fleet),
            ApiError::from(prune),
        ] {
            let (status, detail, extra, cause) = problem(e);
            assert_eq!(status, 500);
            assert_eq!(detail, "the server failed to handle this request");
            assert_eq!(extra, None);
            assert!(cause, "the cause must reach the request log");
        }
    }

    #[test]
    fn a_store_failure_keeps_its_mapping_through_every_domain() {
        let corrupt = || warden_store::corrupt("settings", "expected value");
        for e in [
            ApiError::from(StateError::Store(corrupt())),
            ApiError::from(ResolveError::Store(corrupt())),
            ApiError::from(CheckpointError::Store(corrupt())),
            ApiError::from(PruneError::Store(corrupt())),
        ] {
            assert_eq!(e.kind, Kind::Internal, "{e}");
            assert_eq!(
                e.cause.as_deref().map(String::as_str),
                Some("stored settings is corrupt: expected value")
            );
        }
    }

    #[test]
    fn only_the_servers_own_faults_are_not_covered_by_the_last_good_runtime() {
        assert!(StateError::PackMissing("sha256:00".into()).is_internal());
        assert!(StateError::Store(warden_store::corrupt("composition", "x")).is_internal());
        assert!(!StateError::ReservedLayer("fleet".into()).is_internal());
        assert!(!StateError::Resolve(ResolveError::NotInCatalog("treasury".into())).is_internal());
        assert!(!StateError::ConfigNotRecorded("the appender stopped".into()).is_internal());
    }
}
