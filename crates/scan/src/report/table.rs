//! The terminal table: severity, ID, package, installed, fixed in, title.

use std::fmt::Write as _;

use super::Report;

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

pub(super) fn render(r: &Report) -> String {
    let mut out = String::new();
    let inv = &r.inventory;
    let os = inv.os.as_ref().map_or_else(|| "unknown OS".to_owned(), |o| if o.pretty_name.is_empty() { format!("{} {}", o.id, o.version_id) } else { o.pretty_name.clone() });
    let _ = writeln!(out, "{} ({os}): {} packages, {} findings", inv.target, inv.packages.len(), r.findings.len());
    if !r.findings.is_empty() {
        let rows: Vec<[String; 6]> = r
            .findings
            .iter()
            .map(|f| {
                let pkg = match f.package.source_name.as_deref() {
                    Some(src) if src != f.package.name => format!("{} ({src})", f.package.name),
                    _ => f.package.name.clone(),
                };
                [f.severity.to_string(), f.id.clone(), pkg, f.installed.clone(), f.fixed.clone().unwrap_or_default(), clip(&f.title, 60)]
            })
            .collect();
        let head = ["SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED IN", "TITLE"];
        let mut w = head.map(str::len);
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.chars().count());
                }
            }
        }
        let line = |cells: [&str; 6]| -> String {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let width = w.get(i).copied().unwrap_or(0);
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{c:<width$}  ");
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(head));
        for row in &rows {
            let _ = writeln!(out, "{}", line([&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]].map(String::as_str)));
        }
    }
    for i in &r.ignored {
        let _ = writeln!(out, "ignored {} in {}: {}", i.id, i.package, i.reason);
    }
    for w in &inv.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    out
}
