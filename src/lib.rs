//! reviewgate: a GitHub App that gates merges on a review policy kept in the repository.
