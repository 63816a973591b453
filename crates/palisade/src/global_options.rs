//! docker's global options before the verb: `palisade -H unix:///x.sock run …` means
//! `palisade run -H unix:///x.sock …`. Each verb owns its `-H`/`--host` (a daemon binds it, a
//! client connects to it), so the options found before the verb are moved to just after the
//! verb's full path (`swarm init`, `service create`), where clap parses them as the verb's own.

/// Options accepted before the verb, each taking one value.
const GLOBAL: &[&str] = &["-H", "--host"];

/// `argv` with the global options in front of the verb moved behind it. Anything else is left
/// where it is, for clap to accept or refuse.
pub(crate) fn hoist(argv: Vec<std::ffi::OsString>, cli: &clap::Command) -> Vec<std::ffi::OsString> {
    let mut rest = argv.into_iter();
    let Some(program) = rest.next() else { return Vec::new() };
    let mut rest: Vec<std::ffi::OsString> = rest.collect();
    let mut hoisted = Vec::new();
    // Options before the first word that is not one of them.
    while let Some(first) = rest.first().and_then(|a| a.to_str()).map(str::to_owned) {
        if GLOBAL.contains(&first.as_str()) && rest.len() >= 2 {
            hoisted.extend(rest.drain(..2));
        } else if GLOBAL.iter().any(|g| g.starts_with("--") && first.starts_with(&format!("{g}="))) {
            hoisted.push(rest.remove(0));
        } else {
            break;
        }
    }
    if hoisted.is_empty() {
        return std::iter::once(program).chain(rest).collect();
    }
    // The verb's path: as long as the next word names a subcommand of the current one. The
    // verbs are built lazily (`defer`): build them all, only on this rare path.
    let mut built = cli.clone();
    built.build();
    let mut command = &built;
    let mut depth = 0;
    while let Some(next) = rest.get(depth).and_then(|a| a.to_str()) {
        match command.find_subcommand(next) {
            Some(sub) => {
                command = sub;
                depth += 1;
            }
            None => break,
        }
    }
    let tail = rest.split_off(depth);
    std::iter::once(program).chain(rest).chain(hoisted).chain(tail).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        clap::Command::new("p")
            .subcommand(clap::Command::new("run"))
            .subcommand(clap::Command::new("swarm").subcommand(clap::Command::new("init")))
    }

    fn hoisted(args: &[&str]) -> Vec<String> {
        let argv = args.iter().map(std::ffi::OsString::from).collect();
        hoist(argv, &cli()).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn options_before_the_verb_follow_its_full_path() {
        assert_eq!(hoisted(&["p", "-H", "unix:///s", "run", "bb"]), ["p", "run", "-H", "unix:///s", "bb"]);
        assert_eq!(hoisted(&["p", "--host=unix:///s", "swarm", "init", "--x"]), ["p", "swarm", "init", "--host=unix:///s", "--x"]);
        assert_eq!(hoisted(&["p", "run", "-H", "unix:///s"]), ["p", "run", "-H", "unix:///s"]);
        assert_eq!(hoisted(&["p", "-H"]), ["p", "-H"], "an option without its value is left for clap to refuse");
    }
}
