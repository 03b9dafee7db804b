//! Templates for alert labels and annotations, in the language Prometheus
//! rule files use (Go's text/template syntax, the part rules need), with
//! Prometheus's variables (`$labels`, `$value`, `$externalLabels`,
//! `$externalURL`) and functions (`humanize`, `printf`, `query`, …).
//!
//! Notification templates use the same engine with Alertmanager's data
//! (`.Status`, `.Alerts`, `.CommonLabels`, …) and named templates:
//! `{{ define "name" }}…{{ end }}` in template files, gathered in a
//! [`TemplateSet`] that starts with Alertmanager's default names
//! (`__subject`, `slack.default.title`, …), and called from a receiver's
//! fields with `{{ template "name" . }}`.

mod funcs;
pub mod gofmt;
mod parse;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use parse::{Node, Pipeline, Term};

/// Named templates by name.
type Defs = BTreeMap<String, Vec<Node>>;

/// How deep `{{ template }}` calls may nest (Go stops runaway recursion too).
const MAX_TEMPLATE_DEPTH: usize = 100;

use crate::{Error, QueryResult, Result};

/// A value during template execution.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Num(f64),
    Str(String),
    Map(BTreeMap<String, String>),
    /// A query result sample: `.Labels`, `.Value`.
    Sample(BTreeMap<String, String>, f64),
    List(Vec<Value>),
    /// The root data: `.Labels`, `.Value`, `.ExternalLabels`, `.ExternalURL`.
    Root(Box<TemplateData>),
    /// A structure with named fields (notification data).
    Object(BTreeMap<String, Value>),
}

impl Value {
    /// How `{{ }}` prints the value (Go's `%v`).
    pub fn to_text(&self) -> String {
        match self {
            Value::Nil => "<no value>".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Num(f) => gofmt::format_g(*f, None),
            Value::Str(s) => s.clone(),
            Value::Map(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", parts.join(" "))
            }
            Value::Sample(l, v) => format!(
                "{{{} {}}}",
                Value::Map(l.clone()).to_text(),
                gofmt::format_g(*v, None)
            ),
            Value::List(l) => {
                let parts: Vec<String> = l.iter().map(Value::to_text).collect();
                format!("[{}]", parts.join(" "))
            }
            Value::Root(_) | Value::Object(_) => "{…}".into(),
        }
    }

    fn go_type(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Num(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Sample(..) => "*template.sample",
            Value::List(_) => "template.queryResult",
            Value::Root(_) | Value::Object(_) => "struct",
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Num(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Go's truth: false, 0, nil and empty things are false.
    fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Num(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Sample(..) | Value::Root(_) => true,
            Value::Object(o) => !o.is_empty(),
        }
    }

    fn field(&self, name: &str) -> Result<Value> {
        match (self, name) {
            (Value::Map(m), "SortedPairs") => Ok(Value::List(
                m.iter()
                    .map(|(k, v)| {
                        Value::Object(BTreeMap::from([
                            ("Name".to_string(), Value::Str(k.clone())),
                            ("Value".to_string(), Value::Str(v.clone())),
                        ]))
                    })
                    .collect(),
            )),
            (Value::List(l), pick @ ("Names" | "Values")) => {
                let key = if pick == "Names" { "Name" } else { "Value" };
                Ok(Value::List(
                    l.iter()
                        .map(|p| match p {
                            Value::Object(o) => o.get(key).cloned().unwrap_or(Value::Nil),
                            _ => Value::Nil,
                        })
                        .collect(),
                ))
            }
            (Value::Map(m), "Names") => {
                Ok(Value::List(m.keys().cloned().map(Value::Str).collect()))
            }
            (Value::Map(m), "Values") => {
                Ok(Value::List(m.values().cloned().map(Value::Str).collect()))
            }
            (Value::Object(o), k) => o
                .get(k)
                .cloned()
                .ok_or_else(|| Error::Template(format!("can't evaluate field {k}"))),
            (Value::List(l), state @ ("Firing" | "Resolved")) => {
                let want = if state == "Firing" {
                    "firing"
                } else {
                    "resolved"
                };
                Ok(Value::List(
                    l.iter()
                        .filter(|a| matches!(a, Value::Object(o) if o.get("Status") == Some(&Value::Str(want.into()))))
                        .cloned()
                        .collect(),
                ))
            }
            (Value::Map(m), k) => Ok(Value::Str(m.get(k).cloned().unwrap_or_default())),
            (Value::Sample(l, _), "Labels") => Ok(Value::Map(l.clone())),
            (Value::Sample(_, v), "Value") => Ok(Value::Num(*v)),
            (Value::Root(d), "Labels") => Ok(Value::Map(d.labels.clone())),
            (Value::Root(d), "ExternalLabels") => Ok(Value::Map(d.external_labels.clone())),
            (Value::Root(d), "ExternalURL") => Ok(Value::Str(d.external_url.clone())),
            (Value::Root(d), "Value") => Ok(Value::Num(d.value)),
            (Value::Nil, _) => Ok(Value::Nil),
            (v, f) => Err(Error::Template(format!(
                "can't evaluate field {f} in type {}",
                v.go_type()
            ))),
        }
    }
}

/// The data a rule template sees.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TemplateData {
    pub labels: BTreeMap<String, String>,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub value: f64,
}

/// Runs `query` inside templates: evaluates PromQL at the rule's time.
pub type QueryFn<'a> = &'a dyn Fn(&str) -> std::result::Result<QueryResult, String>;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
    /// The named templates its text defines.
    defs: Defs,
}

