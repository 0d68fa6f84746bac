//! The operator's documentation matches the binary (issue 15): docs/deploy.md's settings
//! table lists what `reviewgate serve --help` lists, with the same defaults; `doctor` takes
//! the same settings; and the `reviewgate` commands shown in docs/deploy.md and
//! docs/operations.md run.

mod store_support;
mod support;

use std::process::{Command, Output};

use support::fake_github::test_fixture;
use support::harness::{SECRET, fake_world, test_env};

fn reviewgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(args)
        .env_clear()
        .output()
        .expect("run reviewgate")
}

/// `(variable, default)` for each setting in a command's `--help`, in order.
fn help_settings(command: &str) -> Vec<(String, Option<String>)> {
    let out = reviewgate(&[command, "--help"]);
    assert!(out.status.success(), "{command} --help");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut settings = Vec::new();
    for line in text.lines() {
        let Some(at) = line.find("[env: ") else {
            continue;
        };
        let rest = &line[at + "[env: ".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let default = line.find("[default: ").map(|d| {
            let v = &line[d + "[default: ".len()..];
            v[..v.rfind(']').expect("closing bracket")].to_string()
        });
        settings.push((name, default));
    }
    settings
}

/// `(variable, default cell)` for each row of docs/deploy.md's settings table, in order.
fn documented_settings() -> Vec<(String, String)> {
    let path = format!("{}/docs/deploy.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("docs/deploy.md");
    let start = text
        .find("| Variable | Default | Meaning |")
        .expect("the settings table's header");
    text[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let name = cells[0]
                .trim_start_matches("| ")
                .trim_matches('`')
                .to_string();
            (name, cells[1].trim().to_string())
        })
        .collect()
}

#[test]
fn the_settings_table_and_help_list_the_same_settings_and_defaults() {
    let help = help_settings("serve");
    assert!(help.len() >= 28, "{help:?}");
    let documented = documented_settings();
    let documented_names: Vec<&String> = documented.iter().map(|(n, _)| n).collect();
    let help_names: Vec<&String> = help.iter().map(|(n, _)| n).collect();
    assert_eq!(
        documented_names, help_names,
        "docs/deploy.md's table and `serve --help` list the same settings, in the same order"
    );
    for ((name, cell), (_, default)) in documented.iter().zip(&help) {
        match default {
            Some(d) => assert_eq!(cell, &format!("`{d}`"), "{name}: default"),
            None => assert!(
                !cell.starts_with('`'),
                "{name}: no default in --help, but docs say {cell}"
            ),
        }
    }
    assert_eq!(
        help_settings("doctor"),
        help,
        "doctor takes serve's settings"
    );
}

#[test]
fn help_never_shows_a_secret_from_the_environment() {
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["serve", "--help"])
        .env_clear()
        .env("REVIEWGATE_WEBHOOK_SECRET", "hush-webhook")
        .env("REVIEWGATE_WEBHOOK_SECRET_PREVIOUS", "hush-previous")
        .env("REVIEWGATE_PRIVATE_KEY", "hush-key")
        .env("REVIEWGATE_DATABASE_URL", "postgres://u:hush-db@h/db")
        .env("REVIEWGATE_WORKERS", "7")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("hush"), "{text}");
    assert!(text.contains("[env: REVIEWGATE_WORKERS=7]"), "{text}");
}

