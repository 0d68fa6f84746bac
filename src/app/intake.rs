//! What a delivery's actions do to the running App: queue work, record what only webhooks
//! tell, and drop cached answers the event made stale.

use super::App;
use super::events::Action;
use super::queue::Admission;

impl App {
    /// Applies one action; returns the queue's answer when it queued work.
    pub fn apply(&self, action: Action) -> Option<Admission> {
        match action {
            Action::Enqueue(job) => {
                tracing::debug!(?job, "queueing");
                Some(self.queue.push(job))
            }
            Action::EnqueueNow(job) => {
                tracing::debug!(?job, "queueing without debounce");
                Some(self.queue.push_now(job))
            }
            Action::RecordPusher { pr, login } => {
                self.pushers.record(&pr, &login);
                None
            }
            Action::ForgetTeam { org, slug } => {
                match slug {
                    Some(slug) => self.teams.invalidate(&org, &slug),
                    None => self.teams.invalidate_org(&org),
                }
                None
            }
            Action::ForgetPermissions { installation, repo } => {
                match (installation, repo) {
                    (Some(inst), Some(repo)) => self.permissions.forget_repo(inst, &repo),
                    (Some(inst), None) => self.permissions.forget_installation(inst),
                    (None, _) => self.permissions.forget_all(),
                }
                None
            }
            Action::ReevaluateOrg { org } => {
                self.reevaluate_org(&org);
                None
            }
            Action::ForgetPolicy { repo, branch } => {
                tracing::info!(repo = %repo, branch = %branch, "policy may have changed");
                self.policies.forget_repo(&repo);
                self.github
                    .forget_conditional(&format!("{}/contents/", repo.api_path()));
                None
            }
        }
    }
}
