-- Audit evidence (issue 12), on PostgreSQL: decision, merge, push and checkpoint records, one
-- hash chain per repository. What each record means is in src/audit/record.rs; how they are
-- stored and read, in src/store/audit/. Times are milliseconds since the Unix epoch.

-- Every record. `body` is the record's JSON without `prev_hash`, `hash` and a decision's policy
-- text (kept once per blob in audit_policies); the other columns repeat fields of the body that
-- queries filter on, and `audit verify` checks that they still agree with it.
CREATE TABLE audit_records (
    id TEXT PRIMARY KEY NOT NULL,
    repository TEXT NOT NULL,
    -- Position in the repository's chain: 1, 2, 3, … (pruning removes a prefix).
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    pr BIGINT,
    base TEXT,
    head_sha TEXT,
    -- evaluated_at (decision), merged_at (merge), pushed_at (push), recorded_at (checkpoint).
    event_at BIGINT NOT NULL,
    policy_blob_sha TEXT,
    -- A decision's conclusion was success; a merge's gate_passed; false for the others.
    passed BOOLEAN NOT NULL,
    UNIQUE (repository, seq)
);
CREATE INDEX audit_records_recorded_at ON audit_records (repository, recorded_at);
CREATE INDEX audit_records_export ON audit_records (event_at, id) WHERE kind IN ('merge', 'push');
CREATE INDEX audit_records_decisions ON audit_records (event_at, id) WHERE kind = 'decision';
CREATE INDEX audit_records_heads ON audit_records (repository, head_sha, seq) WHERE kind = 'decision';
CREATE INDEX audit_records_policies ON audit_records (policy_blob_sha) WHERE kind = 'decision';
CREATE INDEX audit_records_checkpoints ON audit_records (repository, seq) WHERE kind = 'checkpoint';

-- Policy texts, once per git blob SHA. `last_used_at` (when a record last named it) keeps
-- pruning from deleting a text that a record being appended at that moment names.
CREATE TABLE audit_policies (
    blob_sha TEXT PRIMARY KEY NOT NULL,
    text TEXT NOT NULL,
    last_used_at BIGINT NOT NULL
);

-- Each chain's newest record: appenders serialise on this row, so a chain never forks.
CREATE TABLE audit_heads (
    repository TEXT PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

-- Which commits stored merges brought in (their merge commit and the PR's commits), to tell a
-- push of already-reviewed commits from an unreviewed one.
CREATE TABLE audit_merge_commits (
    repository TEXT NOT NULL,
    sha TEXT NOT NULL,
    record_id TEXT NOT NULL REFERENCES audit_records (id) ON DELETE CASCADE,
    PRIMARY KEY (repository, sha, record_id)
);
CREATE INDEX audit_merge_commits_record ON audit_merge_commits (record_id);

-- Merges and pushes received but not yet recorded: stored with their delivery (so a webhook
-- is answered only once its event is kept), consumed in the transaction that appends their
-- record. `id` keeps arrival order; `body` is the App's JSON.
CREATE TABLE audit_inbox (
    id BIGSERIAL PRIMARY KEY,
    repo_id BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX audit_inbox_repo ON audit_inbox (repo_id, id);
