//! Who has approved, who is ignored and why, and who blocks: everything that depends on
//! reviews and commits but not on which files changed.

use std::collections::{HashMap, HashSet};

use crate::policy::{Group, Policy, Settings, is_bot};
use crate::snapshot::{Permission, ReviewState, Snapshot};

use super::verdict::{Blocker, Ignored, Reviewer};

/// Lower-cased login: GitHub logins compare case-insensitively.
pub(crate) fn key(login: &str) -> String {
    login.to_ascii_lowercase()
}

/// Team members from the snapshot, with keys and logins lower-cased.
pub(crate) struct Teams {
    members: HashMap<String, HashSet<String>>,
    /// Members in the order given, for listing who could approve.
    listed: HashMap<String, Vec<String>>,
}

impl Teams {
    pub(crate) fn new(snapshot: &Snapshot) -> Teams {
        let mut members: HashMap<String, HashSet<String>> = HashMap::new();
        let mut listed: HashMap<String, Vec<String>> = HashMap::new();
        for (team, logins) in &snapshot.teams {
            let team = team.trim_start_matches('@').to_ascii_lowercase();
            let set = members.entry(team.clone()).or_default();
            let list = listed.entry(team).or_default();
            for login in logins {
                if set.insert(key(login)) {
                    list.push(login.clone());
                }
            }
        }
        Teams { members, listed }
    }

    pub(crate) fn known(&self, team_key: &str) -> bool {
        self.members.contains_key(team_key)
    }

    pub(crate) fn members(&self, team_key: &str) -> &[String] {
        self.listed.get(team_key).map_or(&[], Vec::as_slice)
    }

    /// Whether a (lower-cased) login belongs to a group, by name or through a team.
    pub(crate) fn in_group(&self, group: &Group, login_key: &str) -> bool {
        group.users().any(|u| key(u) == login_key)
            || group.teams().any(|t| {
                self.members
                    .get(&t.key())
                    .is_some_and(|m| m.contains(login_key))
            })
    }
}

/// The review-derived facts of a PR.
pub(crate) struct ReviewFacts {
    pub(crate) reviewers: Vec<Reviewer>,
    /// Eligible approvers, as displayed logins, in the order they first reviewed.
    pub(crate) approvers: Vec<String>,
    pub(crate) blockers: Vec<Blocker>,
    /// Lower-cased logins who may not approve: the author, (unless allowed) contributors and
    /// pushers, and anyone known to lack write access.
    pub(crate) ineligible: HashSet<String>,
    /// Lower-cased logins already counted.
    pub(crate) counted: HashSet<String>,
}

/// Who wrote or pushed the PR and who may approve at all: the facts every review is judged by.
struct People {
    author: String,
    contributors: HashSet<String>,
    /// The current head's content fingerprint, when the file list is complete and the
    /// snapshot has one; earlier approvals carry over only to equal fingerprints.
    head_fingerprint: Option<String>,
    pushers: HashSet<String>,
    /// `None` when the snapshot gives no permissions (they are then not checked).
    permissions: Option<HashMap<String, Permission>>,
    settings: Settings,
}

impl People {
    fn new(policy: &Policy, snapshot: &Snapshot) -> People {
        People {
            author: key(&snapshot.author),
            // An update-branch merge brought only the base's changes: not a contribution.
            contributors: snapshot
                .commits
                .iter()
                .filter(|c| !snapshot.is_update_branch_merge(c))
                .flat_map(|c| [c.author.as_deref(), c.committer.as_deref()])
                .flatten()
                .map(key)
                .collect(),
            head_fingerprint: snapshot
                .file_list_complete()
                .then(|| snapshot.fingerprint_of(&snapshot.head_sha))
                .flatten(),
            pushers: snapshot.pushers.iter().map(|p| key(p)).collect(),
            permissions: snapshot
                .permissions
                .as_ref()
                .map(|m| m.iter().map(|(login, p)| (key(login), *p)).collect()),
            settings: policy.settings,
        }
    }

    /// Write access or better; unknown logins have none once permissions are known at all.
    fn can_write(&self, k: &str) -> bool {
        self.permissions
            .as_ref()
            .is_none_or(|m| m.get(k).is_some_and(|p| p.can_approve()))
    }

    /// Whether an approval on `commit` (not the head) still counts because the PR's own
    /// changes are the same on both: `Ok(())` when they are, else whether both fingerprints
    /// were known (and so the content is known to have changed).
    fn same_changes(&self, snapshot: &Snapshot, commit: &str) -> Result<(), bool> {
        if !self.settings.keep_approvals_when_unchanged {
            return Err(false);
        }
        match (&self.head_fingerprint, snapshot.fingerprint_of(commit)) {
            (Some(head), Some(then)) if *head == then => Ok(()),
            (Some(_), Some(_)) => Err(true),
            _ => Err(false),
        }
    }