/// Named templates called anywhere in `nodes`.
fn calls_in(nodes: &[Node], out: &mut BTreeSet<String>) {
    for n in nodes {
        match n {
            Node::Template { name, .. } => {
                out.insert(name.clone());
            }
            Node::If {
                then, otherwise, ..
            } => {
                calls_in(then, out);
                calls_in(otherwise, out);
            }
            Node::Range {
                body, otherwise, ..
            }
            | Node::With {
                body, otherwise, ..
            } => {
                calls_in(body, out);
                calls_in(otherwise, out);
            }
            Node::Text(_) | Node::Action(_) => {}
        }
    }
}

impl Template {
    /// Parses `src`; unknown functions, undefined variables and unbalanced
    /// blocks are errors, as in Go's parser.
    pub fn parse(src: &str) -> Result<Self> {
        let parsed = parse::parse(src).map_err(|e| Error::Template(format!("template: {e}")))?;
        Ok(Self {
            nodes: parsed.nodes,
            // A later definition of a name replaces an earlier one, as Go's.
            defs: parsed.defs.into_iter().collect(),
        })
    }

    /// The names this template calls with `{{ template }}` that it does not
    /// define itself.
    pub fn calls(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        calls_in(&self.nodes, &mut out);
        for body in self.defs.values() {
            calls_in(body, &mut out);
        }
        out.retain(|n| !self.defs.contains_key(n));
        out
    }

    /// Executes the template with `root` as `.` and `$` (notification
    /// templates: `.Status`, `.Alerts`, `.GroupLabels`, …).
    pub fn render_value(&self, root: Value) -> Result<String> {
        self.render_value_in(root, None)
    }

    /// [`Template::render_value`] with the named templates of `set`
    /// callable (the template's own definitions take precedence).
    pub fn render_value_in(&self, root: Value, set: Option<&TemplateSet>) -> Result<String> {
        let mut exec = Exec {
            vars: vec![vec![("$".into(), root.clone())]],
            query: None,
            out: String::new(),
            steps: 0,
            own: &self.defs,
            shared: set.map(|s| &s.defs),
            depth: 0,
        };
        exec.nodes(&self.nodes, &root)?;
        Ok(exec.out)
    }

    /// Executes the template over `data`; `query` enables the `query`
    /// function.
    pub fn render(&self, data: &TemplateData, query: Option<QueryFn<'_>>) -> Result<String> {
        let root = Value::Root(Box::new(data.clone()));
        let mut exec = Exec {
            vars: vec![vec![
                ("$".into(), root.clone()),
                ("$labels".into(), Value::Map(data.labels.clone())),
                (
                    "$externalLabels".into(),
                    Value::Map(data.external_labels.clone()),
                ),
                ("$externalURL".into(), Value::Str(data.external_url.clone())),
                ("$value".into(), Value::Num(data.value)),
            ]],
            query,
            out: String::new(),
            steps: 0,
            own: &self.defs,
            shared: None,
            depth: 0,
        };
        exec.nodes(&self.nodes, &root)?;
        Ok(exec.out)
    }
}

/// Named templates for notifications: Alertmanager's default names, then
/// the definitions of the configured template files (a later definition of
/// a name replaces an earlier one).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateSet {
    defs: Defs,
}

impl Default for TemplateSet {
    /// Alertmanager's default template names.
    fn default() -> Self {
        let mut set = Self { defs: Defs::new() };
        // The built-in text parses (a unit test checks); were it not to,
        // the set would start without defaults.
        if let Err(e) = set.add(DEFAULT_TEMPLATES) {
            debug_assert!(false, "default templates: {e}");
        }
        set
    }
}

