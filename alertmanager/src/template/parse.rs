//! Parsing templates: text and `{{ actions }}` into a tree of nodes.
//!
//! The language is the subset of Go's text/template that alerting rules
//! use: pipelines with `|`, variables (`$labels.job`), fields (`.Value`),
//! string, raw-string and number literals, parentheses, and `if`/`else if`/
//! `else`, `range`, `with`, `end`, variable declarations, comments and the
//! `{{-`/`-}}` whitespace trimmers; and for notification templates, named
//! templates: `define`, `template` and `block`.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, multispace0, none_of};
use nom::combinator::{opt, recognize};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Parser};

use super::funcs::is_function;

/// A template's tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: prints the result (unless it is a declaration).
    Action(Pipeline),
    If {
        cond: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `{{ template "name" pipeline }}`: runs a named template with the
    /// pipeline's value (nil without one) as `.` and `$`.
    Template {
        name: String,
        pipe: Option<Pipeline>,
    },
}

/// A parsed template text: its own nodes and the named templates it defines.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Parsed {
    pub nodes: Vec<Node>,
    pub defs: Vec<(String, Vec<Node>)>,
}

/// `[$a[, $b] :=] command | command …`
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipeline {
    pub decl: Vec<String>,
    /// `=` rather than `:=`: assigns an existing variable.
    pub assign: bool,
    pub cmds: Vec<Vec<Term>>,
}

/// One operand of a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    Func(String),
    /// `$name.f1.f2`; `$` alone is the root data.
    Var(String, Vec<String>),
    /// `.f1.f2`; `.` alone is the current data.
    Field(Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Paren(Box<Pipeline>, Vec<String>),
}

/// What an action holds, before blocks are assembled.
enum Action {
    Pipe(Pipeline),
    If(Pipeline),
    ElseIf(Pipeline),
    Else,
    End,
    Range(Pipeline),
    With(Pipeline),
    Comment,
    Define(String),
    Template(String, Option<Pipeline>),
    Block(String, Option<Pipeline>),
}

enum Token {
    Text(String),
    Action(Action),
}

/// Parses a template; errors name the problem and its byte offset.
pub(crate) fn parse(src: &str) -> Result<Parsed, String> {
    let tokens = lex(src)?;
    let mut raw_defs = Vec::new();
    let main = extract_defs(tokens, true, &mut raw_defs)?;
    let rule_vars = ["$", "$labels", "$externalLabels", "$externalURL", "$value"];
    let nodes = parse_tokens(main, &rule_vars)?;
    let mut defs = Vec::with_capacity(raw_defs.len());
    for (name, body) in raw_defs {
        // A named template sees only `$`, its argument.
        let body = parse_tokens(body, &["$"]).map_err(|e| format!("in {name:?}: {e}"))?;
        defs.push((name, body));
    }
    Ok(Parsed { nodes, defs })
}

fn parse_tokens(tokens: Vec<Token>, vars: &[&str]) -> Result<Vec<Node>, String> {
    let mut scopes = vec![vars.iter().map(|v| v.to_string()).collect()];
    let mut it = tokens.into_iter().peekable();
    let (nodes, end) = parse_list(&mut it, &mut scopes)?;
    match end {
        None => Ok(nodes),
        Some(_) => Err("unexpected {{end}} or {{else}}".into()),
    }
}

/// Takes `{{define}}` bodies (allowed at the top level only) and
/// `{{block}}` bodies (anywhere; the block becomes a `{{template}}` call)
/// out of a token stream.
fn extract_defs(
    tokens: Vec<Token>,
    top: bool,
    defs: &mut Vec<(String, Vec<Token>)>,
) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut it = tokens.into_iter();
    let mut depth = 0usize;
    while let Some(tok) = it.next() {
        match tok {
            Token::Action(Action::Define(name)) => {
                if !top || depth > 0 {
                    return Err(format!("unexpected {{{{define {name:?}}}}} inside a block"));
                }
                let body = block_body(&mut it, &name)?;
                let body = extract_defs(body, false, defs)?;
                defs.push((name, body));
            }
            Token::Action(Action::Block(name, pipe)) => {
                let body = block_body(&mut it, &name)?;
                let body = extract_defs(body, false, defs)?;
                defs.push((name.clone(), body));
                out.push(Token::Action(Action::Template(name, pipe)));
            }
            Token::Action(a @ (Action::If(_) | Action::Range(_) | Action::With(_))) => {
                depth += 1;
                out.push(Token::Action(a));
            }
            Token::Action(Action::End) => {
                depth = depth.saturating_sub(1);
                out.push(Token::Action(Action::End));
            }
            t => out.push(t),
        }
    }
    Ok(out)
}

