//! Variable interpolation as Compose does it: `$NAME`, `${NAME}`, `${NAME:-default}`,
//! `${NAME-default}`, `${NAME:?message}`, `${NAME?message}`, `${NAME:+alternative}`,
//! `${NAME+alternative}`, nested in defaults and alternatives, and `$$` for a literal `$`.
//!
//! It applies to the string scalars of a parsed document, never to its text, so a value can never
//! add keys: `"x\nprivileged: true"` stays one string. Keys are not interpolated, as in Compose.
//! As in Compose, a `$` followed by anything but a name, `{` or `$` is kept as written, and a `${`
//! that does not hold a well-formed reference is an error.

use serde_json::Value;

use super::Located;

/// What a braced reference does when its variable is unset or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `:-`: the default when unset or empty.
    DefaultIfEmpty,
    /// `-`: the default when unset.
    DefaultIfUnset,
    /// `:?`: an error when unset or empty.
    RequireNonEmpty,
    /// `?`: an error when unset.
    RequireSet,
    /// `:+`: the alternative when set and not empty, else nothing.
    AlternativeIfNonEmpty,
    /// `+`: the alternative when set, else nothing.
    AlternativeIfSet,
}

impl Operator {
    const SPELLINGS: [(&'static str, Operator); 6] = [
        (":-", Operator::DefaultIfEmpty),
        (":?", Operator::RequireNonEmpty),
        (":+", Operator::AlternativeIfNonEmpty),
        ("-", Operator::DefaultIfUnset),
        ("?", Operator::RequireSet),
        ("+", Operator::AlternativeIfSet),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Reference {
        name: String,
        operation: Option<(Operator, Vec<Piece>)>,
    },
}

/// One variable a string refers to, with what the reference says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
    pub operator: Option<Operator>,
    /// The text after the operator as written (`:-default`'s `default`), uninterpolated.
    pub argument: Option<String>,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn invalid(text: &str) -> String {
    format!("invalid interpolation format in `{text}`: write `$$` for a literal `$`")
}

/// Where the `}` closing a `${` that starts at `open` is: nested `${` count, other braces do not.
fn closing_brace(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// How deep references may nest in defaults and alternatives (`${A:-${B:-...}}`).
const MAX_NESTING: usize = 16;

fn parse(text: &str) -> Result<Vec<Piece>, String> {
    parse_nested(text, 0)
}

fn parse_nested(text: &str, depth: usize) -> Result<Vec<Piece>, String> {
    if depth > MAX_NESTING {
        return Err(format!("references nest more than {MAX_NESTING} levels deep"));
    }
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        literal.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.chars().next() {
            Some('$') => {
                literal.push('$');
                rest = &after[1..];
            }
            Some(c) if is_name_start(c) => {
                let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
                pieces.push(Piece::Reference {
                    name: after[..end].to_string(),
                    operation: None,
                });
                rest = &after[end..];
            }
            Some('{') => {
                let close = closing_brace(rest, at).ok_or_else(|| invalid(text))?;
                let inner = &rest[at + 2..close];
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
                pieces.push(braced(inner, depth).ok_or_else(|| invalid(text))??);
                rest = &rest[close + 1..];
            }
            // A lone `$` (`$1`, `$ `, at the end) is kept, as Compose keeps it.
            _ => {
                literal.push('$');
                rest = after;
            }
        }
    }
    literal.push_str(rest);
    pieces.push(Piece::Text(literal));
    pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
    Ok(pieces)
}

/// The inside of `${...}`: `None` when it is not a name and an operator.
fn braced(inner: &str, depth: usize) -> Option<Result<Piece, String>> {
    if !inner.starts_with(is_name_start) {
        return None;
    }
    let end = inner.find(|c| !is_name_char(c)).unwrap_or(inner.len());
    let (name, tail) = inner.split_at(end);
    let operation = if tail.is_empty() {
        None
    } else {
        let (spelling, operator) = Operator::SPELLINGS.iter().find(|(s, _)| tail.starts_with(s))?;
        match parse_nested(&tail[spelling.len()..], depth + 1) {
            Ok(argument) => Some((*operator, argument)),
            Err(e) => return Some(Err(e)),
        }
    };
    Some(Ok(Piece::Reference {
        name: name.to_string(),
        operation,
    }))
}

fn evaluate(pieces: &[Piece], lookup: &dyn Fn(&str) -> Option<String>, out: &mut String) -> Result<(), String> {
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Reference { name, operation } => {
                let value = lookup(name);
                let set = value.is_some();
                let non_empty = value.as_deref().is_some_and(|v| !v.is_empty());
                match operation {
                    None => out.push_str(value.as_deref().unwrap_or_default()),
                    Some((operator, argument)) => match operator {
                        Operator::DefaultIfEmpty | Operator::DefaultIfUnset => {
                            let use_value = match operator {
                                Operator::DefaultIfEmpty => non_empty,
                                _ => set,
                            };
                            match value {
                                Some(v) if use_value => out.push_str(&v),
                                _ => evaluate(argument, lookup, out)?,
                            }
                        }
                        Operator::RequireNonEmpty | Operator::RequireSet => {
                            let present = match operator {
                                Operator::RequireNonEmpty => non_empty,
                                _ => set,
                            };
                            if !present {
                                let mut message = String::new();
                                evaluate(argument, lookup, &mut message)?;
                                return Err(match message.is_empty() {
                                    true => format!("required variable {name} is missing a value"),
                                    false => format!("required variable {name} is missing a value: {message}"),
                                });
                            }
                            out.push_str(value.as_deref().unwrap_or_default());
                        }
                        Operator::AlternativeIfNonEmpty | Operator::AlternativeIfSet => {
                            let alternative = match operator {
                                Operator::AlternativeIfNonEmpty => non_empty,
                                _ => set,
                            };
                            if alternative {
                                evaluate(argument, lookup, out)?;
                            }
                        }
                    },
                }
            }
        }
    }
    Ok(())
}

