//! Tests of reading the settings.

use std::collections::HashMap;

use super::*;

const KEY: &str = include_str!("../../../tests/fixtures/test-app-key.pem");
const KEY8: &str = include_str!("../../../tests/fixtures/test-app-key.pkcs8.pem");

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

fn base() -> Vec<(&'static str, &'static str)> {
    vec![
        ("REVIEWGATE_APP_ID", "123"),
        ("REVIEWGATE_PRIVATE_KEY", KEY),
        ("REVIEWGATE_WEBHOOK_SECRET", "s3cret-value"),
    ]
}

#[test]
fn defaults() {
    let c = load(&base()).expect("valid");
    assert_eq!(c.app_id, 123);
    assert_eq!(c.github_api_url, "https://api.github.com");
    assert_eq!(c.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.policy_path, ".github/review-policy.toml");
    assert_eq!(c.check_name, "reviewgate");
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.webhook_secrets.len(), 1);
    assert_eq!(c.reconcile_interval, Duration::from_secs(600));
    assert_eq!(c.when_no_policy, WhenNoPolicy::Fail);
    assert_eq!(c.org_policy_repo, ".github");
}

#[test]
fn keys_in_either_pem_form_and_from_a_file() {
    let mut vars = base();
    vars[1] = ("REVIEWGATE_PRIVATE_KEY", KEY8);
    load(&vars).expect("PKCS#8");
    let flattened = KEY.replace('\n', "\\n");
    vars[1] = ("REVIEWGATE_PRIVATE_KEY", &flattened);
    load(&vars).expect("escaped newlines");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-app-key.pem"
    );
    vars[1] = ("REVIEWGATE_PRIVATE_KEY_PATH", path);
    load(&vars).expect("from file");
}

#[test]
fn each_problem_names_its_setting_and_never_the_secret() {
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![], "REVIEWGATE_APP_ID: is not set"),
        (
            vec![("REVIEWGATE_APP_ID", "abc")],
            "REVIEWGATE_APP_ID: must be a positive whole number",
        ),
        (
            vec![("REVIEWGATE_APP_ID", "0")],
            "REVIEWGATE_APP_ID: must be a positive whole number",
        ),
        (
            vec![("REVIEWGATE_APP_ID", "1")],
            "REVIEWGATE_PRIVATE_KEY_PATH: is not set",
        ),
        (
            vec![
                ("REVIEWGATE_APP_ID", "1"),
                ("REVIEWGATE_PRIVATE_KEY_PATH", "/nonexistent/key.pem"),
            ],
            "REVIEWGATE_PRIVATE_KEY_PATH: cannot read /nonexistent/key.pem",
        ),
        (
            vec![
                ("REVIEWGATE_APP_ID", "1"),
                (
                    "REVIEWGATE_PRIVATE_KEY",
                    "-----BEGIN RSA PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END RSA PRIVATE KEY-----",
                ),
            ],
            "REVIEWGATE_PRIVATE_KEY: is not an RSA private key",
        ),
        (
            vec![("REVIEWGATE_APP_ID", "1"), ("REVIEWGATE_PRIVATE_KEY", KEY)],
            "REVIEWGATE_WEBHOOK_SECRET: is not set",
        ),
        (
            vec![
                ("REVIEWGATE_APP_ID", "1"),
                ("REVIEWGATE_PRIVATE_KEY", KEY),
                ("REVIEWGATE_WEBHOOK_SECRET", ""),
            ],
            "REVIEWGATE_WEBHOOK_SECRET: is empty",
        ),
    ];
    for (vars, want) in cases {
        let e = load(&vars).expect_err(want).to_string();
        assert!(e.starts_with(want), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        assert!(
            !e.contains("TOPSECRET") && !e.contains("MII"),
            "no key material: {e}"
        );
    }
    let more: Vec<(&str, &str, &str)> = vec![
        (
            "REVIEWGATE_GITHUB_API_URL",
            "ftp://x",
            "REVIEWGATE_GITHUB_API_URL: must be an http(s) URL",
        ),
        (
            "REVIEWGATE_LISTEN",
            "8080",
            "REVIEWGATE_LISTEN: must be an address and port",
        ),
        (
            "REVIEWGATE_CHECK_NAME",
            " ",
            "REVIEWGATE_CHECK_NAME: must be a non-empty name",
        ),
        (
            "REVIEWGATE_POLICY_PATH",
            "dir/",
            "REVIEWGATE_POLICY_PATH: must be a file path",
        ),
        (
            "REVIEWGATE_ORG_POLICY_REPO",
            "acme/.github",
            "REVIEWGATE_ORG_POLICY_REPO: must be a repository name such as .github",
        ),
        (
            "REVIEWGATE_LOG_FORMAT",
            "xml",
            "REVIEWGATE_LOG_FORMAT: must be text or json",
        ),
        (
            "REVIEWGATE_WORKERS",
            "0",
            "REVIEWGATE_WORKERS: must be a whole number from 1 to 1024",
        ),
        (
            "REVIEWGATE_GITHUB_CONCURRENCY",
            "500",
            "REVIEWGATE_GITHUB_CONCURRENCY: must be a whole number from 1 to 90",
        ),
        (
            "REVIEWGATE_RECONCILE_INTERVAL",
            "soon",
            "REVIEWGATE_RECONCILE_INTERVAL: must be a duration",
        ),
        (
            "REVIEWGATE_WHEN_NO_POLICY",
            "neutral",
            "REVIEWGATE_WHEN_NO_POLICY: must be fail or skip",
        ),
    ];
    for (name, value, want) in more {
        let mut vars = base();
        vars.push((name, value));
        let e = load(&vars).expect_err(want).to_string();
        assert!(e.starts_with(want), "{e}");
        assert!(!e.contains("s3cret-value"));
    }
}