/// The tokens up to the `{{end}}` closing a `define` or `block`.
fn block_body(it: &mut std::vec::IntoIter<Token>, name: &str) -> Result<Vec<Token>, String> {
    let mut depth = 0usize;
    let mut body = Vec::new();
    for tok in it.by_ref() {
        match &tok {
            Token::Action(
                Action::If(_)
                | Action::Range(_)
                | Action::With(_)
                | Action::Define(_)
                | Action::Block(..),
            ) => depth += 1,
            Token::Action(Action::End) if depth == 0 => return Ok(body),
            Token::Action(Action::End) => depth -= 1,
            _ => {}
        }
        body.push(tok);
    }
    Err(format!("unexpected EOF: missing {{{{end}}}} of {name:?}"))
}

enum BlockEnd {
    End,
    Else,
    ElseIf(Pipeline),
}

fn parse_list(
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    scopes: &mut Vec<Vec<String>>,
) -> Result<(Vec<Node>, Option<BlockEnd>), String> {
    let mut nodes = Vec::new();
    while let Some(tok) = it.next() {
        match tok {
            Token::Text(t) => nodes.push(Node::Text(t)),
            Token::Action(a) => match a {
                Action::Comment => {}
                Action::Define(name) | Action::Block(name, _) => {
                    return Err(format!("unexpected definition of {name:?} here"))
                }
                Action::Template(name, pipe) => {
                    if let Some(p) = &pipe {
                        check_pipeline(p, scopes)?;
                    }
                    nodes.push(Node::Template { name, pipe });
                }
                Action::Pipe(p) => {
                    check_pipeline(&p, scopes)?;
                    declare(&p, scopes);
                    nodes.push(Node::Action(p));
                }
                Action::End => return Ok((nodes, Some(BlockEnd::End))),
                Action::Else => return Ok((nodes, Some(BlockEnd::Else))),
                Action::ElseIf(p) => return Ok((nodes, Some(BlockEnd::ElseIf(p)))),
                Action::If(cond) => nodes.push(parse_if(cond, it, scopes)?),
                Action::Range(pipe) | Action::With(pipe) => {
                    let is_range = is_range_marker(&pipe);
                    let pipe = strip_range_marker(pipe);
                    let (body, end) = parse_scoped(&pipe, it, scopes)?;
                    let otherwise = match parse_otherwise(end, it, scopes)? {
                        Otherwise::Done(o) => o,
                        Otherwise::ElseIf(_) => {
                            return Err("{{else if}} is only allowed in {{if}}".into())
                        }
                    };
                    nodes.push(if is_range {
                        Node::Range {
                            pipe,
                            body,
                            otherwise,
                        }
                    } else {
                        Node::With {
                            pipe,
                            body,
                            otherwise,
                        }
                    });
                }
            },
        }
    }
    Ok((nodes, None))
}

// `range` and `with` share parsing; a marker command tells them apart.
const RANGE_MARKER: &str = "\u{0}range";

fn is_range_marker(p: &Pipeline) -> bool {
    p.cmds
        .last()
        .and_then(|c| c.last())
        .is_some_and(|t| *t == Term::Func(RANGE_MARKER.into()))
}

fn strip_range_marker(mut p: Pipeline) -> Pipeline {
    if is_range_marker(&p) {
        if let Some(c) = p.cmds.last_mut() {
            c.pop();
            if c.is_empty() {
                p.cmds.pop();
            }
        }
    }
    p
}

