//! Pure helpers of the QEMU set-up: apt sources (deb822 `.sources` and one-line `.list`),
//! `qemu-system-* --version` and the effective user id.

/// One apt source: a deb822 stanza or a one-line entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Source {
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// The `Signed-By` value as written (a key file path, or an inline key over several lines).
    pub signed_by: Option<String>,
    pub enabled: bool,
}

impl Source {
    /// Is this an enabled binary-package source for `suite`?
    pub fn serves(&self, suite: &str) -> bool {
        self.enabled
            && self.types.iter().any(|t| t == "deb")
            && self.suites.iter().any(|s| s == suite)
    }
}

/// Parses a deb822 `.sources` file: stanzas separated by blank lines, `Field: value`, values
/// continued on lines starting with a space or tab, `#` comment lines ignored.
pub fn parse_deb822(text: &str) -> Vec<Source> {
    let mut stanzas: Vec<Vec<(String, String)>> = Vec::new();
    let mut current: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
            continue;
        }
        if let Some((field, value)) = line.split_once(':') {
            current.push((field.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    if !current.is_empty() {
        stanzas.push(current);
    }
    stanzas
        .into_iter()
        .map(|fields| {
            let get = |name: &str| {
                fields
                    .iter()
                    .find(|(f, _)| f == name)
                    .map(|(_, v)| v.clone())
            };
            let words = |name: &str| {
                get(name)
                    .map(|v| v.split_whitespace().map(String::from).collect())
                    .unwrap_or_default()
            };
            Source {
                types: words("types"),
                uris: words("uris"),
                suites: words("suites"),
                components: words("components"),
                signed_by: get("signed-by"),
                enabled: get("enabled").is_none_or(|v| !v.eq_ignore_ascii_case("no")),
            }
        })
        .collect()
}

/// Parses a one-line `sources.list`: `deb [opt=value ...] URI SUITE COMPONENT...`.
pub fn parse_one_line(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((kind, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if kind != "deb" && kind != "deb-src" {
            continue;
        }
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                continue;
            };
            for option in options.split_whitespace() {
                if let Some(v) = option.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = after;
        }
        let mut words = rest.split_whitespace().map(String::from);
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        sources.push(Source {
            types: vec![kind.to_string()],
            uris: vec![uri],
            suites: vec![suite],
            components: words.collect(),
            signed_by,
            enabled: true,
        });
    }
    sources
}

/// The deb822 stanza adding `<suite>-backports` from the mirrors that already serve `suite`,
/// or `None` if no source serves `suite`.
pub fn backports_stanza(sources: &[Source], suite: &str) -> Option<String> {
    let serving: Vec<&Source> = sources.iter().filter(|s| s.serves(suite)).collect();
    let mut uris: Vec<&str> = Vec::new();
    for s in &serving {
        for u in &s.uris {
            if !uris.contains(&u.as_str()) {
                uris.push(u);
            }
        }
    }
    if uris.is_empty() {
        return None;
    }
    let mut text = format!(
        "# Added by `cargo xtask` (Axolotl): QEMU 10 comes from {suite}-backports.\n\
         Types: deb\nURIs: {}\nSuites: {suite}-backports\nComponents: main\n",
        uris.join(" ")
    );
    if let Some(key) = serving.iter().find_map(|s| s.signed_by.as_ref()) {
        text += &format!("Signed-By: {key}\n");
    }
    Some(text)
}

/// The major version in `qemu-system-* --version` output ("QEMU emulator version 10.0.2 ...").
pub fn qemu_major_version(version_output: &str) -> Option<u32> {
    let rest = version_output.split("version ").nth(1)?;
    rest.split(['.', ' ']).next()?.trim().parse().ok()
}

/// The effective user id from `/proc/self/status` ("Uid: real effective saved fs").
pub fn effective_uid(proc_status: &str) -> Option<u32> {
    proc_status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `VERSION_CODENAME` from `/etc/os-release`.
pub fn os_codename(os_release: &str) -> Option<String> {
    let value = os_release
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))?;
    Some(value.trim().trim_matches('"').to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN_SOURCES: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn deb822() {
        let s = parse_deb822(DEBIAN_SOURCES);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uris, ["http://deb.debian.org/debian"]);
        assert_eq!(s[0].suites, ["bookworm", "bookworm-updates"]);
        assert!(s[0].serves("bookworm"));
        assert!(!s[1].serves("bookworm"));
        assert_eq!(
            backports_stanza(&s, "bookworm").unwrap(),
            "# Added by `cargo xtask` (Axolotl): QEMU 10 comes from bookworm-backports.\n\
             Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        );
        assert_eq!(backports_stanza(&s, "trixie"), None);
    }

    #[test]
    fn deb822_continuations_and_disabled_stanzas() {
        let text = "Types: deb deb-src\nURIs: http://a/debian\n  http://b/debian\n\
                    Suites: bookworm\nComponents: main\nSigned-By:\n -----BEGIN PGP\n .\n -----END PGP\n\n\
                    Types: deb\nURIs: http://c/debian\nSuites: bookworm\nEnabled: no\n";
        let s = parse_deb822(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].uris, ["http://a/debian", "http://b/debian"]);
        assert_eq!(
            s[0].signed_by.as_deref(),
            Some("\n -----BEGIN PGP\n .\n -----END PGP")
        );
        assert!(!s[1].enabled);
        let stanza = backports_stanza(&s, "bookworm").unwrap();
        assert!(
            stanza.contains("URIs: http://a/debian http://b/debian\n"),
            "{stanza}"
        );
        assert!(
            stanza.ends_with("Signed-By: \n -----BEGIN PGP\n .\n -----END PGP\n"),
            "{stanza}"
        );
    }

    #[test]
    fn one_line() {
        let text = "# comment\n\
                    deb http://mirror.example/debian bookworm main contrib\n\
                    deb-src http://mirror.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/etc/k.gpg] https://m2.example/debian/ bookworm main # x\n\
                    deb http://security.debian.org/debian-security bookworm-security main\n\
                    garbage line\n";
        let s = parse_one_line(text);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].components, ["main", "contrib"]);
        assert_eq!(s[2].uris, ["https://m2.example/debian/"]);
        assert_eq!(s[2].signed_by.as_deref(), Some("/etc/k.gpg"));
        let stanza = backports_stanza(&s, "bookworm").unwrap();
        assert!(
            stanza.contains("URIs: http://mirror.example/debian https://m2.example/debian/\n"),
            "{stanza}"
        );
        assert!(stanza.contains("Signed-By: /etc/k.gpg\n"), "{stanza}");
        assert!(!s[1].serves("bookworm"), "deb-src is not a binary source");
    }

    #[test]
    fn versions_and_uids() {
        assert_eq!(
            qemu_major_version(
                "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright"
            ),
            Some(10)
        );
        assert_eq!(
            qemu_major_version("QEMU emulator version 7.2.15 (Debian)"),
            Some(7)
        );
        assert_eq!(qemu_major_version("something else"), None);
        assert_eq!(
            effective_uid("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t0\n"),
            Some(0)
        );
        assert_eq!(effective_uid("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid(""), None);
        assert_eq!(
            os_codename(
                "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\n"
            ),
            Some("bookworm".into())
        );
        assert_eq!(os_codename("ID=debian\n"), None);
    }
}
