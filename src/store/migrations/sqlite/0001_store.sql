-- reviewgate's store on SQLite. What each table means, and the semantics of every operation,
-- are documented in src/store/mod.rs; times are milliseconds since the Unix epoch.

-- The one counter: sequence numbers of work items and claim tokens. Never decreases, so a
-- key's sequence numbers keep growing after its row is finished and deleted.
CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('seq', 0);

-- X-GitHub-Delivery IDs seen, kept 7 days.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY NOT NULL,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX deliveries_received_at ON deliveries (received_at);

-- Pending work, one row per (repository, key); see WorkItem.
CREATE TABLE work (
    repo_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    installation INTEGER NOT NULL,
    repo TEXT NOT NULL,
    head_sha TEXT,
    seq INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    -- A PR evaluation is pending (not only merge groups).
    evaluate_pr INTEGER NOT NULL DEFAULT 0,
    -- A PR evaluation was asked for after the current claim was taken.
    evaluate_pr_again INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claim_token INTEGER,
    claimed_seq INTEGER,
    lease_until INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_failed_at INTEGER,
    PRIMARY KEY (repo_id, key)
);
CREATE INDEX work_due_at ON work (due_at);

-- Merge groups pending for a PR's key, with the sequence number at which each was (last) added.
CREATE TABLE work_merge_groups (
    repo_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    sha TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (repo_id, key, sha),
    FOREIGN KEY (repo_id, key) REFERENCES work (repo_id, key) ON DELETE CASCADE
);

-- The highest sequence number a check-run write for the PR covered.
CREATE TABLE pr_writes (
    repo_id INTEGER NOT NULL,
    pr INTEGER NOT NULL,
    written_seq INTEGER NOT NULL,
    written_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, pr)
);
CREATE INDEX pr_writes_written_at ON pr_writes (written_at);

-- Who pushed to each PR, from opened/synchronize deliveries.
CREATE TABLE pushers (
    repo_id INTEGER NOT NULL,
    pr INTEGER NOT NULL,
    login TEXT NOT NULL,
    PRIMARY KEY (repo_id, pr, login)
);

-- When a PR was closed; its facts go 30 days later unless it reopens (row deleted).
CREATE TABLE closed_prs (
    repo_id INTEGER NOT NULL,
    pr INTEGER NOT NULL,
    closed_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, pr)
);
CREATE INDEX closed_prs_closed_at ON closed_prs (closed_at);

-- Organisations (lower case) whose teams a PR's policy names.
CREATE TABLE pr_team_orgs (
    repo_id INTEGER NOT NULL,
    pr INTEGER NOT NULL,
    org TEXT NOT NULL,
    installation INTEGER NOT NULL,
    repo TEXT NOT NULL,
    PRIMARY KEY (repo_id, pr, org)
);
CREATE INDEX pr_team_orgs_org ON pr_team_orgs (org);

-- Named leases: work one replica at a time must do.
CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
