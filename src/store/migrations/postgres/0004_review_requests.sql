-- Review requests the App made, per PR: at most max_requests_per_requirement per requirement
-- over the PR's life, and never the same reviewer twice (a row is claimed before the request
-- is sent, so replicas never both ask; a claim whose request GitHub refused is deleted).
CREATE TABLE review_requests (
    repo_id BIGINT NOT NULL,
    pr BIGINT NOT NULL,
    reviewer TEXT NOT NULL,
    requirement TEXT NOT NULL,
    grp TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, pr, reviewer)
);

-- Reviewers whose request a person removed on a PR: never asked again there.
CREATE TABLE review_request_bars (
    repo_id BIGINT NOT NULL,
    pr BIGINT NOT NULL,
    reviewer TEXT NOT NULL,
    PRIMARY KEY (repo_id, pr, reviewer)
);
