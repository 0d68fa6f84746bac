-- Content fingerprints of the heads the App evaluated, per PR: an approval given on an earlier
-- head still counts when the PR's own changes are the same on both (keep_approvals_when_unchanged).
CREATE TABLE head_fingerprints (
    repo_id BIGINT NOT NULL,
    pr BIGINT NOT NULL,
    head_sha TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    PRIMARY KEY (repo_id, pr, head_sha)
);

-- Which head each recorded push made: a push that only made an update-branch merge does not
-- make its sender a pusher. An empty head is a push whose head is not known, which always
-- makes a pusher: every push recorded before this table gets one.
CREATE TABLE pusher_heads (
    repo_id BIGINT NOT NULL,
    pr BIGINT NOT NULL,
    login TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    PRIMARY KEY (repo_id, pr, login, head_sha)
);

INSERT INTO pusher_heads (repo_id, pr, login, head_sha)
    SELECT repo_id, pr, login, '' FROM pushers;