fn parse_if(
    cond: Pipeline,
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    scopes: &mut Vec<Vec<String>>,
) -> Result<Node, String> {
    let (then, end) = parse_scoped(&cond, it, scopes)?;
    let otherwise = match parse_otherwise(end, it, scopes)? {
        Otherwise::Done(o) => o,
        Otherwise::ElseIf(p) => vec![parse_if(p, it, scopes)?],
    };
    Ok(Node::If {
        cond,
        then,
        otherwise,
    })
}

/// The body of `if`, `range` or `with`: checks the pipeline, then parses up
/// to the block's end in a new scope holding its variables.
fn parse_scoped(
    pipe: &Pipeline,
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    scopes: &mut Vec<Vec<String>>,
) -> Result<(Vec<Node>, Option<BlockEnd>), String> {
    check_pipeline(pipe, scopes)?;
    scopes.push(Vec::new());
    declare(pipe, scopes);
    let parsed = parse_list(it, scopes);
    scopes.pop();
    parsed
}

/// What follows a block's body: nothing, an `{{else}}` part, or an
/// `{{else if}}` for the caller.
enum Otherwise {
    Done(Vec<Node>),
    ElseIf(Pipeline),
}

fn parse_otherwise(
    end: Option<BlockEnd>,
    it: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    scopes: &mut Vec<Vec<String>>,
) -> Result<Otherwise, String> {
    match end {
        Some(BlockEnd::End) => Ok(Otherwise::Done(Vec::new())),
        Some(BlockEnd::Else) => {
            scopes.push(Vec::new());
            let parsed = parse_list(it, scopes);
            scopes.pop();
            let (o, end) = parsed?;
            if !matches!(end, Some(BlockEnd::End)) {
                return Err("missing {{end}}".into());
            }
            Ok(Otherwise::Done(o))
        }
        Some(BlockEnd::ElseIf(p)) => Ok(Otherwise::ElseIf(p)),
        None => Err("unexpected EOF: missing {{end}}".into()),
    }
}

fn declare(p: &Pipeline, scopes: &mut [Vec<String>]) {
    if !p.assign {
        if let Some(scope) = scopes.last_mut() {
            scope.extend(p.decl.iter().cloned());
        }
    }
}

