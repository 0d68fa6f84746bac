//! What a delivery's actions do to the App: cached answers the event made stale are dropped
//! at once; work to do and facts only webhooks tell are stored, committed before the delivery
//! is answered.

use std::time::Duration;

use super::App;
use super::batcher::IntakeError;
use super::events::Action;
use super::jobs::{Job, PrRef};
use crate::github::RepoName;
use crate::store::{Accepted, Delivery, Fact, Subject};

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Stored: `jobs` pieces of work (0: only facts) will be done.
    Stored { jobs: usize },
    /// The same delivery (by `X-GitHub-Delivery`) was stored before, by any replica.
    Duplicate,
    /// The delivery asks for nothing.
    Nothing,
    /// More PRs are pending than `REVIEWGATE_QUEUE_CAPACITY`: refused, GitHub records it.
    Full,
}

impl App {
    /// Applies a delivery's actions; see the module documentation.
    pub async fn take(
        &self,
        delivery_id: &str,
        actions: Vec<Action>,
    ) -> Result<Taken, IntakeError> {
        let mut delivery = Delivery {
            id: delivery_id.to_string(),
            ..Delivery::default()
        };
        for action in actions {
            self.take_one(action, &mut delivery).await?;
        }
        if delivery.work.is_empty() && delivery.facts.is_empty() {
            return Ok(Taken::Nothing);
        }
        let jobs = delivery.work.len();
        // Capacity bounds evaluations; an audit event is never refused for it (a merge
        // refused here could be lost from the trail if GitHub's redelivery is not asked for).
        let evaluations = delivery
            .work
            .iter()
            .filter(|w| w.subject != Subject::Audit)
            .count();
        if evaluations > 0 && self.store.pending() >= self.settings.queue_capacity as u64 {
            return Ok(Taken::Full);
        }
        match self.intake.accept(delivery).await? {
            Accepted::Duplicate => Ok(Taken::Duplicate),
            Accepted::New => {
                if jobs > 0 {
                    self.wake.notify_one();
                }
                Ok(Taken::Stored { jobs })
            }
        }
    }

    async fn take_one(&self, action: Action, delivery: &mut Delivery) -> Result<(), IntakeError> {
        let debounce = self.settings.debounce;
        match action {
            Action::Enqueue(job) => delivery.work.push(job.work_item(debounce)),
            Action::EnqueueNow(job) => delivery.work.push(job.work_item(Duration::ZERO)),
            Action::EnqueueAfter(job, delay) => delivery.work.push(job.work_item(delay)),
            Action::RecordPusher {
                pr,
                login,
                head_sha,
            } => delivery.facts.push(Fact::Pusher {
                repo_id: pr.repo_id,
                pr: pr.number,
                login,
                head_sha,
            }),
            Action::PrClosed { pr } => delivery.facts.push(Fact::PrClosed {
                repo_id: pr.repo_id,
                pr: pr.number,
            }),
            Action::PrReopened { pr } => delivery.facts.push(Fact::PrReopened {
                repo_id: pr.repo_id,
                pr: pr.number,
            }),
            Action::Audit {
                installation,
                repo_id,
                repo,
                event,
            } => {
                let body = serde_json::to_string(&event).map_err(|e| {
                    IntakeError::Invalid(format!("audit event cannot be encoded: {e}"))
                })?;
                delivery.facts.push(Fact::AuditEvent { repo_id, body });
                let job = Job::Audit {
                    installation,
                    repo_id,
                    repo,
                };
                delivery.work.push(job.work_item(Duration::ZERO));
            }
            Action::BarReviewRequest { pr, reviewer } => {
                let Some(store) = self.store.ready() else {
                    return Err(IntakeError::Unavailable);
                };
                let barred = store.bar_review_request(pr.repo_id, pr.number, &reviewer);
                self.timed("bar_review_request", barred)
                    .await
                    .map_err(|e| IntakeError::Store(e.to_string()))?;
            }
            Action::ReevaluateOrg { org } => {
                let Some(store) = self.store.ready() else {
                    return Err(IntakeError::Unavailable);
                };
                let prs = self
                    .timed("prs_naming_org", store.prs_naming_org(&org))
                    .await
                    .map_err(|e| IntakeError::Store(e.to_string()))?;
                if !prs.is_empty() {
                    tracing::info!(
                        org,
                        prs = prs.len(),
                        "teams changed; re-evaluating pull requests that named them"
                    );
                }
                for record in prs {
                    let Some(repo) = RepoName::parse(&record.repo) else {
                        continue;
                    };
                    let pr = PrRef {
                        installation: record.installation,
                        repo_id: record.repo_id,
                        repo,
                        number: record.pr,
                    };
                    let job = Job::Pr { pr, head_sha: None };
                    delivery.work.push(job.work_item(Duration::ZERO));
                }
            }
            Action::ForgetTeam { org, slug } => match slug {
                Some(slug) => self.teams.invalidate(&org, &slug),
                None => self.teams.invalidate_org(&org),
            },
            Action::ForgetPermissions { installation, repo } => match (installation, repo) {
                (Some(inst), Some(repo)) => self.permissions.forget_repo(inst, &repo),
                (Some(inst), None) => self.permissions.forget_installation(inst),
                (None, _) => self.permissions.forget_all(),
            },
            Action::ForgetPolicy { repo, branch } => {
                tracing::info!(repo = %repo, branch = %branch, "policy may have changed");
                self.policies.forget_repo(&repo);
                self.github
                    .forget_conditional(&format!("{}/contents/", repo.api_path()));
            }
        }
        Ok(())
    }

    /// Stores work the App derived itself (a fan-out, a sweep): no delivery to de-duplicate.
    pub(super) async fn store_work(
        &self,
        jobs: Vec<Job>,
        delay: Duration,
    ) -> Result<(), IntakeError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let delivery = Delivery {
            id: String::new(),
            work: jobs.iter().map(|j| j.work_item(delay)).collect(),
            facts: Vec::new(),
        };
        self.intake.accept(delivery).await?;
        self.wake.notify_one();
        Ok(())
    }
}