    /// Why `login`'s approval (on `commit`) does not count, if it does not: the first of
    /// author, bot, no write access, contributor, pusher, stale.
    fn approval_ignored(&self, login: &str, commit: &str, head_sha: &str) -> Option<Ignored> {
        let k = key(login);
        let strict = !self.settings.contributors_can_approve;
        if k == self.author {
            Some(Ignored::Author)
        } else if is_bot(login) {
            Some(Ignored::Bot)
        } else if !self.can_write(&k) {
            Some(Ignored::NoWriteAccess)
        } else if strict && self.contributors.contains(&k) {
            Some(Ignored::Contributor)
        } else if strict && self.pushers.contains(&k) {
            Some(Ignored::Pusher)
        } else if self.settings.dismiss_stale_approvals && !commit.eq_ignore_ascii_case(head_sha) {
            Some(Ignored::Stale)
        } else {
            None
        }
    }

    /// Why `login`'s change request does not block, if it does not: only someone who could
    /// approve (not the author, not a bot, with write access) can block.
    fn block_ignored(&self, login: &str) -> Option<Ignored> {
        let k = key(login);
        if k == self.author {
            Some(Ignored::Author)
        } else if is_bot(login) {
            Some(Ignored::Bot)
        } else if !self.can_write(&k) {
            Some(Ignored::NoWriteAccess)
        } else {
            None
        }
    }

    /// Logins that could never approve, for leaving them out of "could unblock" lists.
    fn ineligible(&self) -> HashSet<String> {
        let mut out = HashSet::from([self.author.clone()]);
        if !self.settings.contributors_can_approve {
            out.extend(self.contributors.iter().cloned());
            out.extend(self.pushers.iter().cloned());
        }
        if let Some(m) = &self.permissions {
            out.extend(
                m.iter()
                    .filter(|(_, p)| !p.can_approve())
                    .map(|(k, _)| k.clone()),
            );
        }
        out
    }
}

/// A reviewer's latest standing: what their reviews, oldest first, amount to.
struct Standing {
    login: String,
    state: ReviewState,
    commit: String,
}

/// Reduces the review list to each reviewer's latest standing, in the order they first
/// reviewed. COMMENTED and PENDING change nothing; DISMISSED clears an earlier approval or
/// change request.
fn standings(snapshot: &Snapshot) -> Vec<Standing> {
    let mut order: Vec<String> = Vec::new();
    let mut standing: HashMap<String, Standing> = HashMap::new();
    for review in &snapshot.reviews {
        let k = key(&review.user);
        let entry = standing.entry(k.clone()).or_insert_with(|| {
            order.push(k.clone());
            Standing {
                login: review.user.clone(),
                state: ReviewState::Commented,
                commit: review.commit.clone(),
            }
        });
        match review.state {
            ReviewState::Approved | ReviewState::ChangesRequested => {
                entry.login = review.user.clone();
                entry.state = review.state;
                entry.commit = review.commit.clone();
            }
            ReviewState::Dismissed => {
                // GitHub dismisses in place: the dismissed review itself reads DISMISSED.
                entry.state = ReviewState::Dismissed;
                entry.commit = review.commit.clone();
            }
            ReviewState::Commented | ReviewState::Pending => {}
        }
    }
    order
        .into_iter()
        .filter_map(|k| standing.remove(&k))
        .collect()
}

/// Each reviewer's standing, who counts, who is ignored and why, and who blocks.
pub(crate) fn review_facts(policy: &Policy, snapshot: &Snapshot, teams: &Teams) -> ReviewFacts {
    let people = People::new(policy, snapshot);
    let mut facts = ReviewFacts {
        reviewers: Vec::new(),
        approvers: Vec::new(),
        blockers: Vec::new(),
        ineligible: people.ineligible(),
        counted: HashSet::new(),
    };
    for s in standings(snapshot) {
        let k = key(&s.login);
        let mut same_changes = false;
        let mut content_changed = false;
        let ignored = match s.state {
            ReviewState::Approved => {
                let mut why = people.approval_ignored(&s.login, &s.commit, &snapshot.head_sha);
                if why == Some(Ignored::Stale) {
                    match people.same_changes(snapshot, &s.commit) {
                        Ok(()) => {
                            why = None;
                            same_changes = true;
                        }
                        Err(changed) => content_changed = changed,
                    }
                }
                why
            }
            ReviewState::ChangesRequested if policy.settings.changes_requested_blocks => {
                people.block_ignored(&s.login)
            }
            _ => None,
        };
        let counted = s.state == ReviewState::Approved && ignored.is_none();
        if counted {
            facts.approvers.push(s.login.clone());
            facts.counted.insert(k.clone());
        }
        if policy.settings.changes_requested_blocks
            && s.state == ReviewState::ChangesRequested
            && ignored.is_none()
        {
            facts.blockers.push(Blocker {
                login: s.login.clone(),
                commit: s.commit.clone(),
            });
        }
        let groups = policy
            .groups
            .iter()
            .filter(|(_, g)| teams.in_group(g, &k))
            .map(|(name, _)| name.clone())
            .collect();
        facts.reviewers.push(Reviewer {
            login: s.login,
            state: s.state,
            commit: s.commit,
            counted,
            same_changes,
            content_changed,
            ignored,
            groups,
        });
    }
    facts
}