fn check_pipeline(p: &Pipeline, scopes: &[Vec<String>]) -> Result<(), String> {
    let defined = |v: &str| scopes.iter().any(|s| s.iter().any(|d| d == v));
    if p.assign {
        for v in &p.decl {
            if !defined(v) {
                return Err(format!("undefined variable \"{v}\""));
            }
        }
    }
    if p.cmds.is_empty() {
        return Err("missing value for command".into());
    }
    for cmd in &p.cmds {
        for (i, t) in cmd.iter().enumerate() {
            match t {
                Term::Func(f) if f == RANGE_MARKER => {}
                Term::Func(f) if !is_function(f) => {
                    return Err(format!("function \"{f}\" not defined"));
                }
                Term::Var(v, _) if !defined(v) => {
                    return Err(format!("undefined variable \"{v}\""));
                }
                Term::Paren(inner, _) => check_pipeline(inner, scopes)?,
                _ if i > 0 && matches!(cmd[0], Term::Func(_)) => {}
                _ if i > 0 && is_method_call(&cmd[0]) => {}
                _ if i > 0 => {
                    return Err(format!("can't give argument to non-function {:?}", cmd[0]))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// `.Labels.Remove …`: the one method notification templates call with
/// arguments.
pub(crate) fn is_method_call(t: &Term) -> bool {
    match t {
        Term::Field(f) | Term::Var(_, f) => f.last().is_some_and(|l| l == "Remove"),
        _ => false,
    }
}

fn lex(src: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = src;
    let mut offset = 0;
    loop {
        let Some(open) = rest.find("{{") else {
            if !rest.is_empty() {
                tokens.push(Token::Text(rest.to_string()));
            }
            break;
        };
        let mut text = &rest[..open];
        let mut inner = &rest[open + 2..];
        if let Some(after) = inner.strip_prefix("- ").or_else(|| {
            inner
                .strip_prefix('-')
                .filter(|a| a.starts_with(['\t', '\n', '\r']))
        }) {
            text = text.trim_end();
            inner = after;
        }
        if !text.is_empty() {
            tokens.push(Token::Text(text.to_string()));
        }
        let (content, trim_right, after) = split_action(inner)
            .ok_or_else(|| format!("unclosed action at offset {}", offset + open))?;
        let action = parse_action(content.trim())
            .map_err(|e| format!("at offset {}: {e}", offset + open))?;
        tokens.push(Token::Action(action));
        offset += rest.len() - after.len();
        rest = after;
        if trim_right {
            let trimmed = rest.trim_start();
            offset += rest.len() - trimmed.len();
            rest = trimmed;
        }
    }
    Ok(tokens)
}

/// Finds the end of an action, skipping `}}` inside string literals.
fn split_action(s: &str) -> Option<(&str, bool, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                let trim = i >= 2 && b[i - 1] == b'-' && b[i - 2].is_ascii_whitespace();
                let content = if trim { &s[..i - 1] } else { &s[..i] };
                return Some((content, trim, &s[i + 2..]));
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn parse_action(s: &str) -> Result<Action, String> {
    if s.starts_with("/*") {
        return if s.ends_with("*/") {
            Ok(Action::Comment)
        } else {
            Err("unclosed comment".into())
        };
    }
    let keyword = |k: &str| -> Option<&str> {
        s.strip_prefix(k)
            .filter(|r| r.is_empty() || r.starts_with(|c: char| c.is_whitespace() || c == '('))
    };
    if keyword("end").is_some_and(str::is_empty) {
        return Ok(Action::End);
    }
    if let Some(r) = keyword("else") {
        let r = r.trim();
        if r.is_empty() {
            return Ok(Action::Else);
        }
        if let Some(c) = r.strip_prefix("if") {
            return Ok(Action::ElseIf(pipeline(c)?));
        }
        return Err(format!("unexpected {r:?} in else"));
    }
    if let Some(r) = keyword("if") {
        return Ok(Action::If(pipeline(r)?));
    }
    if let Some(r) = keyword("range") {
        let mut p = pipeline(r)?;
        match p.cmds.last_mut() {
            Some(c) => c.push(Term::Func(RANGE_MARKER.into())),
            None => return Err("missing value for range".into()),
        }
        return Ok(Action::Range(p));
    }
    if let Some(r) = keyword("with") {
        return Ok(Action::With(pipeline(r)?));
    }
    for k in ["define", "template", "block"] {
        if let Some(r) = keyword(k) {
            let (rest, name) = preceded(
                multispace0,
                alt((string_literal, raw_string.map(|r: &str| r.to_string()))),
            )
            .parse(r)
            .map_err(|_| format!("{k}: the template name must be a quoted string"))?;
            let pipe = if rest.trim().is_empty() {
                None
            } else {
                Some(pipeline(rest)?)
            };
            return match (k, pipe) {
                ("define", None) => Ok(Action::Define(name)),
                ("define", Some(_)) => Err(format!("unexpected pipeline in define {name:?}")),
                ("template", pipe) => Ok(Action::Template(name, pipe)),
                (_, pipe) => Ok(Action::Block(name, pipe)),
            };
        }
    }
    Ok(Action::Pipe(pipeline(s)?))
}

fn pipeline(s: &str) -> Result<Pipeline, String> {
    match full_pipeline(s) {
        Ok((rest, p)) if rest.trim().is_empty() => Ok(p),
        Ok((rest, _)) => Err(format!("unexpected {:?} in command", rest.trim())),
        Err(_) => Err(format!("cannot parse {:?}", s.trim())),
    }
}

fn full_pipeline(s: &str) -> IResult<&str, Pipeline> {
    let (s, decl) = opt(declaration).parse(s)?;
    let (s, cmds) = pipe_commands(s)?;
    let (decl, assign) = decl.unwrap_or((Vec::new(), false));
    Ok((s, Pipeline { decl, assign, cmds }))
}

fn declaration(s: &str) -> IResult<&str, (Vec<String>, bool)> {
    let (s, first) = preceded(multispace0, variable_name).parse(s)?;
    let (s, second) = opt(preceded(
        (multispace0, char(','), multispace0),
        variable_name,
    ))
    .parse(s)?;
    let (s, op) = preceded(multispace0, alt((tag(":="), tag("=")))).parse(s)?;
    let mut names = vec![first.to_string()];
    names.extend(second.map(str::to_string));
    Ok((s, (names, op == "=")))
}

fn pipe_commands(s: &str) -> IResult<&str, Vec<Vec<Term>>> {
    let (s, first) = command(s)?;
    let (s, rest) = many0(preceded((multispace0, char('|')), command)).parse(s)?;
    let mut cmds = vec![first];
    cmds.extend(rest);
    Ok((s, cmds))
}

fn command(s: &str) -> IResult<&str, Vec<Term>> {
    let (s, first) = preceded(multispace0, term).parse(s)?;
    let (s, rest) = many0(preceded(multispace0, term)).parse(s)?;
    let mut terms = vec![first];
    terms.extend(rest);
    Ok((s, terms))
}

fn variable_name(s: &str) -> IResult<&str, &str> {
    recognize(pair(char('$'), take_while(is_ident_char))).parse(s)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn fields(s: &str) -> IResult<&str, Vec<String>> {
    many0(preceded(char('.'), take_while1(is_ident_char)))
        .map(|v: Vec<&str>| v.into_iter().map(str::to_string).collect())
        .parse(s)
}

fn term(s: &str) -> IResult<&str, Term> {
    alt((
        (variable_name, fields).map(|(v, f)| Term::Var(v.to_string(), f)),
        (
            delimited(char('('), full_pipeline, preceded(multispace0, char(')'))),
            fields,
        )
            .map(|(p, f)| Term::Paren(Box::new(p), f)),
        string_literal.map(Term::Str),
        raw_string.map(|r: &str| Term::Str(r.to_string())),
        number,
        preceded(char('.'), take_while1(is_ident_char))
            .and(fields)
            .map(|(first, mut rest)| {
                rest.insert(0, first.to_string());
                Term::Field(rest)
            }),
        char('.').map(|_| Term::Field(Vec::new())),
        take_while1(is_ident_char).map(|w: &str| match w {
            "true" => Term::Bool(true),
            "false" => Term::Bool(false),
            "nil" => Term::Nil,
            f => Term::Func(f.to_string()),
        }),
    ))
    .parse(s)
}

fn raw_string(s: &str) -> IResult<&str, &str> {
    delimited(char('`'), take_while(|c| c != '`'), char('`')).parse(s)
}

fn string_literal(s: &str) -> IResult<&str, String> {
    let (s, chars) = delimited(
        char('"'),
        many0(alt((
            preceded(
                char('\\'),
                alt((
                    char('n').map(|_| '\n'),
                    char('t').map(|_| '\t'),
                    char('r').map(|_| '\r'),
                    char('\\'),
                    char('"'),
                    char('\''),
                )),
            ),
            none_of("\"\\"),
        ))),
        char('"'),
    )
    .parse(s)?;
    Ok((s, chars.into_iter().collect()))
}

fn number(s: &str) -> IResult<&str, Term> {
    let (rest, text) = recognize((
        opt(alt((char('-'), char('+')))),
        take_while1(|c: char| c.is_ascii_digit()),
        opt(pair(char('.'), take_while(|c: char| c.is_ascii_digit()))),
        opt((
            alt((char('e'), char('E'))),
            opt(alt((char('-'), char('+')))),
            take_while1(|c: char| c.is_ascii_digit()),
        )),
    ))
    .parse(s)?;
    if let Ok(i) = text.parse::<i64>() {
        return Ok((rest, Term::Int(i)));
    }
    match text.parse::<f64>() {
        Ok(f) => Ok((rest, Term::Float(f))),
        Err(_) => Err(nom::Err::Error(nom::error::Error::new(
            s,
            nom::error::ErrorKind::Float,
        ))),
    }
}
