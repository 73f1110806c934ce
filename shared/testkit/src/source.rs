//! Reading the workspace's own Rust sources, for the tests that check rules the type system
//! does not hold (no function asks whether it is a dry run, no import circle, no long function).

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, in no particular order.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    walk(dir, &mut out);
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust file without comments, string literals and character literals (what the
/// names and braces in it are); every line stays where it was.
pub fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut prev = ' ';
    // What a skipped literal held of the line structure.
    let keep_lines = |out: &mut String, c: char| {
        if c == '\n' {
            out.push('\n');
        }
    };
    while let Some(c) = chars.next() {
        let word_start = !(prev.is_alphanumeric() || prev == '_');
        prev = c;
        match c {
            // A raw string, `r"..."` or `r#"..."#`: to its closing quote and hashes.
            'r' if word_start && matches!(chars.peek(), Some('#' | '"')) => {
                let mut hashes = 0;
                while chars.peek() == Some(&'#') {
                    chars.next();
                    hashes += 1;
                }
                if chars.next() != Some('"') {
                    out.push('r');
                    continue;
                }
                let mut run: Option<usize> = None;
                out.push_str("\"\"");
                for c in chars.by_ref() {
                    keep_lines(&mut out, c);
                    run = match (c, run) {
                        ('"', _) => Some(0),
                        ('#', Some(n)) => Some(n + 1),
                        _ => None,
                    };
                    if run == Some(hashes) {
                        break;
                    }
                }
            }
            // A character literal (`'{'`, `'"'`, `'\''`); a lifetime (`'a`) stays.
            '\'' => {
                let mut ahead = chars.clone();
                let literal = matches!(
                    (ahead.next(), ahead.next()),
                    (Some('\\'), _) | (Some(_), Some('\''))
                );
                if !literal {
                    out.push('\'');
                    continue;
                }
                let mut escaped = false;
                for c in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '\'' {
                        break;
                    }
                }
                out.push_str("''");
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                out.push_str("\"\"");
                for c in chars.by_ref() {
                    keep_lines(&mut out, c);
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The functions in `code` (as [`code_only`] gives it) longer than `limit` lines, from their
/// `fn` line to their closing brace: `(name, first line, lines)`.
pub fn long_functions(code: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = vec![];
    for (i, line) in lines.iter().enumerate() {
        let Some(at) = line.find("fn ") else {
            continue;
        };
        if at > 0
            && line[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let name: String = line[at + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // The body opens at the first `{` after the signature, unless a `;` ends it first.
        let mut depth = 0usize;
        let mut opened = false;
        let mut end = None;
        'scan: for (j, l) in lines.iter().enumerate().skip(i) {
            let from = if j == i { at } else { 0 };
            for c in l[from..].chars() {
                match c {
                    ';' if !opened => break 'scan,
                    '{' => {
                        opened = true;
                        depth += 1;
                    }
                    '}' if opened => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(j);
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(end) = end
            && end + 1 - i > limit
        {
            out.push((name, i + 1, end + 1 - i));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_go_and_lines_stay() {
        let code = code_only("let a = \"{\n}\"; let b = '{'; let c = '\\''; fn f<'a>() {}\n// {");
        assert_eq!(
            code,
            "let a = \"\"\n; let b = ''; let c = ''; fn f<'a>() {}\n"
        );
    }

    #[test]
    fn a_long_function_is_measured_from_its_fn_to_its_brace() {
        let body = "    x();\n".repeat(5);
        let code = format!("fn short() {{}}\nfn long() {{\n{body}}}\nfn decl();\n");
        assert_eq!(long_functions(&code, 5), [("long".to_owned(), 2, 7)]);
        assert!(long_functions(&code, 7).is_empty());
    }
}
