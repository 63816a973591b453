//! Search-filter templates with `{username}` and `{dn}` placeholders (RFC 4515).
//!
//! A template is parsed once, when the configuration is loaded, and rendered in a single pass:
//! each placeholder is replaced by its value escaped with [`ldap3::ldap_escape`], and the text
//! of a value is never scanned for placeholders again. So `alice)(uid=*`, `*` or `{dn}` typed
//! as a user name end up as literal assertion values and can neither widen the filter nor
//! inject another placeholder.

use std::fmt;

use ldap3::ldap_escape;

/// A value a template may refer to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// `{dn}`: the user's distinguished name.
    Dn,
    /// `{username}`: the user name (as typed for the user search, as stored for groups).
    Username,
}

impl Placeholder {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "dn" => Some(Self::Dn),
            "username" => Some(Self::Username),
            _ => None,
        }
    }
}

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Value(Placeholder),
}

/// A parsed filter template.
///
/// Invariant (enforced by [`FilterTemplate::parse`]): it uses at least one placeholder, only
/// the allowed ones, and renders to a filter that [`ldap3::parse_filter`] accepts whatever the
/// values are (escaped values are plain assertion text).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct FilterTemplate {
    text: String,
    parts: Vec<Part>,
}

impl FilterTemplate {
    /// Parses `text`, allowing only the placeholders in `allowed`.
    pub(crate) fn parse(text: &str, allowed: &[Placeholder]) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                return Err(format!("unmatched `}}` in {text:?}"));
            }
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in {text:?}"))?;
            let name = &after[..close];
            let placeholder = Placeholder::from_name(name)
                .filter(|p| allowed.contains(p))
                .ok_or_else(|| {
                    format!(
                        "unknown placeholder {{{name}}} in {text:?}; allowed: {}",
                        allowed
                            .iter()
                            .map(|p| match p {
                                Placeholder::Dn => "{dn}",
                                Placeholder::Username => "{username}",
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            parts.push(Part::Value(placeholder));
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Value(_))) {
            return Err(format!(
                "{text:?} uses no placeholder, so it cannot select a user"
            ));
        }
        let template = Self {
            text: text.to_owned(),
            parts,
        };
        // Values are escaped, so a sample with every special character checks the syntax for
        // all values.
        let sample = template.render("s*a(m)p\\le", "cn=s*a(m)p\\le,dc=example");
        if ldap3::parse_filter(&sample).is_err() {
            return Err(format!("{text:?} is not a valid LDAP filter (RFC 4515)"));
        }
        Ok(template)
    }

    /// Renders the filter with `username` and `dn`, each escaped (RFC 4515).
    pub(crate) fn render(&self, username: &str, dn: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + username.len() + dn.len());
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Value(Placeholder::Username) => out.push_str(&ldap_escape(username)),
                Part::Value(Placeholder::Dn) => out.push_str(&ldap_escape(dn)),
            }
        }
        out
    }
}

impl fmt::Debug for FilterTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: &[Placeholder] = &[Placeholder::Dn, Placeholder::Username];

    #[test]
    fn values_are_escaped() {
        let t = FilterTemplate::parse("(uid={username})", BOTH).unwrap();
        assert_eq!(t.render("alice)(uid=*", ""), r"(uid=alice\29\28uid=\2a)");
        assert_eq!(t.render("*", ""), r"(uid=\2a)");
        assert_eq!(t.render(r"a\b", ""), r"(uid=a\5cb)");
    }

    #[test]
    fn a_value_is_never_scanned_for_placeholders() {
        let t = FilterTemplate::parse("(|(member={dn})(memberUid={username}))", BOTH).unwrap();
        assert_eq!(
            t.render("{dn}", "uid=x,dc=t"),
            "(|(member=uid=x,dc=t)(memberUid={dn}))"
        );
    }

    #[test]
    fn bad_templates_are_refused() {
        let user = &[Placeholder::Username];
        assert!(FilterTemplate::parse("(uid=alice)", user).is_err());
        assert!(FilterTemplate::parse("(member={dn})", user).is_err());
        assert!(FilterTemplate::parse("(uid={user})", user).is_err());
        assert!(FilterTemplate::parse("(uid={username}", user).is_err());
        assert!(FilterTemplate::parse("(uid={username)", user).is_err());
        assert!(FilterTemplate::parse("(uid=}{username})", user).is_err());
        assert!(FilterTemplate::parse("uid={username})(", user).is_err());
    }

    #[test]
    fn active_directory_filters_parse() {
        let user = &[Placeholder::Username];
        let t = FilterTemplate::parse("(&(objectClass=user)(sAMAccountName={username}))", user)
            .unwrap();
        assert_eq!(
            t.render("bob", ""),
            "(&(objectClass=user)(sAMAccountName=bob))"
        );
    }
}