/// Alertmanager's default template names, written for this engine.
const DEFAULT_TEMPLATES: &str = include_str!("default.tmpl");

impl TemplateSet {
    /// Adds the definitions in `src`; text outside definitions is ignored,
    /// as Alertmanager does with template files.
    pub fn add(&mut self, src: &str) -> Result<()> {
        let t = Template::parse(src)?;
        self.defs.extend(t.defs);
        Ok(())
    }

    /// Reads and adds template files; every problem is reported.
    pub fn add_files<P: AsRef<Path>>(
        &mut self,
        files: &[P],
    ) -> std::result::Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for f in files {
            let f = f.as_ref();
            match std::fs::read_to_string(f) {
                Ok(text) => {
                    if let Err(e) = self.add(&text) {
                        problems.push(format!("{}: {e}", f.display()));
                    }
                }
                Err(e) => problems.push(format!("{}: {e}", f.display())),
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Whether `name` is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.defs.contains_key(name)
    }

    /// Names called by the set's definitions that nothing defines.
    pub fn undefined_calls(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for body in self.defs.values() {
            calls_in(body, &mut out);
        }
        out.retain(|n| !self.defs.contains_key(n));
        out
    }
}

/// Most nodes one execution may visit: templates come from rule files, but a
/// `range` over a huge query result must not run away.
const MAX_STEPS: usize = 1_000_000;

struct Exec<'a> {
    vars: Vec<Vec<(String, Value)>>,
    query: Option<QueryFn<'a>>,
    out: String,
    steps: usize,
    own: &'a Defs,
    shared: Option<&'a Defs>,
    depth: usize,
}

