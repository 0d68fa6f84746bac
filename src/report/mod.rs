//! Verdicts rendered for people: plain text for the terminal, Markdown for the check run.
//! Both come from one renderer so they can never disagree about the facts.

mod explain;

pub use explain::{MAX_CHECK_OUTPUT_BYTES, markdown, text, truncate as truncate_for_check};
