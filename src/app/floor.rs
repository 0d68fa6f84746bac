//! The policies that govern a pull request: its base branch's own, and the organisation's
//! floor — the policy file at the same path on the default branch of the organisation's policy
//! repository (`REVIEWGATE_ORG_POLICY_REPO`, default `.github`). A PR needs the union of both;
//! a repository without a policy of its own is governed by the floor alone, and the policy
//! repository's own PRs into its default branch by that one file, once.
//!
//! The floor is read with the PR's installation, so an organisation's floor binds only its
//! own repositories, and a floor the App cannot see (the App is not installed on the policy
//! repository) is no floor: docs/security.md says so.

use std::sync::Arc;

use super::App;
use crate::evaluate::{Floor, Verdict, evaluate_with_floor, repository_origin};
use crate::github::policy_source::{self, PolicyFile, PolicyLookup};
use crate::github::{GitHubError, RepoName};
use crate::policy::{Policy, PolicyErrors};
use crate::snapshot::Snapshot;

/// The organisation's policy as read for one evaluation.
#[derive(Debug, Clone)]
pub struct OrgFloor {
    /// How reports name the file: `acme/.github:.github/review-policy.toml`.
    pub origin: String,
    pub blob_sha: String,
    pub file: Arc<PolicyFile>,
}

/// The policies that govern a PR, as read (compiled, or why not).
#[derive(Debug, Clone)]
pub(super) struct Governing {
    /// The base branch's own policy: its blob SHA and the file.
    pub own: Option<(String, Arc<PolicyFile>)>,
    pub floor: Option<OrgFloor>,
}

/// A policy GitHub could not give: what, and why.
pub(super) struct Unread {
    pub what: String,
    pub error: GitHubError,
}

/// A governing policy that cannot be used: its errors, and whether it is the floor.
pub(super) struct Unusable {
    pub errors: PolicyErrors,
    pub floor: bool,
}

/// The governing policies, compiled and usable.
pub(super) struct Usable<'a> {
    pub own: Option<&'a Policy>,
    /// How reports name the repository's own file when a floor applies too.
    pub own_origin: String,
    pub floor: Option<(&'a Policy, &'a str)>,
}

impl Usable<'_> {
    /// Every governing policy: own first.
    pub fn policies(&self) -> Vec<&Policy> {
        self.own
            .into_iter()
            .chain(self.floor.map(|(p, _)| p))
            .collect()
    }

    /// The verdict under the union of the governing policies.
    pub fn evaluate(&self, snapshot: &Snapshot, policy_path: &str) -> Option<Verdict> {
        evaluate_with_floor(
            self.own.map(|p| (p, self.own_origin.as_str())),
            self.floor.map(|(policy, origin)| Floor { policy, origin }),
            snapshot,
            policy_path,
        )
    }

    /// Whether every governing policy lets contributors approve (then an incomplete commit
    /// list cannot hide a contributor who approved).
    pub fn contributors_can_approve(&self) -> bool {
        self.policies()
            .iter()
            .all(|p| p.settings.contributors_can_approve)
    }
}

impl Governing {
    pub fn is_empty(&self) -> bool {
        self.own.is_none() && self.floor.is_none()
    }

    /// The compiled policies, unless one is invalid or names teams the repository's
    /// installation must not read (another organisation's): the floor's problem first, as it
    /// fails every PR of the organisation.
    pub fn usable(&self, repo: &RepoName, policy_path: &str) -> Result<Usable<'_>, Unusable> {
        let floor = match &self.floor {
            Some(f) => Some((
                usable(&f.file.policy, repo, &f.origin).map_err(|errors| Unusable {
                    errors,
                    floor: true,
                })?,
                f.origin.as_str(),
            )),
            None => None,
        };
        let own =
            match &self.own {
                Some((_, file)) => Some(usable(&file.policy, repo, policy_path).map_err(
                    |errors| Unusable {
                        errors,
                        floor: false,
                    },
                )?),
                None => None,
            };
        let own_origin = repository_origin(
            &repo.to_string(),
            policy_path,
            floor.map(|(_, origin)| origin),
        );
        Ok(Usable {
            own,
            own_origin,
            floor,
        })
    }

    /// The blob SHA reports and the sweep key a PR's policy by: its own, else the floor's.
    pub fn blob_sha(&self) -> Option<String> {
        self.own
            .as_ref()
            .map(|(sha, _)| sha.clone())
            .or_else(|| self.floor.as_ref().map(|f| f.blob_sha.clone()))
    }
}

