//! The App's private key: where it comes from, that it is a private key, and who else can
//! read its file.

use secrecy::SecretString;

use super::{ConfigError, err};

const KEY_PATH: &str = "REVIEWGATE_PRIVATE_KEY_PATH";
const KEY_INLINE: &str = "REVIEWGATE_PRIVATE_KEY";

/// The App's private key and the setting it came from. A key file that others can read adds
/// a warning.
pub(super) fn read_private_key(
    get: &impl Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<(SecretString, &'static str), ConfigError> {
    match (get(KEY_PATH), get(KEY_INLINE)) {
        (Some(_), Some(_)) => Err(err(
            KEY_INLINE,
            "set either REVIEWGATE_PRIVATE_KEY or REVIEWGATE_PRIVATE_KEY_PATH, not both",
        )),
        (Some(path), None) => {
            let pem = std::fs::read_to_string(&path)
                .map_err(|e| err(KEY_PATH, format!("cannot read {path}: {e}")))?;
            check_key(&pem).map_err(|why| err(KEY_PATH, format!("{path}: {why}")))?;
            warnings.extend(key_file_warning(&path));
            Ok((SecretString::from(pem), KEY_PATH))
        }
        (None, Some(pem)) => {
            // Environments often flatten newlines; accept a PEM with literal "\n".
            let pem = if pem.contains("\\n") && !pem.contains('\n') {
                pem.replace("\\n", "\n")
            } else {
                pem
            };
            check_key(&pem).map_err(|why| err(KEY_INLINE, why))?;
            Ok((SecretString::from(pem), KEY_INLINE))
        }
        (None, None) => Err(err(
            KEY_PATH,
            "is not set (nor REVIEWGATE_PRIVATE_KEY); give the path of the App's private key (.pem)",
        )),
    }
}

/// Checks that a PEM is an RSA private key the JWT signer accepts, without saying anything
/// about its contents.
fn check_key(pem: &str) -> Result<(), String> {
    if pem.contains("-----BEGIN PUBLIC KEY-----") || pem.contains("-----BEGIN RSA PUBLIC KEY-----")
    {
        return Err("is a public key; give the App's private key (\"BEGIN RSA PRIVATE KEY\"), the .pem file GitHub downloads when you generate a private key".into());
    }
    match octocrab::EncodingKey::from_rsa_pem(pem.as_bytes()) {
        Ok(_) => Ok(()),
        Err(_) => Err("is not an RSA private key in PEM form (PKCS#1 \"BEGIN RSA PRIVATE KEY\" or PKCS#8 \"BEGIN PRIVATE KEY\")".into()),
    }
}

/// A warning when the key file can be read by anyone but its owner.
#[cfg(unix)]
fn key_file_warning(path: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    loose_key_mode(path, meta.mode() & 0o7777, meta.gid(), effective_gid())
}

#[cfg(not(unix))]
fn key_file_warning(_path: &str) -> Option<String> {
    None
}

/// The warning for a key file of mode `mode` owned by group `file_gid`, read by a process
/// whose effective group is `egid` (`None`: unknown).
///
/// One exception: Kubernetes mounts a Secret with group read (0440) for the pod's `fsGroup`,
/// which is then the file's group and the process's own. A group that is the process's alone
/// is no wider than the owner, so that case is not warned about, unless the group is root's
/// (0), which other processes share.
fn loose_key_mode(path: &str, mode: u32, file_gid: u32, egid: Option<u32>) -> Option<String> {
    let loose = mode & 0o077;
    let own_fs_group = loose == 0o040 && egid == Some(file_gid) && file_gid != 0;
    if loose == 0 || own_fs_group {
        return None;
    }
    Some(format!(
        "{KEY_PATH}: {path} has mode {:04o}, so users other than its owner can read the App's private key; make it owner-only with chmod 600 (or 0400)",
        mode & 0o7777
    ))
}

/// The process's effective group ID, from `/proc/self/status` (`Gid:` real, effective, ...).
fn effective_gid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let gids = status.lines().find_map(|l| l.strip_prefix("Gid:"))?;
    gids.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_read_is_fine_only_for_the_process_own_non_root_group() {
        let warns = |mode, file_gid, egid| loose_key_mode("k.pem", mode, file_gid, egid).is_some();
        // Kubernetes with fsGroup 65532: the Secret's file is 0440, group 65532, ours too.
        assert!(!warns(0o440, 65532, Some(65532)));
        assert!(!warns(0o640, 65532, Some(65532)));
        // Another group, root's group (shared), or an unknown own group: warned about.
        assert!(warns(0o440, 1000, Some(65532)));
        assert!(warns(0o640, 0, Some(0)));
        assert!(warns(0o440, 65532, None));
        // Anything more than group read: warned about whatever the group.
        assert!(warns(0o460, 65532, Some(65532)));
        assert!(warns(0o444, 65532, Some(65532)));
        assert!(!warns(0o600, 0, Some(0)));
        assert!(!warns(0o400, 1000, Some(65532)));
    }
}
