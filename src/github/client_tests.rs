//! Tests of [`super`] (`github/client.rs`), kept beside it so the module itself stays short.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn rate_limits_are_recognised() {
    assert_eq!(
        rate_limit_wait(403, &headers(&[("retry-after", "7")]), b""),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        rate_limit_wait(429, &headers(&[]), b""),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        rate_limit_wait(
            403,
            &headers(&[]),
            br#"{"message":"You have exceeded a secondary rate limit"}"#
        ),
        Some(Duration::from_secs(60))
    );
    let soon = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 30;
    let wait = rate_limit_wait(
        403,
        &headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &soon.to_string()),
        ]),
        b"",
    )
    .expect("primary limit");
    assert!(
        wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28),
        "{wait:?}"
    );
    assert_eq!(
        rate_limit_wait(
            403,
            &headers(&[]),
            br#"{"message":"Resource not accessible by integration"}"#
        ),
        None
    );
    assert_eq!(
        rate_limit_wait(502, &headers(&[("retry-after", "1")]), b""),
        None
    );
}

#[test]
fn link_headers_announce_next_pages() {
    let r = |link: &str| Response {
        status: 200,
        headers: headers(&[("link", link)]),
        body: Bytes::new(),
        not_modified: false,
        endpoint: "x",
    };
    assert!(r(r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#).has_next_page());
    assert!(!r(r#"<https://api.github.com/x?page=1>; rel="first", <https://api.github.com/x?page=4>; rel="prev""#).has_next_page());
}

#[test]
fn backoff_grows_and_stays_bounded() {
    for attempt in 1..20 {
        let b = backoff(attempt);
        assert!(
            b >= Duration::from_millis(50) && b <= Duration::from_secs(8),
            "{b:?}"
        );
    }
}

#[test]
fn encoding() {
    assert_eq!(encode("release/1.x"), "release%2F1.x");
    assert_eq!(encode("a b+c#d"), "a%20b%2Bc%23d");
    assert_eq!(
        encode_path(".github/review policy.toml"),
        ".github/review%20policy.toml"
    );
}