/// A compiled policy, unless it is invalid or names another organisation's teams.
pub fn usable<'p>(
    policy: &'p Result<Policy, PolicyErrors>,
    repo: &RepoName,
    origin: &str,
) -> Result<&'p Policy, PolicyErrors> {
    let policy = policy.as_ref().map_err(Clone::clone)?;
    let foreign = policy.foreign_teams(&repo.owner);
    if foreign.is_empty() {
        Ok(policy)
    } else {
        Err(PolicyErrors {
            origin: origin.to_string(),
            diagnostics: foreign,
        })
    }
}

impl App {
    /// The organisation's policy repository for `repo` (same owner).
    fn org_policy_repo(&self, repo: &RepoName) -> RepoName {
        RepoName {
            owner: repo.owner.clone(),
            name: self.settings.org_policy_repo.clone(),
        }
    }

    /// Whether `repo` is its organisation's policy repository.
    pub(super) fn is_org_policy_repo(&self, repo: &RepoName) -> bool {
        repo.name
            .eq_ignore_ascii_case(&self.settings.org_policy_repo)
    }

    /// The floor of `repo`'s organisation; `None` when its policy repository has no policy
    /// file on its default branch (or the App cannot see that repository).
    pub(super) async fn floor(
        &self,
        installation: u64,
        repo: &RepoName,
    ) -> Result<Option<OrgFloor>, Unread> {
        let org_repo = self.org_policy_repo(repo);
        let origin = format!("{org_repo}:{}", self.policy_path);
        let lookup = policy_source::load_default_branch(
            &self.github,
            &self.policies,
            installation,
            &org_repo,
            &self.policy_path,
            &origin,
        )
        .await;
        match lookup {
            Ok(PolicyLookup::Missing) => Ok(None),
            Ok(PolicyLookup::Found { blob_sha, file }) => Ok(Some(OrgFloor {
                origin,
                blob_sha,
                file,
            })),
            Err(error) => Err(Unread {
                what: format!("the organisation's review policy `{origin}`"),
                error,
            }),
        }
    }

    /// The policies that govern a PR of `repo` into `base`, read at once.
    pub(super) async fn governing(
        &self,
        installation: u64,
        repo: &RepoName,
        base: &str,
    ) -> Result<Governing, Unread> {
        // The policy comes from the base branch, never from the PR: a PR cannot loosen the
        // rules that judge it.
        let (own, floor) = tokio::join!(
            policy_source::load(
                &self.github,
                &self.policies,
                installation,
                repo,
                base,
                &self.policy_path
            ),
            self.floor(installation, repo),
        );
        let own = match own {
            Ok(PolicyLookup::Missing) => None,
            Ok(PolicyLookup::Found { blob_sha, file }) => Some((blob_sha, file)),
            Err(error) => {
                return Err(Unread {
                    what: "the review policy".into(),
                    error,
                });
            }
        };
        let mut floor = floor?;
        // The policy repository's PRs into its default branch: the floor is that very file.
        if self.is_org_policy_repo(repo)
            && let (Some((sha, _)), Some(f)) = (&own, &floor)
            && sha.eq_ignore_ascii_case(&f.blob_sha)
        {
            floor = None;
        }
        Ok(Governing { own, floor })
    }
}