#[test]
fn a_webhook_secret_of_only_whitespace_is_refused() {
    for blank in [" ", "\t\n", "  \r\n  "] {
        let mut vars = base();
        vars[2] = ("REVIEWGATE_WEBHOOK_SECRET", blank);
        let e = load(&vars).expect_err("blank secret").to_string();
        assert!(e.starts_with("REVIEWGATE_WEBHOOK_SECRET: is empty"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
    let mut vars = base();
    vars.push(("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", " \n"));
    let c = load(&vars).expect("a blank previous secret is as good as none");
    assert_eq!(c.webhook_secrets.len(), 1, "and is never accepted");
}

#[test]
fn a_public_key_is_refused_naming_the_setting_used() {
    const PUBLIC: &str = include_str!("../../../tests/fixtures/test-app-key.pub.pem");
    // The same key in PKCS#1 form, "BEGIN RSA PUBLIC KEY".
    let pkcs1 = PUBLIC.replace("PUBLIC KEY", "RSA PUBLIC KEY");
    for pem in [PUBLIC.to_string(), pkcs1] {
        let mut vars = base();
        vars[1] = ("REVIEWGATE_PRIVATE_KEY", &pem);
        let e = load(&vars).expect_err("public key").to_string();
        assert!(
            e.starts_with("REVIEWGATE_PRIVATE_KEY: is a public key"),
            "{e}"
        );
        assert!(!e.contains('\n') && !e.contains("MII"), "{e}");
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/test-app-key.pub.pem"
    );
    let mut vars = base();
    vars[1] = ("REVIEWGATE_PRIVATE_KEY_PATH", path);
    let e = load(&vars).expect_err("public key file").to_string();
    assert!(
        e.starts_with(&format!(
            "REVIEWGATE_PRIVATE_KEY_PATH: {path}: is a public key"
        )),
        "{e}"
    );
}

#[test]
fn check_names_are_limited_to_100_characters_not_bytes() {
    let hundred = "é".repeat(100);
    let mut vars = base();
    vars.push(("REVIEWGATE_CHECK_NAME", &hundred));
    assert_eq!(load(&vars).expect("100 characters").check_name, hundred);
    let too_long = "é".repeat(101);
    let mut vars = base();
    vars.push(("REVIEWGATE_CHECK_NAME", &too_long));
    let e = load(&vars).expect_err("101 characters").to_string();
    assert!(
        e.starts_with("REVIEWGATE_CHECK_NAME: must be a non-empty name"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_gives_one_warning_line() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("key.pem");
    std::fs::write(&path, KEY).expect("write key");
    let path_str = path.to_str().expect("utf-8 path");
    let load_with_mode = |mode: u32| {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let mut vars = base();
        vars[1] = ("REVIEWGATE_PRIVATE_KEY_PATH", path_str);
        load(&vars).expect("a readable key is accepted").warnings
    };
    for mode in [0o644, 0o604, 0o666] {
        let warnings = load_with_mode(mode);
        assert_eq!(warnings.len(), 1, "{mode:o}: {warnings:?}");
        let w = &warnings[0];
        assert!(
            w.starts_with(&format!(
                "REVIEWGATE_PRIVATE_KEY_PATH: {path_str} has mode {mode:04o}"
            )),
            "{w}"
        );
        assert!(w.contains("chmod 600") && w.contains("0400") && !w.contains('\n'));
    }
    for mode in [0o600, 0o400] {
        assert_eq!(load_with_mode(mode), Vec::<String>::new(), "{mode:o}");
    }
    assert!(load(&base()).expect("valid").warnings.is_empty());
}

#[test]
fn optional_settings_are_read() {
    let mut vars = base();
    vars.extend([
        (
            "REVIEWGATE_GITHUB_API_URL",
            "https://ghe.example.com/api/v3/",
        ),
        ("REVIEWGATE_LISTEN", "127.0.0.1:9000"),
        ("REVIEWGATE_POLICY_PATH", "./review.toml"),
        ("REVIEWGATE_CHECK_NAME", "review policy"),
        ("REVIEWGATE_LOG_FORMAT", "json"),
        ("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", "old"),
        ("REVIEWGATE_RECONCILE_INTERVAL", "2m"),
    ]);
    let c = load(&vars).expect("valid");
    assert_eq!(c.github_api_url, "https://ghe.example.com/api/v3");
    assert_eq!(c.listen.port(), 9000);
    assert_eq!(c.policy_path, "review.toml");
    assert_eq!(c.check_name, "review policy");
    assert_eq!(c.log_format, LogFormat::Json);
    assert_eq!(c.webhook_secrets.len(), 2);
    assert_eq!(c.reconcile_interval, Duration::from_secs(120));
    assert!(
        !format!("{c:?}").contains("s3cret-value"),
        "Debug must not print secrets"
    );
    assert!(
        !format!("{c:?}").contains("MII"),
        "Debug must not print the key"
    );
}
