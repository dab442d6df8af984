//! Where in a compose document's text a problem points: the line an editor shows it at.
//!
//! Problems name paths in the parsed document (`services.web.ports[0]`); the text keeps its
//! own layout. This walks the block-style YAML people write by indentation, which is enough to
//! put a message beside its line; a path it cannot follow to the end gets the line of the
//! deepest part it found, and flow-style (`{...}`, `[...]`) values the line they start on.

/// The 1-based line `path` points at in `text`, or, for a problem without a path (a YAML
/// syntax error), the `line N` its message names.
pub fn line_of(text: &str, path: &str, message: &str) -> Option<usize> {
    if path.is_empty() {
        return line_in_message(message);
    }
    let mut block: Vec<Line> = lines(text).collect();
    let mut found = None;
    for step in steps(path) {
        let Some(at) = find(&block, &step) else { break };
        found = Some(block[at].number);
        block = children(&block, at, &step);
    }
    found
}

/// `line 12` in a parser's message (serde-saphyr writes `at line 12, column 3`).
fn line_in_message(message: &str) -> Option<usize> {
    let at = message.find("line ")? + "line ".len();
    let digits: String = message[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| *n > 0)
}

#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: usize,
    indent: usize,
    /// Without its indentation.
    text: &'a str,
}

impl Line<'_> {
    fn is_item(&self) -> bool {
        self.text == "-" || self.text.starts_with("- ")
    }
}

fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let text = raw.trim_start();
        let skip = text.is_empty() || text.starts_with('#') || text.starts_with("---");
        (!skip).then(|| Line {
            number: i + 1,
            indent: raw.len() - text.len(),
            text: text.trim_end(),
        })
    })
}

#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, indexes) = part.split_at(part.find('[').unwrap_or(part.len()));
        if !key.is_empty() {
            out.push(Step::Key(key));
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            if let Ok(n) = index.trim_end_matches(']').parse() {
                out.push(Step::Index(n));
            }
        }
    }
    out
}

/// The entry of `block` (the lines of one mapping or sequence) that `step` names.
fn find(block: &[Line], step: &Step) -> Option<usize> {
    let indent = block.first()?.indent;
    let mut entries = (0..block.len()).filter(|&i| block[i].indent == indent);
    match step {
        Step::Index(n) => entries.filter(|&i| block[i].is_item()).nth(*n),
        Step::Key(key) => entries.find(|&i| {
            let text = block[i].text;
            match text.strip_prefix("- ") {
                // `environment` as a list: `- KEY=value`.
                Some(item) => item.split('=').next() == Some(*key),
                None => names_key(text, key),
            }
        }),
    }
}

fn names_key(text: &str, key: &str) -> bool {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            text.strip_prefix(k.as_str())
                .is_some_and(|rest| rest == ":" || rest.starts_with(": "))
        })
}

/// The lines under the entry at `at`: deeper ones, or a sequence written at the key's own
/// indentation (`ports:` then `- "80:80"` below it, not indented); for an item, its first line
/// after the dash as well.
fn children<'a>(block: &[Line<'a>], at: usize, step: &Step) -> Vec<Line<'a>> {
    let entry = block[at];
    let rest = &block[at + 1..];
    let deeper = rest.iter().take_while(|l| l.indent > entry.indent);
    let mut out: Vec<Line> = Vec::new();
    if let (Step::Index(_), Some(first)) = (step, entry.text.strip_prefix("- ")) {
        out.push(Line {
            number: entry.number,
            indent: entry.indent + 2 + (first.len() - first.trim_start().len()),
            text: first.trim_start(),
        });
    }
    out.extend(deeper.copied());
    if out.is_empty() && !entry.is_item() {
        let level = rest
            .iter()
            .take_while(|l| l.indent > entry.indent || (l.indent == entry.indent && l.is_item()));
        out.extend(level.copied());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPOSE: &str = "\
# a comment
services:
  web:
    image: nginx:alpine
    ports:
      - \"8080:80\"
      - target: 443
        published: 8443
    environment:
      - MODE=prod
      - DEBUG
  db:
    image: postgres
    \"privileged\": true
    volumes:
    - data:/var/lib/postgresql/data
volumes:
  data: {}
";

    #[test]
    fn paths_point_at_their_lines() {
        let at = |path| line_of(COMPOSE, path, "");
        assert_eq!(at("services"), Some(2));
        assert_eq!(at("services.web.image"), Some(4));
        assert_eq!(at("services.web.ports[0]"), Some(6));
        assert_eq!(at("services.web.ports[1]"), Some(7));
        assert_eq!(at("services.web.ports[1].target"), Some(7));
        assert_eq!(at("services.web.ports[1].published"), Some(8));
        assert_eq!(at("services.web.environment.DEBUG"), Some(11));
        assert_eq!(at("services.db.image"), Some(13));
        assert_eq!(at("services.db.privileged"), Some(14));
        assert_eq!(at("services.db.volumes[0]"), Some(16));
        assert_eq!(at("volumes.data"), Some(18));
    }

    #[test]
    fn a_path_not_in_the_text_points_at_its_deepest_known_part() {
        assert_eq!(line_of(COMPOSE, "services.web.build", ""), Some(3));
        assert_eq!(line_of(COMPOSE, "services.web.ports[5]", ""), Some(5));
        assert_eq!(line_of(COMPOSE, "networks.front", ""), None);
        // `web` under `db` is not the top-level service.
        assert_eq!(line_of(COMPOSE, "services.db.web", ""), Some(12));
    }

    #[test]
    fn a_syntax_error_has_the_line_its_message_names() {
        assert_eq!(
            line_of("a: [", "", "not valid YAML: unexpected end at line 3, column 1"),
            Some(3)
        );
        assert_eq!(line_of("a: [", "", "not valid YAML: something"), None);
    }

    #[test]
    fn the_parsers_own_errors_name_their_line() {
        let text = "services:\n  web:\n    image: nginx\n    ports: [\"80:80\"\n  db:\n";
        let problems = crate::compose::parse(text, &crate::compose::Limits::default()).unwrap_err();
        let line = line_of(text, &problems[0].path, &problems[0].message);
        assert!(matches!(line, Some(4..=5)), "{line:?} for {problems:?}");
    }
}