/// `text` with every reference replaced by `lookup`'s value; an unset variable without a
/// default is empty, as in Compose.
pub fn interpolate(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut out = String::with_capacity(text.len());
    evaluate(&parse(text)?, lookup, &mut out)?;
    Ok(out)
}

/// Every variable `text` refers to, nested ones included, in the order written.
pub fn references(text: &str) -> Result<Vec<Reference>, String> {
    fn collect(pieces: &[Piece], out: &mut Vec<Reference>) {
        for piece in pieces {
            if let Piece::Reference { name, operation } = piece {
                out.push(Reference {
                    name: name.clone(),
                    operator: operation.as_ref().map(|(o, _)| *o),
                    argument: operation.as_ref().map(|(_, argument)| unparse(argument)),
                });
                if let Some((_, argument)) = operation {
                    collect(argument, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    if text.contains('$') {
        collect(&parse(text)?, &mut out);
    }
    Ok(out)
}

/// `text` with the variables its references name renamed by `to` (others kept), everything
/// else as written.
pub fn rename(text: &str, to: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    fn walk(pieces: &mut [Piece], to: &dyn Fn(&str) -> Option<String>) {
        for piece in pieces {
            if let Piece::Reference { name, operation } = piece {
                if let Some(new) = to(name) {
                    *name = new;
                }
                if let Some((_, argument)) = operation {
                    walk(argument, to);
                }
            }
        }
    }
    if !text.contains('$') {
        return Ok(text.to_string());
    }
    let mut pieces = parse(text)?;
    walk(&mut pieces, to);
    Ok(unparse(&pieces))
}

/// Pieces back to the text they were parsed from (`$` escaped again).
fn unparse(pieces: &[Piece]) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t.replace('$', "$$")),
            Piece::Reference { name, operation: None } => out.push_str(&format!("${{{name}}}")),
            Piece::Reference {
                name,
                operation: Some((operator, argument)),
            } => {
                let spelling = Operator::SPELLINGS.iter().find(|(_, o)| o == operator).map(|(s, _)| *s);
                out.push_str(&format!(
                    "${{{name}{}{}}}",
                    spelling.unwrap_or_default(),
                    unparse(argument)
                ));
            }
        }
    }
    out
}

/// The document with every string scalar interpolated; each failure at its path.
pub fn interpolate_document(doc: &Value, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Value, Vec<Located>> {
    let mut value = doc.clone();
    let mut problems = Vec::new();
    super::document::for_each_string(&mut value, "", &mut |path, text| match interpolate(text, lookup) {
        Ok(done) => *text = done,
        Err(message) => problems.push(Located {
            path: path.to_string(),
            message,
        }),
    });
    match problems.is_empty() {
        true => Ok(value),
        false => Err(problems),
    }
}

/// Every reference in the document's string scalars with the path it is at; malformed ones as
/// problems.
pub fn document_references(doc: &Value) -> (Vec<(String, Reference)>, Vec<Located>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    super::document::for_each_string(&mut doc.clone(), "", &mut |path, text| match references(text) {
        Ok(refs) => found.extend(refs.into_iter().map(|r| (path.to_string(), r))),
        Err(message) => problems.push(Located {
            path: path.to_string(),
            message,
        }),
    });
    (found, problems)
}

#[cfg(test)]
mod tests;