impl Exec<'_> {
    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<()> {
        for n in nodes {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(Error::Template("template execution too long".into()));
            }
            match n {
                Node::Text(t) => self.out.push_str(t),
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.decl.is_empty() {
                        self.out.push_str(&v.to_text());
                    }
                }
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    self.vars.push(Vec::new());
                    let c = self.pipeline(cond, dot)?;
                    let r = if c.truthy() {
                        self.nodes(then, dot)
                    } else {
                        self.nodes(otherwise, dot)
                    };
                    self.vars.pop();
                    r?;
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    self.vars.push(Vec::new());
                    let v = self.pipeline(pipe, dot)?;
                    let r = if v.truthy() {
                        self.nodes(body, &v)
                    } else {
                        self.nodes(otherwise, dot)
                    };
                    self.vars.pop();
                    r?;
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    self.vars.push(Vec::new());
                    let r = self.range(pipe, body, otherwise, dot);
                    self.vars.pop();
                    r?;
                }
                Node::Template { name, pipe } => {
                    let arg = match pipe {
                        Some(p) => {
                            self.vars.push(Vec::new());
                            let v = self.pipeline(p, dot);
                            self.vars.pop();
                            v?
                        }
                        None => Value::Nil,
                    };
                    self.call_template(name, arg)?;
                }
            }
        }
        Ok(())
    }

    fn call_template(&mut self, name: &str, arg: Value) -> Result<()> {
        let (own, shared) = (self.own, self.shared);
        let body = own
            .get(name)
            .or_else(|| shared.and_then(|s| s.get(name)))
            .ok_or_else(|| Error::Template(format!("template: no template {name:?} defined")))?;
        if self.depth >= MAX_TEMPLATE_DEPTH {
            return Err(Error::Template(format!(
                "template: exceeded maximum template depth ({MAX_TEMPLATE_DEPTH}) calling {name:?}"
            )));
        }
        let saved = std::mem::replace(&mut self.vars, vec![vec![("$".into(), arg.clone())]]);
        self.depth += 1;
        let r = self.nodes(body, &arg);
        self.depth -= 1;
        self.vars = saved;
        r
    }

    fn range(
        &mut self,
        pipe: &Pipeline,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
    ) -> Result<()> {
        let value = self.eval_cmds(&pipe.cmds, dot)?;
        let items: Vec<(Value, Value)> = match value {
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Map(m) => m
                .into_iter()
                .map(|(k, v)| (Value::Str(k), Value::Str(v)))
                .collect(),
            Value::Int(n) => (0..n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil => Vec::new(),
            v => {
                return Err(Error::Template(format!(
                    "range can't iterate over {}",
                    v.to_text()
                )))
            }
        };
        if items.is_empty() {
            return self.nodes(otherwise, dot);
        }
        for (k, v) in items {
            if let Some(scope) = self.vars.last_mut() {
                match pipe.decl.as_slice() {
                    [one] => scope.push((one.clone(), v.clone())),
                    [a, b] => {
                        scope.push((a.clone(), k));
                        scope.push((b.clone(), v.clone()));
                    }
                    _ => {}
                }
            }
            self.nodes(body, &v)?;
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value> {
        let v = self.eval_cmds(&p.cmds, dot)?;
        if let Some(name) = p.decl.first() {
            if p.assign {
                for scope in self.vars.iter_mut().rev() {
                    if let Some(slot) = scope.iter_mut().rev().find(|(n, _)| n == name) {
                        slot.1 = v.clone();
                        break;
                    }
                }
            } else if let Some(scope) = self.vars.last_mut() {
                scope.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, cmds: &[Vec<Term>], dot: &Value) -> Result<Value> {
        let mut prev: Option<Value> = None;
        for cmd in cmds {
            prev = Some(self.command(cmd, dot, prev)?);
        }
        Ok(prev.unwrap_or(Value::Nil))
    }

    fn command(&mut self, cmd: &[Term], dot: &Value, piped: Option<Value>) -> Result<Value> {
        let Some(first) = cmd.first() else {
            return Ok(Value::Nil);
        };
        if let Term::Func(name) = first {
            let mut args = Vec::with_capacity(cmd.len());
            for t in &cmd[1..] {
                args.push(self.term(t, dot)?);
            }
            args.extend(piped);
            return funcs::call(name, args, self.query);
        }
        if parse::is_method_call(first) && (cmd.len() > 1 || piped.is_some()) {
            let base = match first {
                Term::Field(f) => Term::Field(f[..f.len() - 1].to_vec()),
                Term::Var(v, f) => Term::Var(v.clone(), f[..f.len() - 1].to_vec()),
                _ => return Err(Error::Template("not a method".into())),
            };
            let base = self.term(&base, dot)?;
            let mut args = Vec::with_capacity(cmd.len());
            for t in &cmd[1..] {
                args.push(self.term(t, dot)?);
            }
            args.extend(piped);
            return remove_labels(base, &args);
        }
        if piped.is_some() || cmd.len() > 1 {
            return Err(Error::Template(format!(
                "can't give argument to non-function {first:?}"
            )));
        }
        self.term(first, dot)
    }

    fn term(&mut self, t: &Term, dot: &Value) -> Result<Value> {
        let with_fields = |mut v: Value, fields: &[String]| -> Result<Value> {
            for f in fields {
                v = v.field(f)?;
            }
            Ok(v)
        };
        match t {
            Term::Func(name) => funcs::call(name, Vec::new(), self.query),
            Term::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .flat_map(|s| s.iter().rev())
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| Error::Template(format!("undefined variable \"{name}\"")))?;
                with_fields(v, fields)
            }
            Term::Field(fields) => with_fields(dot.clone(), fields),
            Term::Str(s) => Ok(Value::Str(s.clone())),
            Term::Int(i) => Ok(Value::Int(*i)),
            Term::Float(f) => Ok(Value::Num(*f)),
            Term::Bool(b) => Ok(Value::Bool(*b)),
            Term::Nil => Ok(Value::Nil),
            Term::Paren(p, fields) => {
                let v = self.pipeline(p, dot)?;
                with_fields(v, fields)
            }
        }
    }
}

/// Alertmanager's `KV.Remove`: the map without the named keys.
fn remove_labels(base: Value, args: &[Value]) -> Result<Value> {
    let (Value::Map(mut m), [names]) = (base, args) else {
        return Err(Error::Template(
            "wrong arguments for Remove: want a map and a list of names".into(),
        ));
    };
    match names {
        Value::List(l) => {
            for n in l {
                m.remove(&n.to_text());
            }
        }
        other => {
            m.remove(&other.to_text());
        }
    }
    Ok(Value::Map(m))
}

/// Expands a label or annotation template as Prometheus does: a failure
/// becomes the text `<error expanding template: …>`.
pub fn expand(src: &str, data: &TemplateData, query: Option<QueryFn<'_>>) -> String {
    if !src.contains("{{") {
        return src.to_string();
    }
    match Template::parse(src).and_then(|t| t.render(data, query)) {
        Ok(s) => s,
        Err(e) => format!("<error expanding template: {e}>"),
    }
}

#[cfg(test)]
mod tests;