#[test]
fn a_flag_is_checked_as_its_variable_is() {
    let out = reviewgate(&["serve", "--app-id", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "reviewgate: REVIEWGATE_APP_ID: must be a positive whole number, not \"abc\""
    );
    let key = test_fixture("test-app-key.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .args(["serve", "--listen", "localhost:8080"])
        .env_clear()
        .env("REVIEWGATE_APP_ID", "1")
        .env("REVIEWGATE_PRIVATE_KEY", &key)
        .env("REVIEWGATE_WEBHOOK_SECRET", SECRET)
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("reviewgate: REVIEWGATE_LISTEN: "), "{err}");
    assert!(err.contains("a hostname is not allowed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_listens_on_ipv6_when_told_to() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback");
        return;
    }
    let fake = fake_world().await;
    let port = std::net::TcpListener::bind("[::1]:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let listen = format!("[::1]:{port}");
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reviewgate"))
        .arg("serve")
        .env_clear()
        .envs(test_env(&fake))
        .env("REVIEWGATE_LISTEN", &listen)
        .env(
            "REVIEWGATE_DATABASE_URL",
            format!("sqlite:{}", dir.path().join("r.db").display()),
        )
        .spawn()
        .expect("serve");
    let url = format!("http://{listen}/healthz");
    let client = reqwest::Client::new();
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(r) = client.get(&url).send().await {
            answered = Some(r.status().as_u16());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answered, Some(200), "GET {url}");
}

/// The commands of a page's ```sh blocks (indented ones too): continuation lines joined,
/// comments dropped, each with the line its block starts on.
fn shell_commands(page: &str) -> Vec<(String, usize)> {
    let path = format!("{}/{page}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut out = Vec::new();
    // (line of the fence, its indentation, the block so far)
    let mut block: Option<(usize, usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let fence = line.trim_start().strip_prefix("```");
        match (&mut block, fence) {
            (None, Some("sh")) => block = Some((n + 1, indent, String::new())),
            (Some(_), Some(_)) => {
                let (at, _, body) = block.take().expect("open block");
                out.extend(commands_of(&body).into_iter().map(|c| (c, at)));
            }
            (Some((_, fence_indent, body)), None) => {
                // As rendered: a block in a list item loses the item's indentation.
                let cut = indent.min(*fence_indent);
                body.push_str(&line[cut..]);
                body.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// The commands of a shell block: `\` continuations and lines inside an open `"` joined, a
/// here-document kept with its command, comment lines dropped, whitespace collapsed.
fn commands_of(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut heredoc: Option<String> = None;
    for line in body.lines() {
        if let Some(end) = &heredoc {
            current.push('\n');
            current.push_str(line);
            if line.trim() == end {
                heredoc = None;
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(line.trim_end_matches('\\').trim_end());
        if let Some(at) = line.find("<<'") {
            let end = line[at + 3..].split('\'').next().unwrap_or("").to_string();
            heredoc = Some(end);
            continue;
        }
        let open_quote = current.matches('"').count() % 2 == 1;
        if !line.ends_with('\\') && !open_quote {
            let collapsed = current.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(collapsed);
            current.clear();
        }
    }
    assert!(
        current.is_empty(),
        "unfinished command in a shell block: {current}"
    );
    out
}

/// What a shown command is, and so who runs it.
enum Shown {
    /// `reviewgate ARGS` (also through `kubectl exec ... --`): run by this test.
    Reviewgate(Vec<String>),
    /// `kubectl ... --dry-run=client -o yaml | kubectl apply -f -`: run and validated by
    /// .ci/check-deploy.py, which has kubectl.
    KubectlDryRun,
    /// Needs what this machine does not have (a cluster, a registry, the App on GitHub, the
    /// pod's volume); the reason says which.
    Elsewhere(&'static str),
}

fn classify(command: &str) -> Option<Shown> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let reviewgate_args = |from: usize| -> Vec<String> {
        words[from..]
            .iter()
            .take_while(|w| !w.starts_with('#'))
            .map(|w| w.to_string())
            .collect()
    };
    if words[0] == "reviewgate" {
        return Some(Shown::Reviewgate(reviewgate_args(1)));
    }
    // `kubectl exec POD -- /usr/local/bin/reviewgate ARGS`: the command after `--`.
    if words[0] == "kubectl" && words.contains(&"exec") {
        if let Some(at) = words.iter().position(|w| *w == "--") {
            if words.get(at + 1).is_some_and(|w| w.ends_with("reviewgate")) {
                return Some(Shown::Reviewgate(reviewgate_args(at + 2)));
            }
        }
    }
    if words[0] == "kubectl" && command.contains("--dry-run=client -o yaml | kubectl apply -f -") {
        return Some(Shown::KubectlDryRun);
    }
    let reason = match words[0] {
        "kubectl" => {
            "a Kubernetes cluster (the objects are rendered and validated by .ci/check-deploy.py)"
        }
        "kustomize" => "the standalone kustomize binary editing the committed image digest",
        "docker" => "a Docker engine and a registry (the Dockerfile is linted by hadolint in CI)",
        "curl" if command.contains("localhost:8080/metrics") => {
            "a port-forward to a pod; the_verify_steps_hold checks the same metric line"
        }
        "curl" => "GitHub's App-manifest conversion with a one-time code",
        "jq" | "(umask" => "the app.json GitHub returns",
        "openssl" => "nothing here uses its random output",
        "sqlite3" => {
            "the pod's volume; run on a store's copy by the_sqlite_backup_commands_make_a_store_that_opens"
        }
        "pg_dump" | "pg_restore" | "psql" | "DATABASE_URL=\"$(kubectl" => {
            "the cluster's PostgreSQL"
        }
        "cd" | "mkdir" | "umask" | "mv" => "a step of the commands around it",
        _ => return None,
    };
    Some(Shown::Elsewhere(reason))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_shown_in_the_operator_docs_is_run_or_says_why_not() {
    let fake = fake_world().await;
    // A gated repository's checkout, where step 8 checks its policy: reviewgate's own example.
    let checkout = tempfile::tempdir().expect("dir");
    std::fs::create_dir(checkout.path().join(".github")).expect("mkdir");
    std::fs::copy(
        format!("{}/policy.toml", env!("CARGO_MANIFEST_DIR")),
        checkout.path().join(".github/review-policy.toml"),
    )
    .expect("copy the example policy");
    let mut ran = 0;
    for page in ["docs/deploy.md", "docs/operations.md"] {
        for (command, line) in shell_commands(page) {
            let at = format!("{page}:{line}: `{command}`");
            match classify(&command).unwrap_or_else(|| panic!("{at}: say how it is tested")) {
                Shown::Reviewgate(args) => {
                    let env = test_env(&fake);
                    let dir = checkout.path().to_path_buf();
                    let output = tokio::task::spawn_blocking(move || {
                        Command::new(env!("CARGO_BIN_EXE_reviewgate"))
                            .args(&args)
                            .current_dir(dir)
                            .env_clear()
                            .envs(env)
                            .output()
                            .expect("run")
                    })
                    .await
                    .expect("join");
                    assert!(
                        output.status.success(),
                        "{at}: exit {:?}\n{}\n{}",
                        output.status.code(),
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    ran += 1;
                }
                Shown::KubectlDryRun | Shown::Elsewhere(_) => {
                    if let Some(Shown::Elsewhere(reason)) = classify(&command) {
                        eprintln!("{at}: not run here: needs {reason}");
                    }
                    // What a command greps for must be what the App writes.
                    if let Some((_, pattern)) = command.split_once("| grep ") {
                        let pattern = pattern.trim().trim_matches('"');
                        let metrics = std::fs::read_to_string(format!(
                            "{}/docs/operations.md",
                            env!("CARGO_MANIFEST_DIR")
                        ))
                        .expect("operations.md");
                        assert!(
                            CREDENTIALS_LINE.contains(pattern)
                                || metrics.contains(&format!("| `{pattern}")),
                            "{at}: greps for {pattern:?}, which the App never writes"
                        );
                    }
                }
            }
        }
    }
    assert!(
        ran >= 2,
        "the docs show `reviewgate check` and `reviewgate doctor` ({ran} run)"
    );
}

/// The log line that proves the credentials work (docs/deploy.md, step 7).
const CREDENTIALS_LINE: &str = "GitHub accepted the App's credentials; ready";

/// Step 7 of docs/deploy.md: GitHub's ping is answered 200 and counted as
/// `{event="ping",outcome="ignored"}`, and the log has the line that proves the credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verify_steps_hold() {
    let fake = fake_world().await;
    let server = support::process::ServerProcess::start_logged(
        &fake,
        &[("REVIEWGATE_RECONCILE_INTERVAL", "0")],
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !server
        .log()
        .iter()
        .any(|l| l["message"] == CREDENTIALS_LINE)
    {
        assert!(std::time::Instant::now() < deadline, "{:?}", server.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let accepted = server
        .log()
        .into_iter()
        .find(|l| l["message"] == CREDENTIALS_LINE)
        .expect("line");
    assert_eq!(accepted["level"], "INFO");
    assert_eq!(accepted["app_id"], fake.app_id());
    let ping = support::webhooks::fixture("ping", "with-app_id.payload.json");
    assert_eq!(server.deliver("ping", &ping).await, 200);
    let metrics = server.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l
                == "reviewgate_webhook_deliveries_total{event=\"ping\",outcome=\"ignored\"} 1"),
        "{metrics}"
    );
    server.stop();
}

/// The one shown command of `page` that contains `needle`.
fn shown(page: &str, needle: &str) -> String {
    let found: Vec<String> = shell_commands(page)
        .into_iter()
        .map(|(c, _)| c)
        .filter(|c| c.contains(needle))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one command with {needle:?} in {page}: {found:?}"
    );
    found[0].clone()
}

/// Runs a shell command in `dir` with `env`; its standard output.
fn sh(command: &str, dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    let out = Command::new("bash")
        .args(["-c", command])
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// docs/operations.md, "Backup and restore": both SQLite commands make a copy that opens as a
/// store whose records verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_backup_commands_make_a_store_that_opens() {
    if !have("sqlite3") {
        eprintln!("skipped: no sqlite3 on this machine");
        return;
    }
    let db = store_support::sqlite().await;
    let live = db.url.trim_start_matches("sqlite:").to_string();
    for needle in [".backup '/backup/", "VACUUM INTO '/backup/"] {
        let backup = tempfile::tempdir().expect("dir");
        let command = shown("docs/operations.md", needle)
            .replace("/var/lib/reviewgate/reviewgate.db", &live)
            .replace("/backup/", &format!("{}/", backup.path().display()));
        sh(&command, backup.path(), &[]);
        let copies: Vec<_> = std::fs::read_dir(backup.path())
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(copies.len(), 1, "{command}: {copies:?}");
        let copy = format!("sqlite:{}", copies[0].display());
        let out = reviewgate(&["audit", "verify", "--database", &copy]);
        assert!(
            out.status.success(),
            "{command}: the copy does not verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    db.cleanup().await;
}

/// docs/operations.md, "Moving from SQLite to PostgreSQL", steps 3 and 4 as shown: the
/// pushers of open pull requests move, those of closed ones do not, rows already in
/// PostgreSQL stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_move_to_postgresql_carries_the_pushers_of_open_pull_requests() {
    if !have("sqlite3") || !have("psql") {
        eprintln!("skipped: sqlite3 or psql is not on this machine");
        return;
    }
    let Some(pg) = store_support::postgres().await else {
        return;
    };
    let lite = store_support::sqlite().await;
    let file = lite.url.trim_start_matches("sqlite:").to_string();
    let dir = tempfile::tempdir().expect("dir");
    sh(
        &format!(
            "sqlite3 {file} \"INSERT INTO pushers VALUES (1, 10, 'alice'), (1, 11, 'bob'); INSERT INTO closed_prs VALUES (1, 11, 0);\""
        ),
        dir.path(),
        &[],
    );
    let export = shown("docs/operations.md", "sqlite3 -csv");
    let export = export
        .split_once(" -- ")
        .map_or(export.as_str(), |(_, local)| local)
        .replace("/var/lib/reviewgate/reviewgate.db", &file);
    sh(&export, dir.path(), &[]);
    let import = shown("docs/operations.md", "\\copy import_pushers");
    let query = |sql: &str| {
        sh(
            &format!("psql \"$DATABASE_URL\" -qAt -c \"{sql}\""),
            dir.path(),
            &[("DATABASE_URL", &pg.url)],
        )
    };
    query("INSERT INTO pushers VALUES (2, 20, 'carol'), (1, 10, 'alice')");
    sh(&import, dir.path(), &[("DATABASE_URL", &pg.url)]);
    let rows = query("SELECT repo_id || '/' || pr || '/' || login FROM pushers ORDER BY 1");
    assert_eq!(
        rows.lines().collect::<Vec<_>>(),
        ["1/10/alice", "2/20/carol"]
    );
    lite.cleanup().await;
    pg.cleanup().await;
}

/// A key pasted as a flag's value, or where no flag expects it, never reaches the terminal:
/// a PEM starts with dashes, which clap would otherwise take for an unknown flag and quote.
#[test]
fn a_secret_on_a_mistyped_command_line_is_never_echoed() {
    let key = test_fixture("test-app-key.pem");
    let cases: Vec<Vec<&str>> = vec![
        vec!["serve", &key],
        vec!["serve", "--private-key", &key, "--bogus"],
        vec!["snapshot", "--private-key", &key, "acme/x#1", "--bogus"],
        vec!["doctor", "--webhook-secret", "hush-hush-1", "unexpected"],
        vec!["doctor", "--webhook-secret=hush-hush-1", "unexpected"],
        vec![
            "serve",
            "--database-url",
            "postgres://u:hush-pw@db/x",
            "extra",
        ],
    ];
    for args in cases {
        let out = reviewgate(&args);
        assert_eq!(out.status.code(), Some(2), "{:?}", &args[..1]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("MII") && !err.contains("PRIVATE KEY"),
            "{err}"
        );
        assert!(!err.contains("hush"), "{err}");
        assert!(
            err.contains("error:"),
            "clap still says what is wrong: {err}"
        );
    }
    // The key is taken as the flag's value, so a valid one gets as far as the settings' own
    // checks (here: no webhook secret), which never print values.
    let out = reviewgate(&["doctor", "--app-id", "1", "--private-key", &key]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  webhook secret: REVIEWGATE_WEBHOOK_SECRET: is not set"),
        "{text}"
    );
    assert!(!text.contains("MII"), "{text}");
}

/// GitHub's anchor for a heading: lower case, punctuation dropped (but `-` and `_`), spaces
/// as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every `(#anchor)` and `(page.md#anchor)` link in the docs and README lands on a heading.
#[test]
fn every_link_to_a_section_lands_on_one() {
    let root = env!("CARGO_MANIFEST_DIR");
    let pages: Vec<String> = std::fs::read_dir(format!("{root}/docs"))
        .expect("docs")
        .flatten()
        .map(|e| format!("docs/{}", e.file_name().to_string_lossy()))
        .chain(["README.md".to_string()])
        .filter(|p| p.ends_with(".md"))
        .collect();
    let anchors = |page: &str| -> Vec<String> {
        let text = std::fs::read_to_string(format!("{root}/{page}")).expect("page");
        let mut in_code = false;
        text.lines()
            .filter(|l| {
                if l.trim_start().starts_with("```") {
                    in_code = !in_code;
                }
                !in_code && l.starts_with('#')
            })
            .map(|l| slug(l.trim_start_matches('#')))
            .collect()
    };
    let mut broken = Vec::new();
    for page in &pages {
        let text = std::fs::read_to_string(format!("{root}/{page}")).expect("page");
        for (at, _) in text.match_indices("](") {
            let target: String = text[at + 2..].chars().take_while(|c| *c != ')').collect();
            let Some((file, anchor)) = target.split_once('#') else {
                continue;
            };
            if file.starts_with("http") {
                continue;
            }
            let dir = std::path::Path::new(page).parent().expect("dir");
            let linked = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file).to_string_lossy().replace("docs/../", "")
            };
            if !anchors(&linked).contains(&anchor.to_string()) {
                broken.push(format!("{page}: {target}"));
            }
        }
    }
    assert!(broken.is_empty(), "links to no heading: {broken:#?}");
}
