//! HTML forms generated from JSON Schemas (SPEC §2.1), and the way back.
//!
//! [`render_fields`] turns an object schema into labelled inputs, [`parse_fields`]
//! turns the submitted name/value pairs (and uploads) back into JSON of the shape
//! the schema describes, and [`render_value`] shows a data object read-only.
//!
//! Widgets: `string` → text input (`format` email/date/date-time/uri choose the
//! input type; `maxLength` over 200 or `x-ui.widget: textarea` a textarea);
//! `enum` (or `oneOf` of `const`s) → select, or radios with `x-ui.widget: radio`;
//! `integer`/`number` → number input; `boolean` → checkbox (or yes/no radios or
//! select with `x-ui.widget`); arrays of strings or numbers → a textarea, one item
//! per line (a multi-select, or checkboxes, for `items.enum`); objects with
//! `properties` → a fieldset; `contentMediaType` or `format: binary` → a file
//! input; anything else (arrays of objects, free objects) → a JSON textarea.
//!
//! Names: a field's input is named by its dotted path (`address.city`), after
//! `prefix.` when a prefix is given. Ids: the wrapper is `field-{key}`, the input
//! `input-{key}`, its help `help-{key}` and its problems `error-{key}-{n}`, where
//! `key` is `{prefix}-{dotted path}` (or the dotted path alone without a prefix).
//!
//! `x-ui` (ignored by validation): on an object, `order: [names]` and
//! `groups: [{title, description, fields: [names]}]` (a group appears where its
//! first field falls in the order); on a property, `widget` (`textarea`, `radio`,
//! `select`, `checkboxes`), `rows` and `placeholder`.
//!
//! Files: the form never stores anything. [`parse_fields`] hands back the uploads
//! it found for file fields with the JSON pointer each belongs at
//! ([`ParsedForm::files`]) and leaves those properties out of the value; the caller
//! stores them and puts a reference `{file_id, name, content_type, size}` there
//! ([`file_reference`], [`ParsedForm::attach_file`]). A file field whose current
//! value already holds a reference renders it as a link and a hidden `{name}~keep`
//! input; a resubmission without a new upload lists it in [`ParsedForm::kept`] so
//! the caller can look the file up (in the user's company) and attach it again.

use maud::{Markup, PreEscaped, html};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use ticketflower_core::Problem;
use ticketflower_core::problem::pointer_push;
use ticketflower_core::schema::Schema;

/// One uploaded file from a multipart form (the web layer reads the multipart body into these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The form field's name, exactly as submitted (with the prefix, if any).
    pub field: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A submitted form turned back into JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedForm {
    /// The data, following the schema; fields left empty or that could not be read are absent.
    pub value: Value,
    /// What could not be read (a number that is not one, invalid JSON...), at each field's pointer.
    /// Validating [`Self::value`] against the schema is the caller's next step (see [`Self::validate`]).
    pub problems: Vec<Problem>,
    /// Uploads for file fields, each with the JSON pointer where its reference belongs.
    pub files: Vec<(String, Upload)>,
    /// What to show again if the form goes back to the user: the value plus the text
    /// of everything that could not be read. Pass it as `values` to [`render_fields`].
    pub raw: Value,
    /// Files already referenced by the data that the user kept: (pointer, file id as text).
    /// The caller must look each id up within the user's own company before attaching it.
    pub kept: Vec<(String, String)>,
}

impl ParsedForm {
    /// Puts a file reference at `pointer` in both the value and the re-display copy.
    pub fn attach_file(&mut self, pointer: &str, reference: Value) {
        set_pointer(&mut self.value, pointer, reference.clone());
        set_pointer(&mut self.raw, pointer, reference);
    }

    /// The form's own problems followed by the schema's verdict on [`Self::value`];
    /// a schema problem at or around a field whose text could not be read is left
    /// out (the reading problem already says what is wrong there). Empty means valid.
    /// Attach file references first: a required file field is absent until then.
    pub fn validate(&self, schema: &Schema) -> Vec<Problem> {
        self.validate_value(schema, &self.value)
    }

    /// [`Self::validate`] as if every upload were stored already (a stand-in
    /// reference at its pointer), so the whole form can be checked before any
    /// file is written.
    pub fn validate_before_storing(&self, schema: &Schema) -> Vec<Problem> {
        let mut value = self.value.clone();
        for (pointer, upload) in &self.files {
            set_pointer(&mut value, pointer, file_reference(0, upload));
        }
        self.validate_value(schema, &value)
    }

    fn validate_value(&self, schema: &Schema, value: &Value) -> Vec<Problem> {
        let mut problems = self.problems.clone();
        if let Err(found) = schema.validate(value) {
            for problem in found {
                let pointer = located(&problem).0;
                let covered = self.problems.iter().any(|mine| {
                    under(&pointer, &mine.pointer) || (!pointer.is_empty() && under(&mine.pointer, &pointer))
                });
                if !covered {
                    problems.push(problem);
                }
            }
        }
        problems
    }
}

/// The reference object a file field holds once the caller has stored the upload.
pub fn file_reference(file_id: impl Into<Value>, upload: &Upload) -> Value {
    let mut reference = Map::new();
    reference.insert("file_id".into(), file_id.into());
    reference.insert("name".into(), Value::String(upload.file_name.clone()));
    reference.insert("content_type".into(), Value::String(upload.content_type.clone()));
    reference.insert("size".into(), Value::from(upload.bytes.len()));
    Value::Object(reference)
}

/// Sets the value at a JSON pointer, creating missing objects (or arrays, when the
/// next token is an index or `-`) on the way. False when the pointer crosses a scalar.
pub fn set_pointer(target: &mut Value, pointer: &str, new: Value) -> bool {
    if pointer.is_empty() {
        *target = new;
        return true;
    }
    let tokens: Vec<String> = match pointer.strip_prefix('/') {
        Some(rest) => rest.split('/').map(unescape_token).collect(),
        None => return false,
    };
    let mut current = target;
    let mut new = Some(new);
    for (position, token) in tokens.iter().enumerate() {
        let last = position + 1 == tokens.len();
        let fresh = || match tokens.get(position + 1) {
            Some(next) if next == "-" || next.parse::<usize>().is_ok() => Value::Array(Vec::new()),
            _ => Value::Object(Map::new()),
        };
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
        current = match current {
            Value::Object(map) => {
                if last {
                    map.insert(token.clone(), new.take().unwrap_or(Value::Null));
                    return true;
                }
                let slot = map.entry(token.clone()).or_insert_with(fresh);
                if slot.is_null() {
                    *slot = fresh();
                }
                slot
            }
            Value::Array(items) => {
                let index = if token == "-" {
                    items.len()
                } else {
                    match token.parse::<usize>() {
                        Ok(index) if index <= items.len() + 1000 => index,
                        _ => return false,
                    }
                };
                while items.len() <= index {
                    items.push(Value::Null);
                }
                let Some(slot) = items.get_mut(index) else { return false };
                if last {
                    *slot = new.take().unwrap_or(Value::Null);
                    return true;
                }
                if slot.is_null() {
                    *slot = fresh();
                }
                slot
            }
            _ => return false,
        };
    }
    false
}

/// The problems that belong at exactly `pointer` (a missing required property,
/// reported at its parent, counts as the property's own).
pub fn problems_at<'a>(problems: &'a [Problem], pointer: &str) -> impl Iterator<Item = &'a Problem> {
    let pointer = pointer.to_owned();
    problems.iter().filter(move |problem| located(problem).0 == pointer)
}

/// The JSON Pointer of the field a problem belongs to (see [`problems_at`]) and
/// the name of its top-level field, if it is below the root.
pub fn field_of(problem: &Problem) -> (String, Option<String>) {
    let pointer = located(problem).0;
    let field = child_token(&pointer, "");
    (pointer, field)
}

/// True when the schema has a file field anywhere, so the form needs `enctype="multipart/form-data"`.
pub fn needs_multipart(schema: &Value) -> bool {
    fn walk(root: &Value, schema: &Value, depth: usize) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        let node = Node::new(root, schema);
        if node.is_file() {
            return true;
        }
        if let Some(items) = node.get("items")
            && Node::new(root, items).is_file()
        {
            return true;
        }
        node.properties().is_some_and(|props| props.values().any(|child| walk(root, child, depth + 1)))
    }
    walk(schema, schema, 0)
}

// ---------------------------------------------------------------------------
// Schema reading
// ---------------------------------------------------------------------------

/// Nesting deeper than this (a recursive `$ref`) falls back to a JSON textarea.
const MAX_DEPTH: usize = 8;

/// A property schema: its own keywords, then those of the local `$ref` it names.
#[derive(Clone, Copy)]
struct Node<'s> {
    own: &'s Value,
    target: &'s Value,
}

impl<'s> Node<'s> {
    fn new(root: &'s Value, own: &'s Value) -> Self {
        let mut target = own;
        for _ in 0..16 {
            let Some(reference) = target.get("$ref").and_then(Value::as_str) else { break };
            let Some(found) = reference.strip_prefix('#').and_then(|pointer| root.pointer(pointer)) else { break };
            target = found;
        }
        Self { own, target }
    }

    fn get(&self, keyword: &str) -> Option<&'s Value> {
        self.own.get(keyword).or_else(|| self.target.get(keyword))
    }

    fn str(&self, keyword: &str) -> Option<&'s str> {
        self.get(keyword).and_then(Value::as_str)
    }

    fn ui(&self, keyword: &str) -> Option<&'s Value> {
        self.get("x-ui").and_then(|ui| ui.get(keyword))
    }

    fn widget(&self) -> Option<&'s str> {
        self.ui("widget").and_then(Value::as_str)
    }

    /// The main `type` (the first that is not "null"), guessed from `properties`/`items` when absent.
    fn kind(&self) -> Option<&'s str> {
        match self.get("type") {
            Some(Value::String(kind)) => Some(kind),
            Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|kind| *kind != "null"),
            _ if self.get("properties").is_some() => Some("object"),
            _ if self.get("items").is_some() => Some("array"),
            _ => None,
        }
    }

    /// Whether the schema lets a plain string through (no type, or "string" among them).
    fn allows_string(&self) -> bool {
        match self.get("type") {
            None => true,
            Some(Value::String(kind)) => kind == "string",
            Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
            Some(_) => false,
        }
    }

    fn is_file(&self) -> bool {
        matches!(self.kind(), None | Some("string"))
            && (self.get("contentMediaType").is_some() || self.str("format") == Some("binary"))
    }

    fn properties(&self) -> Option<&'s Map<String, Value>> {
        self.get("properties").and_then(Value::as_object)
    }

    fn required(&self) -> Vec<&'s str> {
        self.get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    fn number(&self, keyword: &str) -> Option<&'s Number> {
        self.get(keyword).and_then(Value::as_number)
    }

    fn label(&self, name: &str) -> String {
        match self.str("title").map(str::trim) {
            Some(title) if !title.is_empty() => title.to_owned(),
            _ => humanise(name),
        }
    }

    /// The choices of an `enum`, or of a `oneOf`/`anyOf` whose every branch is a `const`.
    fn choices(&self, root: &'s Value) -> Option<Vec<Choice>> {
        if let Some(values) = self.get("enum").and_then(Value::as_array) {
            return Some(values.iter().map(|value| Choice::new(value.clone(), None)).collect());
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(branches) = self.get(keyword).and_then(Value::as_array) {
                let choices: Option<Vec<Choice>> = branches
                    .iter()
                    .map(|branch| {
                        let branch = Node::new(root, branch);
                        branch.get("const").map(|value| Choice::new(value.clone(), branch.str("title")))
                    })
                    .collect();
                if let Some(choices) = choices.filter(|c| !c.is_empty()) {
                    return Some(choices);
                }
            }
        }
        None
    }
}

/// One option of a select or radio group.
#[derive(Debug, Clone)]
struct Choice {
    value: Value,
    /// What the browser sends back.
    text: String,
    label: String,
}

impl Choice {
    fn new(value: Value, title: Option<&str>) -> Self {
        let text = scalar_text(&value);
        let label = title.map(str::to_owned).unwrap_or_else(|| text.clone());
        Self { value, text, label }
    }

    fn matches(&self, value: &Value) -> bool {
        *value == self.value || value.as_str() == Some(self.text.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    Plain,
    Email,
    Date,
    DateTime,
    Url,
    Area,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Str,
    Int,
    Num,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChoiceWidget {
    Select,
    Radio,
}

enum Kind<'s> {
    Text(Text),
    Integer,
    Number,
    Checkbox,
    Choice(Vec<Choice>, ChoiceWidget),
    List(Scalar),
    MultiChoice(Vec<Choice>, bool),
    Object(&'s Map<String, Value>),
    File,
    Files,
    Json,
}

fn classify<'s>(root: &'s Value, node: Node<'s>, depth: usize) -> Kind<'s> {
    if depth > MAX_DEPTH {
        return Kind::Json;
    }
    if node.is_file() {
        return Kind::File;
    }
    let radio = if node.widget() == Some("radio") { ChoiceWidget::Radio } else { ChoiceWidget::Select };
    if let Some(choices) = node.choices(root) {
        return Kind::Choice(choices, radio);
    }
    match node.kind() {
        Some("string") => {
            let long = node.number("maxLength").and_then(Number::as_u64).is_some_and(|max| max > 200);
            let text = match node.str("format") {
                _ if node.widget() == Some("textarea") => Text::Area,
                Some("email" | "idn-email") => Text::Email,
                Some("date") => Text::Date,
                Some("date-time") => Text::DateTime,
                Some("uri" | "iri") => Text::Url,
                _ if long => Text::Area,
                _ => Text::Plain,
            };
            Kind::Text(text)
        }
        Some("integer") => Kind::Integer,
        Some("number") => Kind::Number,
        Some("boolean") => match node.widget() {
            Some("radio" | "select") => {
                let choices =
                    vec![Choice::new(Value::Bool(true), Some("Yes")), Choice::new(Value::Bool(false), Some("No"))];
                Kind::Choice(choices, radio)
            }
            _ => Kind::Checkbox,
        },
        Some("array") => {
            let Some(items) = node.get("items").filter(|items| items.is_object()) else { return Kind::Json };
            let items = Node::new(root, items);
            if items.is_file() {
                return Kind::Files;
            }
            if let Some(choices) = items.choices(root) {
                return Kind::MultiChoice(choices, matches!(node.widget(), Some("checkboxes" | "radio")));
            }
            match items.kind() {
                Some("string") => Kind::List(Scalar::Str),
                Some("integer") => Kind::List(Scalar::Int),
                Some("number") => Kind::List(Scalar::Num),
                _ => Kind::Json,
            }
        }
        Some("object") => match node.properties() {
            Some(properties) if !properties.is_empty() => Kind::Object(properties),
            _ => Kind::Json,
        },
        _ => Kind::Json,
    }
}

/// One entry of an object's layout: a field, or a group of fields.
enum Item<'s> {
    Field(&'s str),
    Group { title: Option<&'s str>, description: Option<&'s str>, fields: Vec<&'s str> },
}

/// The object's properties in `x-ui.order`, then declaration order, with `x-ui.groups` gathered.
fn layout<'s>(node: Node<'s>, properties: &'s Map<String, Value>) -> Vec<Item<'s>> {
    let mut order: Vec<&'s str> = Vec::new();
    let listed = node.ui("order").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    for name in listed.chain(properties.keys().map(String::as_str)) {
        if properties.contains_key(name) && !order.contains(&name) {
            order.push(name);
        }
    }
    let groups: Vec<&'s Value> =
        node.ui("groups").and_then(Value::as_array).map(|g| g.iter().collect()).unwrap_or_default();
    let group_fields = |group: &'s Value| -> Vec<&'s str> {
        group.get("fields").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
    };
    let mut placed: Vec<&'s str> = Vec::new();
    let mut items = Vec::new();
    for name in order {
        if placed.contains(&name) {
            continue;
        }
        let group = groups.iter().find(|group| group_fields(group).contains(&name));
        match group {
            Some(group) => {
                let mut fields = Vec::new();
                for field in group_fields(group) {
                    if properties.contains_key(field) && !placed.contains(&field) {
                        placed.push(field);
                        fields.push(field);
                    }
                }
                let title = group.get("title").and_then(Value::as_str);
                let description = group.get("description").and_then(Value::as_str);
                items.push(Item::Group { title, description, fields });
            }
            None => {
                placed.push(name);
                items.push(Item::Field(name));
            }
        }
    }
    items
}

// ---------------------------------------------------------------------------
// Problems
// ---------------------------------------------------------------------------

/// Where a problem belongs, and whether it says a required property is missing.
/// Both `"name" is a required property` at the parent (jsonschema's own wording)
/// and core's `name is required` at the property itself land on the property.
fn located(problem: &Problem) -> (String, bool) {
    if let Some(quoted) = problem.message.strip_suffix(" is a required property")
        && let Ok(name) = serde_json::from_str::<String>(quoted)
    {
        return (pointer_push(&problem.pointer, name), true);
    }
    if let Some(name) = problem.message.strip_suffix(" is required")
        && let Some((_, last)) = problem.pointer.rsplit_once('/')
        && unescape_token(last) == name
    {
        return (problem.pointer.clone(), true);
    }
    (problem.pointer.clone(), false)
}

/// `pointer` equals `base` or lies below it.
fn under(pointer: &str, base: &str) -> bool {
    pointer == base || pointer.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'))
}

/// The first reference token of `pointer` below `base`, unescaped.
fn child_token(pointer: &str, base: &str) -> Option<String> {
    let rest = pointer.strip_prefix(base)?.strip_prefix('/')?;
    Some(unescape_token(rest.split('/').next().unwrap_or_default()))
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

struct Located<'p> {
    pointer: String,
    required: bool,
    problem: &'p Problem,
}

/// A problem as shown beside a field.
struct Shown {
    message: String,
    error: bool,
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

struct Render<'a> {
    root: &'a Value,
    prefix: &'a str,
    problems: Vec<Located<'a>>,
}

/// Where one field sits.
struct Place {
    /// Dotted path, the input's name without the prefix.
    path: String,
    pointer: String,
    depth: usize,
}

impl Place {
    fn child(&self, name: &str) -> Self {
        let path = if self.path.is_empty() { name.to_owned() } else { format!("{}.{name}", self.path) };
        Self { path, pointer: pointer_push(&self.pointer, name), depth: self.depth + 1 }
    }
}

/// The names and ids of one field's elements.
struct Ids {
    name: String,
    wrapper: String,
    input: String,
    help: String,
    error: String,
}

impl Ids {
    fn new(prefix: &str, path: &str) -> Self {
        let name = if prefix.is_empty() { path.to_owned() } else { format!("{prefix}.{path}") };
        let key: String = if prefix.is_empty() { path.to_owned() } else { format!("{prefix}-{path}") }
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        Self {
            name,
            wrapper: format!("field-{key}"),
            input: format!("input-{key}"),
            help: format!("help-{key}"),
            error: format!("error-{key}"),
        }
    }
}

/// Renders the inputs for every property of an object schema (no `<form>` element,
/// no submit button — the caller wraps them).
///
/// `values` are the current values (what the user typed last time — pass
/// [`ParsedForm::raw`] — or existing data); `problems` are validation problems with
/// JSON pointers relative to the schema root. Each problem is shown beside its
/// field (class `field-error`; the input gets `aria-invalid` and `aria-describedby`);
/// problems that match no field are listed at the top. `prefix` namespaces the
/// input names (`""` or e.g. `"output"`) so two forms can share a page.
pub fn render_fields(schema: &Value, values: &Value, problems: &[Problem], prefix: &str) -> Markup {
    let render = Render {
        root: schema,
        prefix,
        problems: problems
            .iter()
            .map(|problem| {
                let (pointer, required) = located(problem);
                Located { pointer, required, problem }
            })
            .collect(),
    };
    let node = Node::new(schema, schema);
    let properties = node.properties();
    let stray: Vec<&Located> = render
        .problems
        .iter()
        .filter(|p| !child_token(&p.pointer, "").is_some_and(|name| properties.is_some_and(|m| m.contains_key(&name))))
        .collect();
    let top = Place { path: String::new(), pointer: String::new(), depth: 0 };
    html! {
        @if !stray.is_empty() {
            div.form-problems role="alert" {
                ul {
                    @for located in &stray {
                        li.field-error.warning[!located.problem.is_error()] {
                            @if !located.problem.pointer.is_empty() { code { (located.problem.pointer) } ": " }
                            (located.problem.message)
                        }
                    }
                }
            }
        }
        @if let Some(properties) = properties {
            (render.object_body(node, properties, values, &top))
        }
    }
}

impl<'a> Render<'a> {
    fn object_body(&self, node: Node<'a>, properties: &'a Map<String, Value>, values: &Value, place: &Place) -> Markup {
        let required = node.required();
        let field = |name: &str| -> Markup {
            match properties.get(name) {
                Some(schema) => {
                    let child = Node::new(self.root, schema);
                    self.field(child, name, required.contains(&name), values.get(name), &place.child(name))
                }
                None => html! {},
            }
        };
        html! {
            @for item in layout(node, properties) {
                @match item {
                    Item::Field(name) => (field(name)),
                    Item::Group { title, description, fields } => {
                        fieldset.field-group {
                            @if let Some(title) = title { legend { (title) } }
                            @if let Some(description) = description { p.field-help { (description) } }
                            @for name in fields { (field(name)) }
                        }
                    }
                }
            }
        }
    }

    /// The problems this field shows: those at or below its pointer, except what a
    /// nested field of an object shows itself.
    fn shown(&self, place: &Place, children: Option<&Map<String, Value>>) -> Vec<Shown> {
        self.problems
            .iter()
            .filter(|p| under(&p.pointer, &place.pointer))
            .filter(|p| match (children, child_token(&p.pointer, &place.pointer)) {
                (Some(children), Some(token)) => !children.contains_key(&token),
                _ => true,
            })
            .map(|p| {
                let message = if p.required && p.pointer == place.pointer {
                    "This field is required.".to_owned()
                } else if p.pointer == place.pointer {
                    p.problem.message.clone()
                } else {
                    let rest = &p.pointer[place.pointer.len()..];
                    match rest.strip_prefix('/').and_then(|r| r.parse::<usize>().ok()) {
                        Some(index) => format!("Item {}: {}", index + 1, p.problem.message),
                        None => format!("At {rest}: {}", p.problem.message),
                    }
                };
                Shown { message, error: p.problem.is_error() }
            })
            .collect()
    }

    fn field(&self, node: Node<'a>, name: &str, required: bool, value: Option<&Value>, place: &Place) -> Markup {
        let kind = classify(self.root, node, place.depth);
        let default = node.get("default");
        let value = value.or(default).unwrap_or(&Value::Null);
        let ids = Ids::new(self.prefix, &place.path);
        let children = if let Kind::Object(properties) = &kind { Some(*properties) } else { None };
        let shown = self.shown(place, children);
        let invalid = shown.iter().any(|s| s.error);
        let hint = match &kind {
            Kind::Text(Text::DateTime) => Some("Time in UTC."),
            Kind::List(_) => Some("One per line."),
            Kind::Json => Some("Enter JSON."),
            Kind::Files => Some("You may choose several files."),
            _ => None,
        };
        let description = node.str("description").filter(|d| !d.trim().is_empty());
        let has_help = description.is_some() || hint.is_some();
        let mut described: Vec<String> = Vec::new();
        if has_help {
            described.push(ids.help.clone());
        }
        described.extend((0..shown.len()).map(|n| format!("{}-{n}", ids.error)));
        let a = Attrs { ids: &ids, required, invalid, described: (!described.is_empty()).then(|| described.join(" ")) };
        let label_text = node.label(name);
        let label = html! {
            label.field-label for=(ids.input) { (label_text) (marker(required)) }
        };
        let help = html! {
            @if has_help {
                p.field-help id=(ids.help) {
                    @if let Some(description) = description { (description) }
                    @if description.is_some() && hint.is_some() { " " }
                    @if let Some(hint) = hint { span.field-hint { (hint) } }
                }
            }
        };
        let errors = html! {
            @for (n, problem) in shown.iter().enumerate() {
                p.field-error.warning[!problem.error] id={ (ids.error) "-" (n) } { (problem.message) }
            }
        };
        let kind_class = match &kind {
            Kind::Text(Text::Area) => "field-textarea",
            Kind::Text(_) => "field-text",
            Kind::Integer | Kind::Number => "field-number",
            Kind::Checkbox => "field-checkbox",
            Kind::Choice(_, ChoiceWidget::Select) | Kind::MultiChoice(_, false) => "field-select",
            Kind::Choice(_, ChoiceWidget::Radio) | Kind::MultiChoice(_, true) => "field-choices",
            Kind::List(_) => "field-list",
            Kind::Object(_) => "field-object",
            Kind::File | Kind::Files => "field-file",
            Kind::Json => "field-json",
        };
        let body = match &kind {
            Kind::Text(text) => html! { (label) (text_input(node, *text, value, &a)) (help) (errors) },
            Kind::Integer | Kind::Number => {
                html! { (label) (number_input(node, matches!(kind, Kind::Integer), value, &a)) (help) (errors) }
            }
            Kind::Checkbox => {
                let checked = value.as_bool() == Some(true) || value.as_str() == Some("true");
                let must = node.get("const") == Some(&Value::Bool(true));
                html! {
                    input.input type="checkbox" id=(ids.input) name=(ids.name) value="true" checked[checked]
                        required[must] aria-invalid=[a.aria_invalid()] aria-describedby=[a.described.as_deref()];
                    " "
                    label.field-label for=(ids.input) { (label_text) (marker(must)) }
                    (help) (errors)
                }
            }
            Kind::Choice(choices, ChoiceWidget::Select) => {
                html! { (label) (select(choices, value, &a)) (help) (errors) }
            }
            Kind::Choice(choices, ChoiceWidget::Radio) => {
                html! {
                    fieldset.choices id=(ids.input) aria-describedby=[a.described.as_deref()] {
                        legend.field-label { (label_text) (marker(required)) }
                        (radios(choices, value, &a))
                    }
                    (help) (errors)
                }
            }
            Kind::MultiChoice(choices, false) => {
                html! { (label) (multi_select(choices, value, &a)) (help) (errors) }
            }
            Kind::MultiChoice(choices, true) => {
                html! {
                    fieldset.choices id=(ids.input) aria-describedby=[a.described.as_deref()] {
                        legend.field-label { (label_text) (marker(required)) }
                        @for (n, choice) in choices.iter().enumerate() {
                            @let checked = value.as_array().is_some_and(|items| items.iter().any(|item| choice.matches(item)));
                            label.choice {
                                input.input type="checkbox" id={ (ids.input) "-" (n) } name=(ids.name) value=(choice.text)
                                    checked[checked] aria-invalid=[a.aria_invalid()];
                                " " (choice.label)
                            }
                        }
                    }
                    (help) (errors)
                }
            }
            Kind::List(_) => html! { (label) (list_area(node, value, &a)) (help) (errors) },
            Kind::Object(properties) => {
                html! {
                    fieldset.field-fieldset id=(ids.input) aria-describedby=[a.described.as_deref()] {
                        legend.field-label { (label_text) (marker(required)) }
                        (help) (errors)
                        (self.object_body(node, properties, value, place))
                    }
                }
            }
            Kind::File | Kind::Files => {
                html! { (label) (file_input(self.root, node, matches!(kind, Kind::Files), value, &a)) (help) (errors) }
            }
            Kind::Json => html! { (label) (json_area(node, value, &a)) (help) (errors) },
        };
        html! {
            div.field.(kind_class).field-invalid[invalid] id=(ids.wrapper) { (body) }
        }
    }
}

/// What every input of a field carries.
struct Attrs<'i> {
    ids: &'i Ids,
    required: bool,
    invalid: bool,
    described: Option<String>,
}

impl Attrs<'_> {
    fn aria_invalid(&self) -> Option<&'static str> {
        self.invalid.then_some("true")
    }
}

fn marker(required: bool) -> Markup {
    html! { @if required { " " span.required aria-hidden="true" { "*" } } }
}

fn placeholder<'s>(node: Node<'s>) -> Option<String> {
    if let Some(text) = node.ui("placeholder").and_then(Value::as_str) {
        return Some(text.to_owned());
    }
    let example = node.get("examples").and_then(Value::as_array).and_then(|e| e.first())?;
    Some(format!("e.g. {}", scalar_text(example)))
}

fn rows(node: Node<'_>, wanted: usize) -> u64 {
    node.ui("rows").and_then(Value::as_u64).unwrap_or(wanted.clamp(3, 20) as u64)
}

fn text_input(node: Node<'_>, text: Text, value: &Value, a: &Attrs) -> Markup {
    let current = input_text(value);
    let min = node.number("minLength").and_then(Number::as_u64);
    let max = node.number("maxLength").and_then(Number::as_u64);
    let placeholder = placeholder(node);
    if text == Text::Area {
        let rows = rows(node, current.lines().count() + 2).max(if node.widget().is_some() { 1 } else { 5 });
        return html! {
            textarea.input id=(a.ids.input) name=(a.ids.name) rows=(rows) required[a.required] minlength=[min]
                maxlength=[max] placeholder=[placeholder] aria-invalid=[a.aria_invalid()]
                aria-describedby=[a.described.as_deref()] {
                // A newline right after the start tag is dropped by the parser, so a value
                // that starts with one keeps it.
                (PreEscaped("\n")) (current)
            }
        };
    }
    let (kind, shown) = match text {
        Text::Email => ("email", current),
        Text::Date => ("date", current),
        Text::Url => ("url", current),
        Text::DateTime if current.is_empty() => ("datetime-local", current),
        Text::DateTime => match to_local(&current) {
            Some(local) => ("datetime-local", local),
            // Not something the picker can show: let the user see and fix the text.
            None => ("text", current),
        },
        Text::Plain | Text::Area => ("text", current),
    };
    let pattern = node.str("pattern").filter(|_| kind == "text").and_then(html_pattern);
    html! {
        input.input type=(kind) id=(a.ids.input) name=(a.ids.name) value=(shown) required[a.required]
            minlength=[min] maxlength=[max] pattern=[pattern] placeholder=[placeholder]
            aria-invalid=[a.aria_invalid()] aria-describedby=[a.described.as_deref()];
    }
}

fn number_input(node: Node<'_>, integer: bool, value: &Value, a: &Attrs) -> Markup {
    let current = input_text(value);
    let readable = current.trim().is_empty() || read_number(&current, integer).is_some();
    let bound = |inclusive: &str, exclusive: &str, step: i64| -> Option<String> {
        if let Some(number) = node.number(inclusive) {
            return Some(number.to_string());
        }
        let number = node.number(exclusive)?;
        // An exclusive bound is an inclusive one only for whole numbers.
        integer.then(|| number.as_i64().map(|n| (n + step).to_string())).flatten()
    };
    let min = bound("minimum", "exclusiveMinimum", 1);
    let max = bound("maximum", "exclusiveMaximum", -1);
    let step = match node.number("multipleOf") {
        Some(step) => step.to_string(),
        None if integer => "1".to_owned(),
        None => "any".to_owned(),
    };
    // A number input cannot show text that is not a number; show it as text to be fixed.
    let kind = if readable { "number" } else { "text" };
    let mode = if integer { "numeric" } else { "decimal" };
    html! {
        input.input type=(kind) inputmode=[(!readable).then_some(mode)] id=(a.ids.input) name=(a.ids.name)
            value=(current) required[a.required] min=[min] max=[max] step=(step) placeholder=[placeholder(node)]
            aria-invalid=[a.aria_invalid()] aria-describedby=[a.described.as_deref()];
    }
}

fn select(choices: &[Choice], value: &Value, a: &Attrs) -> Markup {
    let chosen = choices.iter().any(|c| c.matches(value));
    html! {
        select.input id=(a.ids.input) name=(a.ids.name) required[a.required] aria-invalid=[a.aria_invalid()]
            aria-describedby=[a.described.as_deref()] {
            @if !a.required || !chosen { option value="" selected[!chosen] { "— choose —" } }
            @for choice in choices {
                option value=(choice.text) selected[choice.matches(value)] { (choice.label) }
            }
        }
    }
}

fn radios(choices: &[Choice], value: &Value, a: &Attrs) -> Markup {
    let chosen = choices.iter().any(|c| c.matches(value));
    html! {
        @for (n, choice) in choices.iter().enumerate() {
            label.choice {
                input.input type="radio" id={ (a.ids.input) "-" (n) } name=(a.ids.name) value=(choice.text)
                    checked[choice.matches(value)] required[a.required] aria-invalid=[a.aria_invalid()];
                " " (choice.label)
            }
        }
        @if !a.required {
            label.choice {
                input.input type="radio" id={ (a.ids.input) "-none" } name=(a.ids.name) value="" checked[!chosen];
                " " span.muted { "None" }
            }
        }
    }
}

fn multi_select(choices: &[Choice], value: &Value, a: &Attrs) -> Markup {
    let items: Vec<&Value> = value.as_array().map(|items| items.iter().collect()).unwrap_or_default();
    html! {
        select.input multiple id=(a.ids.input) name=(a.ids.name) size=(choices.len().clamp(2, 8))
            required[a.required] aria-invalid=[a.aria_invalid()] aria-describedby=[a.described.as_deref()] {
            @for choice in choices {
                option value=(choice.text) selected[items.iter().any(|item| choice.matches(item))] { (choice.label) }
            }
        }
    }
}

fn list_area(node: Node<'_>, value: &Value, a: &Attrs) -> Markup {
    let text = match value {
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join("\n"),
        Value::Null => String::new(),
        other => scalar_text(other),
    };
    html! {
        textarea.input id=(a.ids.input) name=(a.ids.name) rows=(rows(node, text.lines().count() + 1))
            required[a.required] placeholder=[placeholder(node)] aria-invalid=[a.aria_invalid()]
            aria-describedby=[a.described.as_deref()] {
            (PreEscaped("\n")) (text)
        }
    }
}

fn json_area(node: Node<'_>, value: &Value, a: &Attrs) -> Markup {
    let text = match value {
        Value::Null => String::new(),
        // Text that was not valid JSON, sent back as typed.
        Value::String(text) => text.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    html! {
        textarea.input.input-json id=(a.ids.input) name=(a.ids.name) rows=(rows(node, text.lines().count() + 1))
            spellcheck="false" required[a.required] aria-invalid=[a.aria_invalid()]
            aria-describedby=[a.described.as_deref()] {
            (PreEscaped("\n")) (text)
        }
    }
}

fn file_input(root: &Value, node: Node<'_>, multiple: bool, value: &Value, a: &Attrs) -> Markup {
    let current: Vec<&Value> = match value {
        Value::Array(items) => items.iter().filter(|item| is_file_reference(item)).collect(),
        item if is_file_reference(item) => vec![item],
        _ => Vec::new(),
    };
    let accept = if multiple {
        node.get("items").map(|items| Node::new(root, items)).and_then(|items| items.str("contentMediaType"))
    } else {
        node.str("contentMediaType")
    };
    html! {
        @if !current.is_empty() {
            ul.current-files {
                @for reference in &current {
                    @let id = reference.get("file_id").map(scalar_text).unwrap_or_default();
                    li {
                        (file_link(reference))
                        input type="hidden" name={ (a.ids.name) "~keep" } value=(id);
                        " "
                        label.choice {
                            input type="checkbox" name={ (a.ids.name) "~remove" } value=(id);
                            " " @if multiple { "Remove" } @else { "Remove or replace" }
                        }
                    }
                }
            }
        }
        input.input type="file" id=(a.ids.input) name=(a.ids.name) accept=[accept] multiple[multiple]
            required[a.required && current.is_empty()] aria-invalid=[a.aria_invalid()]
            aria-describedby=[a.described.as_deref()];
    }
}

/// A value as an input shows it.
fn input_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A scalar as text: strings as they are, anything else as JSON.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `submitted_doc` → "Submitted doc", `customerEmail` → "Customer email".
pub fn humanise(name: &str) -> String {
    let mut words = String::new();
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c == '_' || c == '-' || c == '.' || c.is_whitespace() {
            if !words.ends_with(' ') && !words.is_empty() {
                words.push(' ');
            }
        } else {
            if c.is_uppercase()
                && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                && !words.ends_with(' ')
            {
                words.push(' ');
            }
            words.extend(c.to_lowercase());
        }
        previous = Some(c);
    }
    let words = words.trim_end();
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => name.to_owned(),
    }
}

/// The schema's `pattern` as an HTML `pattern` attribute, when it is plain enough to
/// mean the same in the browser (which compiles it with the `v` flag and anchors it).
fn html_pattern(pattern: &str) -> Option<String> {
    if !plain_pattern(pattern) {
        return None;
    }
    let anchored = pattern.starts_with('^') && pattern.ends_with('$') && !pattern.ends_with("\\$");
    if anchored && !pattern.contains('|') {
        Some(pattern.to_owned())
    } else {
        // JSON Schema patterns search; HTML ones must match the whole value.
        Some(format!(".*(?:{pattern}).*"))
    }
}

fn plain_pattern(pattern: &str) -> bool {
    const SYNTAX: &str = "^$\\.*+?()[]{}|/";
    const CLASS_ESCAPABLE: &str = "-&!#%,:;<=>@`~";
    const DOUBLED: &str = "&!#$%*+,.:;<=>?@^`~";
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    let mut atoms = 0;
    // Inside a class: whether the last atom may start a range, and whether a "-" waits for its end.
    let mut may_start_range = false;
    let mut range_open = false;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        let mut class_atom = false;
        if c == '\\' {
            let Some(escaped) = next else { return false };
            let ok = "dDwWsSfnrtv".contains(escaped)
                || SYNTAX.contains(escaped)
                || (in_class && CLASS_ESCAPABLE.contains(escaped))
                || (!in_class && "bB".contains(escaped));
            if !ok {
                return false;
            }
            i += 1;
            class_atom = in_class;
        } else if in_class {
            match c {
                ']' => {
                    if atoms == 0 || range_open {
                        return false;
                    }
                    in_class = false;
                }
                '[' | '(' | ')' | '{' | '}' | '/' | '|' => return false,
                '-' => {
                    if !may_start_range || matches!(next, None | Some(']')) {
                        return false;
                    }
                    range_open = true;
                    may_start_range = false;
                }
                _ => {
                    if next == Some(c) && DOUBLED.contains(c) {
                        return false;
                    }
                    class_atom = true;
                }
            }
        } else {
            match c {
                '[' => {
                    in_class = true;
                    atoms = 0;
                    may_start_range = false;
                    range_open = false;
                    if next == Some('^') {
                        i += 1;
                    }
                }
                ']' | '}' => return false,
                '(' if next == Some('?') && chars.get(i + 2) != Some(&':') => return false,
                '{' => {
                    // Only a quantifier: {n}, {n,} or {n,m}.
                    let rest: String = chars.iter().skip(i + 1).collect();
                    let Some(end) = rest.find('}') else { return false };
                    let body = &rest[..end];
                    let (first, second) = match body.split_once(',') {
                        Some((first, second)) => (first, Some(second)),
                        None => (body, None),
                    };
                    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
                    if first.is_empty() || !digits(first) || !second.is_none_or(digits) {
                        return false;
                    }
                    i += body.chars().count() + 1;
                }
                _ => {}
            }
        }
        if class_atom {
            atoms += 1;
            if range_open {
                range_open = false;
                may_start_range = false;
            } else {
                may_start_range = true;
            }
        }
        i += 1;
    }
    !in_class
}

// ---------------------------------------------------------------------------
// Dates and times
// ---------------------------------------------------------------------------

/// A parsed `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]`.
struct DateTime {
    /// Seconds since the epoch of the wall-clock time as written (offset not applied).
    seconds: i64,
    fraction: String,
    /// Offset from UTC in seconds, if the text has one.
    offset: Option<i64>,
}

fn parse_datetime(text: &str) -> Option<DateTime> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return None;
    }
    let (year, month, day, hour, minute) = (num(0, 4)?, num(5, 2)?, num(8, 2)?, num(11, 2)?, num(14, 2)?);
    let mut at = 16;
    let mut second = 0;
    let mut fraction = String::new();
    if b.get(at) == Some(&b':') {
        second = num(at + 1, 2)?;
        at += 3;
        if b.get(at) == Some(&b'.') {
            at += 1;
            while let Some(d) = b.get(at).filter(|d| d.is_ascii_digit()) {
                fraction.push(char::from(*d));
                at += 1;
            }
            if fraction.is_empty() {
                return None;
            }
        }
    }
    let offset = match b.get(at) {
        None => None,
        Some(b'Z' | b'z') if at + 1 == b.len() => Some(0),
        Some(sign @ (b'+' | b'-')) if at + 6 == b.len() && b[at + 3] == b':' => {
            let (h, m) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let seconds = h * 3600 + m * 60;
            Some(if *sign == b'-' { -seconds } else { seconds })
        }
        _ => return None,
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let max_day = *month_days.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if day < 1 || day > max_day || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    Some(DateTime { seconds, fraction, offset })
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = if days >= 0 { days } else { days - 146_096 } / 146_097;
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn format_civil(seconds: i64) -> Option<(String, i64)> {
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    if !(0..=9999).contains(&year) {
        return None;
    }
    let of_day = seconds.rem_euclid(86_400);
    Some((format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}", of_day / 3600, of_day % 3600 / 60), of_day % 60))
}

/// An RFC 3339 date-time as a `datetime-local` value in UTC, if the picker can show it.
fn to_local(text: &str) -> Option<String> {
    let parsed = parse_datetime(text)?;
    let offset = parsed.offset?;
    if parsed.fraction.len() > 3 {
        return None;
    }
    let (mut local, second) = format_civil(parsed.seconds - offset)?;
    if second != 0 || !parsed.fraction.is_empty() {
        local.push_str(&format!(":{second:02}"));
    }
    if !parsed.fraction.is_empty() {
        local.push('.');
        local.push_str(&parsed.fraction);
    }
    Some(local)
}

/// A submitted date-time as RFC 3339: a local `YYYY-MM-DDTHH:MM[:SS]` is taken as UTC;
/// text with an offset, or that is no date-time at all, stays as typed (validation judges it).
fn from_local(text: &str) -> String {
    match parse_datetime(text) {
        Some(parsed) if parsed.offset.is_none() => {
            let Some((mut out, second)) = format_civil(parsed.seconds) else { return text.to_owned() };
            out.push_str(&format!(":{second:02}"));
            if !parsed.fraction.is_empty() {
                out.push('.');
                out.push_str(&parsed.fraction);
            }
            out.push('Z');
            out
        }
        _ => text.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

struct Submitted<'a> {
    root: &'a Value,
    prefix: &'a str,
    pairs: HashMap<&'a str, Vec<&'a str>>,
    uploads: Vec<Option<Upload>>,
}

impl Submitted<'_> {
    fn values(&self, name: &str) -> &[&str] {
        self.pairs.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    fn text(&self, name: &str) -> String {
        self.values(name).first().map(|text| text.replace("\r\n", "\n").replace('\r', "\n")).unwrap_or_default()
    }

    fn take_uploads(&mut self, name: &str) -> Vec<Upload> {
        self.uploads
            .iter_mut()
            .filter(|slot| slot.as_ref().is_some_and(|u| u.field == name))
            .filter_map(Option::take)
            .filter(|u| !(u.file_name.is_empty() && u.bytes.is_empty()))
            .collect()
    }
}

/// What one object's fields gave.
#[derive(Default)]
struct Out {
    value: Map<String, Value>,
    raw: Map<String, Value>,
    problems: Vec<Problem>,
    files: Vec<(String, Upload)>,
    kept: Vec<(String, String)>,
}

/// Turns submitted name/value pairs (in order, repeated names allowed) and uploads
/// back into a JSON object following the schema. Strings stay strings (empty →
/// absent, so `required` reports it); numbers are parsed (unreadable → a problem at
/// the field, the text kept in `raw`); a checkbox gives true when present, false
/// when absent; enum choices give the exact enum value; arrays come from repeated
/// names or one line per item; nested objects from dotted names; file fields give
/// [`ParsedForm::files`]. Names outside `prefix` are ignored.
pub fn parse_fields(schema: &Value, pairs: &[(String, String)], uploads: Vec<Upload>, prefix: &str) -> ParsedForm {
    let mut grouped: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, value) in pairs {
        grouped.entry(name.as_str()).or_default().push(value.as_str());
    }
    let mut submitted =
        Submitted { root: schema, prefix, pairs: grouped, uploads: uploads.into_iter().map(Some).collect() };
    let node = Node::new(schema, schema);
    let mut out = Out::default();
    if let Some(properties) = node.properties() {
        let top = Place { path: String::new(), pointer: String::new(), depth: 0 };
        parse_object(&mut submitted, properties, &top, &mut out);
    }
    ParsedForm {
        value: Value::Object(out.value),
        problems: out.problems,
        files: out.files,
        raw: Value::Object(out.raw),
        kept: out.kept,
    }
}

fn parse_object(form: &mut Submitted, properties: &Map<String, Value>, place: &Place, out: &mut Out) {
    for (name, schema) in properties {
        let node = Node::new(form.root, schema);
        let place = place.child(name);
        let ids = Ids::new(form.prefix, &place.path);
        let kind = classify(form.root, node, place.depth);
        let (value, raw) = parse_field(form, node, kind, &ids.name, &place, out);
        if let Some(value) = value {
            out.value.insert(name.clone(), value);
        }
        if let Some(raw) = raw {
            out.raw.insert(name.clone(), raw);
        }
    }
}

/// One field's value and re-display text.
fn parse_field(
    form: &mut Submitted,
    node: Node,
    kind: Kind,
    name: &str,
    place: &Place,
    out: &mut Out,
) -> (Option<Value>, Option<Value>) {
    let text = form.text(name);
    let present = !text.trim().is_empty();
    match kind {
        Kind::Text(widget) => {
            if !present {
                return (None, Some(Value::String(text)));
            }
            let text = if widget == Text::DateTime { from_local(text.trim()) } else { text };
            (Some(Value::String(text.clone())), Some(Value::String(text)))
        }
        Kind::Integer | Kind::Number => {
            if !present {
                return (None, Some(Value::String(text)));
            }
            let integer = matches!(kind, Kind::Integer);
            match read_number(&text, integer) {
                Some(number) => (Some(number.clone()), Some(number)),
                None => {
                    let message = if integer { "must be a whole number" } else { "must be a number" };
                    out.problems.push(Problem::error(place.pointer.clone(), message));
                    (None, Some(Value::String(text)))
                }
            }
        }
        Kind::Checkbox => {
            let on = form.values(name).iter().any(|v| matches!(v.trim(), "true" | "on" | "1" | "yes"));
            (Some(Value::Bool(on)), Some(Value::Bool(on)))
        }
        Kind::Choice(choices, _) => {
            if !present {
                return (None, Some(Value::String(text)));
            }
            match choices.iter().find(|c| c.text == text || c.text == text.trim()) {
                Some(choice) => (Some(choice.value.clone()), Some(choice.value.clone())),
                None => {
                    out.problems.push(Problem::error(place.pointer.clone(), "must be one of the listed choices"));
                    (None, Some(Value::String(text)))
                }
            }
        }
        Kind::MultiChoice(choices, _) => {
            let mut items = Vec::new();
            let mut unknown = false;
            for text in form.values(name).iter().filter(|t| !t.is_empty()) {
                match choices.iter().find(|c| c.text == *text) {
                    Some(choice) => items.push(choice.value.clone()),
                    None => {
                        unknown = true;
                        items.push(Value::String((*text).to_owned()));
                    }
                }
            }
            if unknown {
                out.problems.push(Problem::error(place.pointer.clone(), "must be among the listed choices"));
                return (None, Some(Value::Array(items)));
            }
            let value = (!items.is_empty()).then(|| Value::Array(items.clone()));
            (value, Some(Value::Array(items)))
        }
        Kind::List(scalar) => {
            let lines: Vec<String> = form
                .values(name)
                .iter()
                .flat_map(|value| value.lines())
                .map(|line| line.trim().to_owned())
                .filter(|line| !line.is_empty())
                .collect();
            let mut items = Vec::new();
            let mut failed = false;
            for (index, line) in lines.into_iter().enumerate() {
                let item = match scalar {
                    Scalar::Str => Some(Value::String(line.clone())),
                    Scalar::Int | Scalar::Num => read_number(&line, scalar == Scalar::Int),
                };
                match item {
                    Some(item) => items.push(item),
                    None => {
                        failed = true;
                        let message = if scalar == Scalar::Int { "must be a whole number" } else { "must be a number" };
                        out.problems.push(Problem::error(pointer_push(&place.pointer, index), message));
                        items.push(Value::String(line));
                    }
                }
            }
            let value = (!failed && !items.is_empty()).then(|| Value::Array(items.clone()));
            (value, Some(Value::Array(items)))
        }
        Kind::Object(properties) => {
            let mut inner = Out::default();
            parse_object(form, properties, place, &mut inner);
            out.problems.append(&mut inner.problems);
            out.files.append(&mut inner.files);
            out.kept.append(&mut inner.kept);
            let value = (!inner.value.is_empty()).then_some(Value::Object(inner.value));
            let raw = (!inner.raw.is_empty()).then_some(Value::Object(inner.raw));
            (value, raw)
        }
        Kind::File | Kind::Files => {
            let multiple = matches!(kind, Kind::Files);
            let removed: Vec<&str> = form.values(&format!("{name}~remove")).to_vec();
            let kept: Vec<String> = form
                .values(&format!("{name}~keep"))
                .iter()
                .filter(|id| !id.is_empty() && !removed.contains(id))
                .map(|id| (*id).to_owned())
                .collect();
            let uploads = form.take_uploads(name);
            let mut index = 0;
            let at = |index: &mut usize| {
                let pointer = if multiple { pointer_push(&place.pointer, *index) } else { place.pointer.clone() };
                *index += 1;
                pointer
            };
            if multiple {
                for id in kept {
                    out.kept.push((at(&mut index), id));
                }
                for upload in uploads {
                    out.files.push((at(&mut index), upload));
                }
            } else if let Some(upload) = uploads.into_iter().next() {
                out.files.push((at(&mut index), upload));
            } else if let Some(id) = kept.into_iter().next() {
                out.kept.push((at(&mut index), id));
            }
            (None, None)
        }
        Kind::Json => {
            if !present {
                return (None, Some(Value::String(text)));
            }
            match serde_json::from_str::<Value>(&text) {
                Ok(value) => (Some(value.clone()), Some(value)),
                Err(_) if node.allows_string() => (Some(Value::String(text.clone())), Some(Value::String(text))),
                Err(error) => {
                    out.problems.push(Problem::error(place.pointer.clone(), format!("must be valid JSON ({error})")));
                    (None, Some(Value::String(text)))
                }
            }
        }
    }
}

/// A submitted number: integers stay integers, `2.0` is a whole number, anything
/// else that is no finite number is `None`.
fn read_number(text: &str, integer: bool) -> Option<Value> {
    let text = text.trim();
    if let Ok(whole) = text.parse::<i64>() {
        return Some(Value::from(whole));
    }
    if let Ok(whole) = text.parse::<u64>() {
        return Some(Value::from(whole));
    }
    let float: f64 = text.parse().ok().filter(|f: &f64| f.is_finite())?;
    if text.eq_ignore_ascii_case("inf") || text.to_ascii_lowercase().contains("nan") {
        return None;
    }
    if integer {
        if float.fract() != 0.0 || float.abs() > 9.0e15 {
            return None;
        }
        #[allow(clippy::cast_possible_truncation)]
        return Some(Value::from(float as i64));
    }
    Number::from_f64(float).map(Value::Number)
}

// ---------------------------------------------------------------------------
// Display
// ---------------------------------------------------------------------------

/// Whether a value is the reference to a stored file a file field holds.
pub fn is_file_reference(value: &Value) -> bool {
    value.as_object().is_some_and(|map| map.contains_key("file_id"))
}

/// A link to download a referenced file, with its name and size.
pub fn file_link(reference: &Value) -> Markup {
    let id = reference.get("file_id").map(scalar_text).unwrap_or_default();
    let name = reference.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("file");
    let size = reference.get("size").and_then(Value::as_u64);
    html! {
        a.file-link href={ "/files/" (encode_path_segment(&id)) } { (name) }
        @if let Some(size) = size { " " span.muted { "(" (human_size(size)) ")" } }
    }
}

fn encode_path_segment(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut size = bytes as f64 / 1024.0;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    let unit = UNITS.get(unit).copied().unwrap_or("TB");
    if size < 10.0 { format!("{size:.1} {unit}") } else { format!("{size:.0} {unit}") }
}

/// Displays a data object read-only as a definition list: labels and order from the
/// schema, keys the schema does not declare after them, multi-line text kept on its
/// lines, file references as links to `/files/{file_id}`.
pub fn render_value(schema: &Value, value: &Value) -> Markup {
    let node = Node::new(schema, schema);
    match value {
        Value::Object(map) if map.is_empty() => html! { p.muted.value-empty { "No data." } },
        Value::Null => html! { p.muted.value-empty { "No data." } },
        Value::Object(map) if !is_file_reference(value) => display_object(schema, Some(node), map, 0),
        other => display(schema, Some(node), other, 0),
    }
}

fn display_object(root: &Value, node: Option<Node>, map: &Map<String, Value>, depth: usize) -> Markup {
    let properties = node.and_then(|n| n.properties());
    let mut names: Vec<&str> = Vec::new();
    if let (Some(node), Some(properties)) = (node, properties) {
        for item in layout(node, properties) {
            match item {
                Item::Field(name) => names.push(name),
                Item::Group { fields, .. } => names.extend(fields),
            }
        }
    }
    names.retain(|name| map.contains_key(*name));
    for key in map.keys() {
        if !names.contains(&key.as_str()) {
            names.push(key);
        }
    }
    html! {
        dl.values {
            @for name in names {
                @let child = properties.and_then(|p| p.get(name)).map(|schema| Node::new(root, schema));
                div.value-item {
                    dt { (child.map(|c| c.label(name)).unwrap_or_else(|| humanise(name))) }
                    dd { (display(root, child, map.get(name).unwrap_or(&Value::Null), depth + 1)) }
                }
            }
        }
    }
}

fn display(root: &Value, node: Option<Node>, value: &Value, depth: usize) -> Markup {
    if depth > 2 * MAX_DEPTH {
        return html! { code { (value.to_string()) } };
    }
    if is_file_reference(value) {
        return file_link(value);
    }
    if let Some(choices) = node.and_then(|n| n.choices(root))
        && let Some(choice) = choices.iter().find(|c| c.value == *value)
    {
        return html! { (choice.label) };
    }
    match value {
        Value::Null => html! { span.muted { "—" } },
        Value::Bool(true) => html! { "Yes" },
        Value::Bool(false) => html! { "No" },
        Value::Number(number) => html! { (number.to_string()) },
        Value::String(text) => {
            let format = node.and_then(|n| n.str("format"));
            let web = text.starts_with("https://") || text.starts_with("http://");
            if web && matches!(format, Some("uri" | "iri") | None) && !text.contains(char::is_whitespace) {
                return html! { a href=(text) rel="noopener noreferrer" { (text) } };
            }
            if format == Some("email") && !text.contains(char::is_whitespace) {
                return html! { a href={ "mailto:" (text) } { (text) } };
            }
            let multi = text.contains('\n');
            html! {
                span.value-text.value-long[multi] {
                    @for (n, line) in text.split('\n').enumerate() {
                        @if n > 0 { br; }
                        (line.trim_end_matches('\r'))
                    }
                }
            }
        }
        Value::Array(items) if items.is_empty() => html! { span.muted { "—" } },
        Value::Array(items) => {
            let item_node = node.and_then(|n| n.get("items")).map(|items| Node::new(root, items));
            html! {
                ul.value-list {
                    @for item in items { li { (display(root, item_node, item, depth + 1)) } }
                }
            }
        }
        Value::Object(map) => display_object(root, node, map, depth + 1),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    // -- A browser, as far as form submission goes -------------------------------------------

    fn unescape(text: &str) -> String {
        text.replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    struct Tag {
        name: String,
        attrs: Vec<(String, Option<String>)>,
        end: usize,
    }

    impl Tag {
        fn attr(&self, name: &str) -> Option<&str> {
            self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_deref().unwrap_or(""))
        }
        fn has(&self, name: &str) -> bool {
            self.attrs.iter().any(|(n, _)| n == name)
        }
    }

    /// Reads the start tag at `html[start]` (which is '<').
    fn tag_at(html: &str, start: usize) -> Tag {
        let bytes = html.as_bytes();
        let mut i = start + 1;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' {
            i += 1;
        }
        let name = html[start + 1..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while bytes[i].is_ascii_whitespace() || bytes[i] == b'/' {
                i += 1;
            }
            if bytes[i] == b'>' {
                break;
            }
            let from = i;
            while !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' && bytes[i] != b'>' {
                i += 1;
            }
            let attr = html[from..i].to_owned();
            if bytes[i] == b'=' {
                assert_eq!(bytes[i + 1], b'"', "maud quotes attribute values");
                let close = html[i + 2..].find('"').unwrap() + i + 2;
                attrs.push((attr, Some(unescape(&html[i + 2..close]))));
                i = close + 1;
            } else {
                attrs.push((attr, None));
            }
        }
        Tag { name, attrs, end: i + 1 }
    }

    /// The name/value pairs a browser submits for this markup, in document order
    /// (file inputs excluded; textarea line breaks sent as CRLF as browsers do).
    fn submit(html: &str) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        let mut at = 0;
        while let Some(offset) = html[at..].find('<') {
            let start = at + offset;
            if html[start + 1..].starts_with('/') {
                at = start + 1;
                continue;
            }
            let tag = tag_at(html, start);
            at = tag.end;
            let Some(name) = tag.attr("name").map(str::to_owned) else { continue };
            if tag.has("disabled") {
                continue;
            }
            match tag.name.as_str() {
                "input" => match tag.attr("type").unwrap_or("text") {
                    "checkbox" | "radio" => {
                        if tag.has("checked") {
                            pairs.push((name, tag.attr("value").unwrap_or("on").to_owned()));
                        }
                    }
                    "file" | "submit" | "button" | "reset" => {}
                    _ => pairs.push((name, tag.attr("value").unwrap_or("").to_owned())),
                },
                "textarea" => {
                    let close = html[at..].find("</textarea>").unwrap() + at;
                    let text = unescape(&html[at..close]);
                    let text = text.strip_prefix('\n').unwrap_or(&text);
                    pairs.push((name, text.replace('\n', "\r\n")));
                    at = close;
                }
                "select" => {
                    let close = html[at..].find("</select>").unwrap() + at;
                    let mut options = Vec::new();
                    let mut i = at;
                    while let Some(offset) = html[i..close].find("<option") {
                        let option = tag_at(html, i + offset);
                        let text_end = html[option.end..].find("</option>").unwrap() + option.end;
                        let value =
                            option.attr("value").map_or_else(|| unescape(&html[option.end..text_end]), str::to_owned);
                        options.push((value, option.has("selected")));
                        i = text_end;
                    }
                    let selected: Vec<String> = options.iter().filter(|(_, s)| *s).map(|(v, _)| v.clone()).collect();
                    if !selected.is_empty() {
                        pairs.extend(selected.into_iter().map(|v| (name.clone(), v)));
                    } else if !tag.has("multiple")
                        && let Some((first, _)) = options.first()
                    {
                        pairs.push((name, first.clone()));
                    }
                    at = close;
                }
                _ => {}
            }
        }
        pairs
    }

    fn render(schema: &Value, values: &Value, problems: &[Problem]) -> String {
        render_fields(schema, values, problems, "").into_string()
    }

    /// The markup of the field wrapper with this id (up to the next field at any level).
    fn field<'h>(html: &'h str, id: &str) -> &'h str {
        let marker = format!("id=\"field-{id}\"");
        let at = html.find(&marker).unwrap_or_else(|| panic!("no field {id} in {html}"));
        let start = html[..at].rfind("<div").unwrap();
        let rest = &html[at..];
        let end = rest.find("<div class=\"field ").map_or(html.len(), |e| at + e);
        &html[start..end]
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    fn object(properties: Value) -> Value {
        json!({"type": "object", "properties": properties})
    }

    // -- Rendering ---------------------------------------------------------------------------

    #[test]
    fn widgets_follow_the_schema() {
        let cases: Vec<(Value, Vec<&str>, Vec<&str>)> = vec![
            (
                json!({"type": "string"}),
                vec![r#"type="text""#, r#"name="f""#, r#"id="input-f""#, r#"class="input""#],
                vec!["<textarea"],
            ),
            (json!({"type": "string", "format": "email"}), vec![r#"type="email""#], vec![]),
            (json!({"type": "string", "format": "date"}), vec![r#"type="date""#], vec![]),
            (
                json!({"type": "string", "format": "date-time"}),
                vec![r#"type="datetime-local""#, "Time in UTC."],
                vec![],
            ),
            (json!({"type": "string", "format": "uri"}), vec![r#"type="url""#], vec![]),
            (json!({"type": "string", "maxLength": 500}), vec!["<textarea", r#"maxlength="500""#], vec!["<input"]),
            (
                json!({"type": "string", "maxLength": 50, "minLength": 2}),
                vec![r#"maxlength="50""#, r#"minlength="2""#],
                vec!["<textarea"],
            ),
            (
                json!({"type": "string", "x-ui": {"widget": "textarea", "rows": 9, "placeholder": "Say it"}}),
                vec!["<textarea", r#"rows="9""#, r#"placeholder="Say it""#],
                vec![],
            ),
            (
                json!({"type": "string", "enum": ["low", "high"]}),
                vec!["<select", "— choose —", r#"<option value="low">low</option>"#],
                vec!["radio"],
            ),
            (
                json!({"type": "string", "enum": ["low", "high"], "x-ui": {"widget": "radio"}}),
                vec![r#"type="radio""#, r#"value="high""#, "<fieldset", "<legend", "None"],
                vec!["<select"],
            ),
            (
                json!({"oneOf": [{"const": "a", "title": "Alpha"}, {"const": "b", "title": "Beta"}]}),
                vec![r#"<option value="a">Alpha</option>"#],
                vec![],
            ),
            (
                json!({"type": "integer", "minimum": 0, "maximum": 10}),
                vec![r#"type="number""#, r#"step="1""#, r#"min="0""#, r#"max="10""#],
                vec![],
            ),
            (json!({"type": "integer", "exclusiveMinimum": 0}), vec![r#"min="1""#], vec![]),
            (json!({"type": "number"}), vec![r#"type="number""#, r#"step="any""#], vec![]),
            (json!({"type": "number", "multipleOf": 0.5}), vec![r#"step="0.5""#], vec![]),
            (
                json!({"type": "boolean"}),
                vec![r#"type="checkbox""#, r#"value="true""#, "field-checkbox"],
                vec!["required"],
            ),
            (
                json!({"type": "boolean", "x-ui": {"widget": "radio"}}),
                vec![r#"type="radio""#, r#"value="true""#, "Yes", "No"],
                vec![],
            ),
            (json!({"type": "array", "items": {"type": "string"}}), vec!["<textarea", "One per line."], vec![]),
            (
                json!({"type": "array", "items": {"type": "string", "enum": ["x", "y"]}}),
                vec!["<select", "multiple", r#"<option value="y">y</option>"#],
                vec!["— choose —"],
            ),
            (
                json!({"type": "array", "items": {"enum": ["x", "y"]}, "x-ui": {"widget": "checkboxes"}}),
                vec![r#"type="checkbox""#, r#"value="x""#],
                vec!["<select"],
            ),
            (
                json!({"type": "object", "title": "Address", "properties": {"city": {"type": "string"}}}),
                vec!["<fieldset", "<legend class=\"field-label\">Address", r#"name="f.city""#, r#"id="field-f.city""#],
                vec![],
            ),
            (
                json!({"type": "string", "contentMediaType": "application/pdf"}),
                vec![r#"type="file""#, r#"accept="application/pdf""#],
                vec![],
            ),
            (json!({"type": "string", "format": "binary"}), vec![r#"type="file""#], vec!["accept"]),
            (
                json!({"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}}),
                vec!["<textarea", "input-json", "Enter JSON."],
                vec![],
            ),
            (json!({"type": "string", "pattern": "^[A-Z]{2}-\\d{4}$"}), vec![r#"pattern="^[A-Z]{2}-\d{4}$""#], vec![]),
            (json!({"type": "string", "pattern": "(?=x)"}), vec![], vec!["pattern="]),
        ];
        for (property, present, absent) in cases {
            let schema = object(json!({"f": property}));
            let html = render(&schema, &json!({}), &[]);
            for needle in present {
                assert!(html.contains(needle), "{property} should render {needle}:\n{html}");
            }
            for needle in absent {
                assert!(!html.contains(needle), "{property} should not render {needle}:\n{html}");
            }
            assert!(html.contains(r#"id="field-f""#), "{html}");
        }
    }

    #[test]
    fn labels_help_required_marker_and_defaults() {
        let schema = json!({
            "type": "object",
            "required": ["submitted_doc", "priority"],
            "properties": {
                "submitted_doc": {"type": "string", "description": "Paste the text."},
                "customerEmail": {"type": "string", "title": "Customer's email"},
                "priority": {"type": "string", "enum": ["low", "normal", "high"], "default": "normal"}
            }
        });
        let html = render(&schema, &json!({}), &[]);
        let doc = field(&html, "submitted_doc");
        assert!(doc.contains(r#"<label class="field-label" for="input-submitted_doc">Submitted doc <span class="required" aria-hidden="true">*</span></label>"#), "{doc}");
        assert!(doc.contains(" required"), "{doc}");
        assert!(doc.contains(r#"<p class="field-help" id="help-submitted_doc">Paste the text.</p>"#), "{doc}");
        assert!(doc.contains(r#"aria-describedby="help-submitted_doc""#), "{doc}");
        let email = field(&html, "customerEmail");
        assert!(email.contains("Customer&#39;s email") || email.contains("Customer's email"), "{email}");
        assert!(!email.contains("class=\"required\"") && !email.contains(" required"), "{email}");
        let priority = field(&html, "priority");
        assert!(priority.contains(r#"<option value="normal" selected>normal</option>"#), "{priority}");
        assert!(!priority.contains("— choose —"), "required with a value: no empty choice\n{priority}");
        assert_eq!(humanise("submitted_doc"), "Submitted doc");
        assert_eq!(humanise("customerEmail"), "Customer email");
        assert_eq!(humanise("parcel-weight_kg"), "Parcel weight kg");
        assert_eq!(humanise("x2Y"), "X2 y");
    }

    #[test]
    fn escaping_of_titles_descriptions_values_and_choices() {
        let schema = object(json!({
            "t": {"type": "string", "title": "<script>alert(1)</script>", "description": "<b>bold</b>"},
            "e": {"enum": ["<i>", "a\"b"]},
            "x": {"type": "string", "x-ui": {"widget": "textarea"}}
        }));
        let values = json!({"t": "\"><script>alert(2)</script>", "e": "a\"b", "x": "</textarea><script>3</script>"});
        let html = render(&schema, &values, &[Problem::error("", "<script>4</script>")]);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>") && !html.contains("<i>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains(r#"value="&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;""#), "{html}");
        assert!(html.contains(r#"<option value="a&quot;b" selected>"#), "{html}");
        let shown = render_value(&schema, &values).into_string();
        assert!(!shown.contains("<script>"), "{shown}");
        // The browser gets back exactly what was shown.
        let parsed = parse_fields(&schema, &submit(&html), vec![], "");
        assert_eq!(parsed.value, values);
    }

    #[test]
    fn x_ui_orders_groups_and_chooses_widgets() {
        let schema = json!({
            "type": "object",
            "x-ui": {
                "order": ["c", "b"],
                "groups": [{"title": "Contact", "description": "How to reach you", "fields": ["e", "a"]}]
            },
            "properties": {
                "a": {"type": "string"},
                "b": {"type": "string", "x-ui": {"widget": "textarea", "rows": 3}},
                "c": {"type": "string", "enum": ["x", "y"], "x-ui": {"widget": "radio"}},
                "d": {"type": "integer"},
                "e": {"type": "string", "format": "email"}
            }
        });
        let html = render(&schema, &json!({}), &[]);
        let position = |id: &str| html.find(&format!("id=\"field-{id}\"")).unwrap();
        // order: c, b, then the rest as declared (a, d, e); the group sits where its first field (a) falls.
        assert!(position("c") < position("b"));
        assert!(position("b") < position("e"), "the group comes after b");
        assert!(position("e") < position("a"), "the group's own order");
        assert!(position("a") < position("d"), "d follows the group");
        let group = &html[html.find("<fieldset class=\"field-group\"").unwrap()..position("d")];
        assert!(group.contains("<legend>Contact</legend>") && group.contains("How to reach you"), "{group}");
        assert!(field(&html, "b").contains(r#"rows="3""#));
        assert!(field(&html, "c").contains(r#"type="radio""#));
        // The same order in the read-only view.
        let shown = render_value(&schema, &json!({"a": "1", "b": "2", "c": "x", "d": 4, "e": "m@x.io"})).into_string();
        let at = |label: &str| shown.find(&format!("<dt>{label}</dt>")).unwrap();
        assert!(at("C") < at("B") && at("B") < at("E") && at("E") < at("A") && at("A") < at("D"), "{shown}");
    }

    // -- Parsing -----------------------------------------------------------------------------

    fn rich_schema() -> Value {
        json!({
            "type": "object",
            "required": ["title"],
            "properties": {
                "title": {"type": "string", "minLength": 3},
                "email": {"type": "string", "format": "email"},
                "due": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "date-time"},
                "site": {"type": "string", "format": "uri"},
                "doc": {"type": "string", "x-ui": {"widget": "textarea"}},
                "priority": {"type": "string", "enum": ["low", "normal", "high"]},
                "level": {"enum": [1, 2, 3], "x-ui": {"widget": "radio"}},
                "count": {"type": "integer"},
                "total": {"type": "number"},
                "ratio": {"type": "number"},
                "urgent": {"type": "boolean"},
                "done": {"type": "boolean"},
                "answer": {"type": "boolean", "x-ui": {"widget": "select"}},
                "tags": {"type": "array", "items": {"type": "string"}},
                "sizes": {"type": "array", "items": {"type": "integer"}},
                "colours": {"type": "array", "items": {"enum": ["red", "green", "blue"]}},
                "address": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}, "geo": {"type": "object", "properties": {"lat": {"type": "number"}}}}
                },
                "items": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}}}
            }
        })
    }

    #[test]
    fn render_then_submit_then_parse_gives_the_same_json() {
        let schema = rich_schema();
        let values = json!({
            "title": "Fix the <b>header</b> & footer",
            "email": "kim@example.com",
            "due": "2026-11-22",
            "at": "2026-11-22T10:30:00Z",
            "site": "https://example.com/a?b=c&d=e",
            "doc": "\nfirst line\n\n  indented\tline\nlast",
            "priority": "high",
            "level": 2,
            "count": -7,
            "total": 1450.0,
            "ratio": 0.25,
            "urgent": true,
            "done": false,
            "answer": false,
            "tags": ["a b", "c"],
            "sizes": [1, 20, 300],
            "colours": ["red", "blue"],
            "address": {"city": "Zürich", "zip": "8000", "geo": {"lat": 47.37}},
            "items": [{"sku": "MUG-01", "qty": 2}, {"sku": "TEA-12", "qty": 1}]
        });
        let html = render(&schema, &values, &[]);
        let submitted = submit(&html);
        let parsed = parse_fields(&schema, &submitted, vec![], "");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.value, values, "submitted: {submitted:?}");
        assert!(Schema::compile(&schema).unwrap().is_valid(&parsed.value));
        // Rendering the raw copy shows the same form again.
        assert_eq!(submit(&render(&schema, &parsed.raw, &[])), submitted);
        // An empty form gives an (almost) empty object: only the checkboxes answer.
        let empty = parse_fields(&schema, &submit(&render(&schema, &json!({}), &[])), vec![], "");
        assert_eq!(empty.value, json!({"urgent": false, "done": false}));
        assert!(empty.problems.is_empty(), "{:?}", empty.problems);
    }

    #[test]
    fn numbers_booleans_and_choices_are_coerced() {
        let schema = rich_schema();
        let parsed = parse_fields(
            &schema,
            &pairs(&[
                ("title", "  spaced  "),
                ("count", " 42 "),
                ("total", "19.5"),
                ("ratio", "3"),
                ("urgent", "true"),
                ("level", "3"),
                ("answer", "true"),
                ("priority", "low"),
                ("csrf", "ignored"),
            ]),
            vec![],
            "",
        );
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let v = &parsed.value;
        assert_eq!(v["title"], json!("  spaced  "), "text is kept as typed");
        assert_eq!(v["count"], json!(42));
        assert_eq!(v["total"], json!(19.5));
        assert_eq!(v["ratio"], json!(3), "a whole number stays an integer");
        assert_eq!(v["urgent"], json!(true));
        assert_eq!(v["done"], json!(false), "an unchecked checkbox is false");
        assert_eq!(v["level"], json!(3), "the enum's own JSON value");
        assert_eq!(v["answer"], json!(true));
        assert!(v.get("csrf").is_none() && v.get("email").is_none());
        let whole = parse_fields(&schema, &pairs(&[("count", "2.0")]), vec![], "");
        assert_eq!(whole.value["count"], json!(2));
    }

    #[test]
    fn unreadable_input_is_reported_at_its_pointer_and_kept_for_redisplay() {
        let schema = rich_schema();
        let parsed = parse_fields(
            &schema,
            &pairs(&[
                ("title", "ok title"),
                ("count", "twelve"),
                ("total", "1,5"),
                ("priority", "urgent"),
                ("items", "[{"),
            ]),
            vec![],
            "",
        );
        let at = |pointer: &str| parsed.problems.iter().find(|p| p.pointer == pointer).map(|p| p.message.as_str());
        assert_eq!(at("/count"), Some("must be a whole number"));
        assert_eq!(at("/total"), Some("must be a number"));
        assert_eq!(at("/priority"), Some("must be one of the listed choices"));
        assert!(at("/items").unwrap().starts_with("must be valid JSON"), "{:?}", parsed.problems);
        assert!(parsed.value.get("count").is_none() && parsed.value.get("items").is_none());
        assert_eq!(parsed.raw["count"], json!("twelve"));
        assert_eq!(parsed.raw["items"], json!("[{"));
        let count = parse_fields(&schema, &pairs(&[("count", "1.5")]), vec![], "");
        assert_eq!(count.problems[0].pointer, "/count");
        // Shown again: the text as typed, the error beside it, the input marked.
        let html = render(&schema, &parsed.raw, &parsed.problems);
        let count = field(&html, "count");
        assert!(count.contains(r#"type="text""#) && count.contains(r#"value="twelve""#), "{count}");
        assert!(
            count.contains(r#"aria-invalid="true""#) && count.contains(r#"aria-describedby="error-count-0""#),
            "{count}"
        );
        assert!(count.contains(r#"<p class="field-error" id="error-count-0">must be a whole number</p>"#), "{count}");
        assert!(count.contains("field-invalid"));
        assert!(field(&html, "items").contains("\n[{</textarea>"));
        assert!(!html.contains("form-problems"), "every problem found its field: {html}");
        // `validate` does not pile "required"/type errors on top of a reading problem.
        let schema = json!({"type": "object", "required": ["count"], "properties": {"count": {"type": "integer"}}});
        let parsed = parse_fields(&schema, &pairs(&[("count", "x")]), vec![], "");
        let all = parsed.validate(&Schema::compile(&schema).unwrap());
        assert_eq!(all.len(), 1, "{all:?}");
    }

    #[test]
    fn a_missing_required_field_is_reported_beside_it() {
        let schema = json!({
            "type": "object",
            "required": ["title", "submitted_doc"],
            "properties": {
                "title": {"type": "string", "title": "Title", "minLength": 3},
                "submitted_doc": {"type": "string", "title": "Document", "x-ui": {"widget": "textarea"}}
            }
        });
        let compiled = Schema::compile(&schema).unwrap();
        let parsed = parse_fields(&schema, &pairs(&[("title", ""), ("submitted_doc", "text")]), vec![], "");
        assert!(parsed.problems.is_empty());
        let problems = parsed.validate(&compiled);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let html = render(&schema, &parsed.raw, &problems);
        let title = field(&html, "title");
        assert!(title.contains("This field is required."), "{title}");
        assert!(title.contains(r#"aria-invalid="true""#), "{title}");
        assert!(!field(&html, "submitted_doc").contains("field-error"));
        assert!(!html.contains("form-problems"), "{html}");
        assert_eq!(problems_at(&problems, "/title").count(), 1);
        // jsonschema's own wording, at the parent object, lands on the field too.
        let raw = [Problem::error("", "\"submitted_doc\" is a required property")];
        let html = render(&schema, &json!({}), &raw);
        assert!(field(&html, "submitted_doc").contains("This field is required."), "{html}");
        assert!(!html.contains("form-problems"), "{html}");
        assert_eq!(problems_at(&raw, "/submitted_doc").count(), 1);
        assert_eq!(problems_at(&raw, "").count(), 0);
        // Too short: the schema's message, beside the field, with the text kept.
        let parsed = parse_fields(&schema, &pairs(&[("title", "ab"), ("submitted_doc", "x")]), vec![], "");
        let problems = parsed.validate(&compiled);
        let html = render(&schema, &parsed.raw, &problems);
        let title = field(&html, "title");
        assert!(title.contains("field-error") && title.contains(r#"value="ab""#), "{title}");
    }

    #[test]
    fn problems_that_match_no_field_are_listed_at_the_top() {
        let schema = object(json!({"a": {"type": "string"}}));
        let problems = [
            Problem::error("", "Additional properties are not allowed ('zz' was unexpected)"),
            Problem::error("/zz", "odd"),
            Problem::warning("/a", "looks odd"),
        ];
        let html = render(&schema, &json!({"a": "x"}), &problems);
        let top = &html[..html.find("id=\"field-a\"").unwrap()];
        assert!(top.contains(r#"<div class="form-problems" role="alert">"#), "{html}");
        assert!(
            top.contains("Additional properties are not allowed") && top.contains("<code>/zz</code>: odd"),
            "{top}"
        );
        let a = field(&html, "a");
        assert!(a.contains(r#"class="field-error warning""#) && a.contains("looks odd"), "{a}");
        assert!(!a.contains("aria-invalid"), "a warning does not make the input invalid: {a}");
    }

    #[test]
    fn nested_objects_use_dotted_names_and_nested_pointers() {
        let schema = json!({
            "type": "object",
            "properties": {
                "address": {
                    "type": "object",
                    "title": "Address",
                    "required": ["city"],
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}, "geo": {"type": "object", "properties": {"lat": {"type": "number"}}}}
                }
            }
        });
        let html = render(&schema, &json!({"address": {"city": "Bern"}}), &[]);
        assert!(html.contains(r#"name="address.city""#) && html.contains(r#"id="input-address.city""#));
        assert!(html.contains(r#"name="address.geo.lat""#));
        assert!(field(&html, "address.city").contains(r#"value="Bern""#));
        let parsed =
            parse_fields(&schema, &pairs(&[("address.street", "Main 1"), ("address.geo.lat", "46.9")]), vec![], "");
        assert_eq!(parsed.value, json!({"address": {"street": "Main 1", "geo": {"lat": 46.9}}}));
        let problems = parsed.validate(&Schema::compile(&schema).unwrap());
        assert_eq!(problems[0].pointer, "/address/city", "{problems:?}");
        let html = render(&schema, &parsed.raw, &problems);
        assert!(field(&html, "address.city").contains("This field is required."), "{html}");
        // A problem about the object itself shows at its fieldset.
        let html = render(&schema, &json!({}), &[Problem::error("/address", "must have two keys")]);
        let address = field(&html, "address");
        assert!(address.contains("must have two keys") && address.contains("<fieldset"), "{address}");
        // Nothing typed in a nested object: the object is absent.
        let parsed = parse_fields(&schema, &pairs(&[("address.street", "")]), vec![], "");
        assert_eq!(parsed.value, json!({}));
    }

    #[test]
    fn arrays_are_one_item_per_line_or_repeated_names() {
        let schema = object(json!({
            "links": {"type": "array", "minItems": 1, "items": {"type": "string", "format": "uri"}},
            "sizes": {"type": "array", "items": {"type": "number"}},
            "colours": {"type": "array", "items": {"enum": ["red", "green"]}}
        }));
        let parsed = parse_fields(
            &schema,
            &pairs(&[
                ("links", "https://a.example/1\r\n\r\n  https://a.example/2  \r\n"),
                ("sizes", "1\n2.5\nbig\n"),
                ("colours", "green"),
                ("colours", "red"),
            ]),
            vec![],
            "",
        );
        assert_eq!(parsed.value["links"], json!(["https://a.example/1", "https://a.example/2"]));
        assert_eq!(parsed.value["colours"], json!(["green", "red"]));
        assert!(parsed.value.get("sizes").is_none());
        assert_eq!(parsed.problems, vec![Problem::error("/sizes/2", "must be a number")]);
        assert_eq!(parsed.raw["sizes"], json!([1, 2.5, "big"]));
        let html = render(&schema, &parsed.raw, &parsed.problems);
        let sizes = field(&html, "sizes");
        assert!(sizes.contains("\n1\n2.5\nbig</textarea>") && sizes.contains("Item 3: must be a number"), "{sizes}");
        // Repeated text inputs work as well as one textarea.
        let parsed = parse_fields(
            &schema,
            &pairs(&[("links", "https://b.example"), ("links", "https://c.example")]),
            vec![],
            "",
        );
        assert_eq!(parsed.value["links"], json!(["https://b.example", "https://c.example"]));
        // An item problem from the schema is shown at the array.
        let problems = Schema::compile(&schema).unwrap().validate(&json!({"links": ["not a uri"]})).unwrap_err();
        let html = render(&schema, &json!({"links": ["not a uri"]}), &problems);
        assert!(field(&html, "links").contains("Item 1:"), "{html}");
    }

    #[test]
    fn date_times_travel_between_rfc3339_and_the_picker() {
        assert_eq!(to_local("2026-11-22T10:30:00Z").as_deref(), Some("2026-11-22T10:30"));
        assert_eq!(to_local("2026-11-22T10:30:15.250Z").as_deref(), Some("2026-11-22T10:30:15.250"));
        assert_eq!(to_local("2026-01-01T01:00:00+02:00").as_deref(), Some("2025-12-31T23:00"));
        assert_eq!(to_local("2024-02-28T23:30:00-01:00").as_deref(), Some("2024-02-29T00:30"));
        assert_eq!(to_local("2026-11-22T10:30"), None, "no offset: not RFC 3339");
        assert_eq!(to_local("2026-02-30T10:30:00Z"), None);
        assert_eq!(from_local("2026-11-22T10:30"), "2026-11-22T10:30:00Z");
        assert_eq!(from_local("2026-11-22 10:30:05"), "2026-11-22T10:30:05Z");
        assert_eq!(from_local("2026-11-22T10:30:00+01:00"), "2026-11-22T10:30:00+01:00");
        assert_eq!(from_local("tomorrow"), "tomorrow");
        let schema = object(json!({"at": {"type": "string", "format": "date-time"}}));
        let html = render(&schema, &json!({"at": "2026-06-01T08:00:00+02:00"}), &[]);
        assert!(html.contains(r#"value="2026-06-01T06:00""#), "{html}");
        assert_eq!(parse_fields(&schema, &submit(&html), vec![], "").value, json!({"at": "2026-06-01T06:00:00Z"}));
        // What the picker cannot show is shown as text, to be fixed.
        let html = render(&schema, &json!({"at": "tomorrow"}), &[]);
        assert!(html.contains(r#"type="text""#) && html.contains(r#"value="tomorrow""#), "{html}");
        let parsed = parse_fields(&schema, &pairs(&[("at", "tomorrow")]), vec![], "");
        assert!(Schema::compile(&schema).unwrap().validate(&parsed.value).is_err());
    }

    #[test]
    fn plain_patterns_become_html_patterns() {
        assert_eq!(html_pattern("^[A-Z]{2}-\\d{4}$").as_deref(), Some("^[A-Z]{2}-\\d{4}$"));
        assert_eq!(html_pattern("abc").as_deref(), Some(".*(?:abc).*"));
        assert_eq!(html_pattern("^a|b$").as_deref(), Some(".*(?:^a|b$).*"));
        assert_eq!(html_pattern("^[a-z0-9_]+$").as_deref(), Some("^[a-z0-9_]+$"));
        for odd in ["(?=a)", "\\p{L}", "[a-z-]", "[-a]", "a{", "(a)\\1", "[[a]]", "[a&&b]", "\\-", "[a-c-e]", "x}"] {
            assert_eq!(html_pattern(odd), None, "{odd}");
        }
    }

    // -- Files -------------------------------------------------------------------------------

    fn upload(field: &str, name: &str) -> Upload {
        Upload {
            field: field.into(),
            file_name: name.into(),
            content_type: "application/pdf".into(),
            bytes: b"%PDF".to_vec(),
        }
    }

    #[test]
    fn file_fields_hand_their_uploads_back_with_pointers() {
        let schema = json!({
            "type": "object",
            "required": ["contract"],
            "properties": {
                "title": {"type": "string"},
                "contract": {"type": "string", "contentMediaType": "application/pdf"},
                "photos": {"type": "array", "items": {"type": "string", "contentMediaType": "image/png"}},
                "docs": {"type": "object", "properties": {"scan": {"type": "string", "format": "binary"}}}
            }
        });
        assert!(needs_multipart(&schema));
        assert!(!needs_multipart(&rich_schema()));
        let html = render(&schema, &json!({}), &[]);
        assert!(
            field(&html, "photos").contains("multiple") && field(&html, "photos").contains(r#"accept="image/png""#)
        );
        let uploads = vec![
            upload("contract", "c.pdf"),
            upload("photos", "1.png"),
            upload("photos", "2.png"),
            upload("docs.scan", "s.pdf"),
            upload("title", "stray.pdf"),
            Upload { field: "contract".into(), file_name: String::new(), content_type: String::new(), bytes: vec![] },
        ];
        let mut parsed = parse_fields(&schema, &pairs(&[("title", "T")]), uploads, "");
        let found: Vec<(&str, &str)> = parsed.files.iter().map(|(p, u)| (p.as_str(), u.file_name.as_str())).collect();
        assert_eq!(
            found,
            vec![("/contract", "c.pdf"), ("/photos/0", "1.png"), ("/photos/1", "2.png"), ("/docs/scan", "s.pdf")]
        );
        assert_eq!(parsed.value, json!({"title": "T"}), "file properties are left for the caller");
        // The caller stores each file and puts a reference where it belongs.
        let compiled = Schema::compile(&schema).unwrap();
        assert!(!parsed.validate(&compiled).is_empty(), "contract is required");
        for (n, (pointer, upload)) in parsed.files.clone().iter().enumerate() {
            parsed.attach_file(pointer, file_reference(n as i64 + 1, upload));
        }
        assert_eq!(
            parsed.value["contract"],
            json!({"file_id": 1, "name": "c.pdf", "content_type": "application/pdf", "size": 4})
        );
        assert_eq!(parsed.value["photos"][1]["name"], json!("2.png"));
        assert_eq!(parsed.value["docs"]["scan"]["file_id"], json!(4));
        // Shown again with the stored files: links, and a kept reference survives a resubmission.
        let html = render(&schema, &parsed.raw, &[]);
        let contract = field(&html, "contract");
        assert!(contract.contains(r#"<a class="file-link" href="/files/1">c.pdf</a>"#), "{contract}");
        assert!(contract.contains(r#"type="file""#) && !contract.contains(" required"), "{contract}");
        let again = parse_fields(&schema, &submit(&html), vec![], "");
        assert_eq!(
            again.kept,
            vec![
                ("/contract".to_owned(), "1".to_owned()),
                ("/photos/0".to_owned(), "2".to_owned()),
                ("/photos/1".to_owned(), "3".to_owned()),
                ("/docs/scan".to_owned(), "4".to_owned())
            ]
        );
        assert!(again.files.is_empty());
        // Removing one photo and adding another.
        let mut submitted = submit(&html);
        submitted.push(("photos~remove".into(), "2".into()));
        let again =
            parse_fields(&schema, &submitted, vec![upload("photos", "3.png"), upload("contract", "new.pdf")], "");
        assert!(again.kept.contains(&("/photos/0".to_owned(), "3".to_owned())));
        assert!(!again.kept.iter().any(|(p, _)| p == "/contract"), "a new upload replaces the kept file");
        let files: Vec<&str> = again.files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(files, vec!["/contract", "/photos/1"]);
        // The read-only view links the files.
        let shown = render_value(&schema, &parsed.value).into_string();
        assert!(
            shown.contains(r#"href="/files/1""#) && shown.contains(r#"href="/files/3""#) && shown.contains("(4 B)"),
            "{shown}"
        );
    }

    #[test]
    fn a_file_reference_validates_when_the_file_field_has_no_string_type() {
        // `{type: string, contentMediaType}` describes the bytes; the stored data holds a reference
        // object, which only a schema without `type: string` accepts.
        let schema = json!({"type": "object", "required": ["cv"], "properties": {"cv": {"contentMediaType": "application/pdf"}}});
        assert!(needs_multipart(&schema));
        let compiled = Schema::compile(&schema).unwrap();
        let mut parsed = parse_fields(&schema, &[], vec![upload("cv", "cv.pdf")], "");
        assert_eq!(parsed.validate(&compiled)[0].pointer, "/cv", "absent until attached");
        let (pointer, file) = parsed.files[0].clone();
        parsed.attach_file(&pointer, file_reference(9, &file));
        assert!(parsed.validate(&compiled).is_empty());
        let typed =
            json!({"type": "object", "properties": {"cv": {"type": "string", "contentMediaType": "application/pdf"}}});
        assert!(!Schema::compile(&typed).unwrap().is_valid(&parsed.value), "a reference is no string");
    }

    #[test]
    fn validate_keeps_problems_unrelated_to_reading_problems() {
        let schema = json!({
            "type": "object",
            "required": ["a"],
            "properties": {"n": {"type": "integer"}, "a": {"type": "string"}}
        });
        let parsed = parse_fields(&schema, &pairs(&[("n", "x")]), vec![], "");
        let all = parsed.validate(&Schema::compile(&schema).unwrap());
        let pointers: Vec<&str> = all.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/n", "/a"]);
    }

    #[test]
    fn set_pointer_builds_what_is_missing() {
        let mut value = json!({});
        assert!(set_pointer(&mut value, "/a/b", json!(1)));
        assert!(set_pointer(&mut value, "/list/1", json!("second")));
        assert!(set_pointer(&mut value, "/list/0", json!("first")));
        assert!(set_pointer(&mut value, "/x~1y", json!(true)));
        assert_eq!(value, json!({"a": {"b": 1}, "list": ["first", "second"], "x/y": true}));
        assert!(!set_pointer(&mut value, "/a/b/c", json!(2)), "cannot go through a number");
    }

    #[test]
    fn a_prefix_namespaces_names_and_ids() {
        let schema = object(json!({"title": {"type": "string"}, "n": {"type": "integer"}, "ok": {"type": "boolean"}}));
        let html = render_fields(&schema, &json!({"title": "A", "n": 3, "ok": true}), &[], "output").into_string();
        assert!(html.contains(r#"id="field-output-title""#) && html.contains(r#"name="output.title""#), "{html}");
        assert!(html.contains(r#"id="input-output-n""#));
        let mut submitted = submit(&html);
        submitted.extend(pairs(&[("title", "other form"), ("n", "nope")]));
        let parsed = parse_fields(&schema, &submitted, vec![], "output");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.value, json!({"title": "A", "n": 3, "ok": true}));
        let other = parse_fields(&schema, &submitted, vec![], "");
        assert_eq!(other.value["title"], json!("other form"));
    }

    // -- Display -----------------------------------------------------------------------------

    #[test]
    fn render_value_shows_a_definition_list() {
        let schema = json!({
            "type": "object",
            "properties": {
                "title": {"type": "string", "title": "Title"},
                "doc": {"type": "string"},
                "priority": {"oneOf": [{"const": "p1", "title": "Urgent"}, {"const": "p2", "title": "Normal"}]},
                "solved": {"type": "boolean"},
                "site": {"type": "string", "format": "uri"},
                "place": {"type": "object", "properties": {"city": {"type": "string", "title": "City"}}},
                "attachment": {"type": "string", "contentMediaType": "application/pdf"}
            }
        });
        let value = json!({
            "extra_key": [1, 2],
            "doc": "line one\nline <two>",
            "title": "Hello",
            "priority": "p1",
            "solved": false,
            "site": "javascript:alert(1)",
            "place": {"city": "Oslo"},
            "attachment": {"file_id": 7, "name": "a b.pdf", "content_type": "application/pdf", "size": 2048}
        });
        let html = render_value(&schema, &value).into_string();
        assert!(html.starts_with(r#"<dl class="values">"#), "{html}");
        assert!(
            html.find("<dt>Title</dt>").unwrap() < html.find("<dt>Extra key</dt>").unwrap(),
            "schema order, extras last"
        );
        assert!(html.contains("line one<br>line &lt;two&gt;"), "{html}");
        assert!(html.contains("<dd>Urgent</dd>") && html.contains("<dd>No</dd>"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
        assert!(html.contains(r#"<dt>City</dt><dd><span class="value-text">Oslo</span></dd>"#), "{html}");
        assert!(
            html.contains(r#"<a class="file-link" href="/files/7">a b.pdf</a>"#) && html.contains("2.0 KB"),
            "{html}"
        );
        assert!(html.contains("<li>1</li><li>2</li>"), "{html}");
        let link = render_value(&schema, &json!({"site": "https://example.com/x"})).into_string();
        assert!(link.contains(r#"<a href="https://example.com/x""#), "{link}");
        assert!(render_value(&schema, &json!({})).into_string().contains("No data."));
        // Without a schema every key is shown under its humanised name.
        let bare = render_value(&Value::Null, &json!({"order_id": "SO-1"})).into_string();
        assert!(bare.contains("<dt>Order id</dt><dd><span class=\"value-text\">SO-1</span></dd>"), "{bare}");
    }

    // -- The whole loop with the examples' schemas ---------------------------------------------

    #[test]
    fn the_examples_ticket_forms_work_end_to_end() {
        // customer-support's ticket type and triage task, order-fulfilment's order (items as JSON).
        let support = json!({
            "type": "object",
            "required": ["subject", "description"],
            "properties": {
                "subject": {"type": "string", "title": "Subject", "minLength": 3},
                "description": {"type": "string", "title": "What happened?", "x-ui": {"widget": "textarea"}},
                "priority": {"type": "string", "title": "Priority", "enum": ["low", "normal", "high"], "default": "normal"}
            }
        });
        let compiled = Schema::compile(&support).unwrap();
        let blank = render(&support, &json!({}), &[]);
        let parsed = parse_fields(&support, &submit(&blank), vec![], "");
        assert_eq!(parsed.value, json!({"priority": "normal"}), "the default is preselected");
        let problems = parsed.validate(&compiled);
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/subject", "/description"]);
        let again = render(&support, &parsed.raw, &problems);
        assert!(field(&again, "subject").contains("This field is required."));
        assert!(field(&again, "description").contains("This field is required."));
        let fixed = parse_fields(
            &support,
            &pairs(&[("subject", "Printer"), ("description", "It jams.\r\nEvery time."), ("priority", "high")]),
            vec![],
            "",
        );
        assert!(fixed.validate(&compiled).is_empty());
        assert_eq!(fixed.value["description"], json!("It jams.\nEvery time."));

        let order = json!({
            "type": "object",
            "required": ["order_id", "customer_email", "items", "total"],
            "properties": {
                "order_id": {"type": "string", "title": "Order number"},
                "customer_email": {"type": "string", "format": "email", "title": "Customer email"},
                "items": {"type": "array", "title": "Items", "minItems": 1, "items": {"type": "object", "required": ["sku", "qty"], "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}},
                "total": {"type": "number", "minimum": 0, "title": "Order total"}
            }
        });
        let compiled = Schema::compile(&order).unwrap();
        let data = json!({"order_id": "SO-2291", "customer_email": "kim@example.com", "items": [{"sku": "MUG-01", "qty": 2}, {"sku": "TEA-12", "qty": 1}], "total": 1450.0});
        let parsed = parse_fields(&order, &submit(&render(&order, &data, &[])), vec![], "");
        assert_eq!(parsed.value, data);
        assert!(parsed.validate(&compiled).is_empty());
        let bad = parse_fields(
            &order,
            &pairs(&[
                ("order_id", "SO-1"),
                ("customer_email", "nope"),
                ("items", r#"[{"sku": "A", "qty": 0}]"#),
                ("total", "-1"),
            ]),
            vec![],
            "",
        );
        let problems = bad.validate(&compiled);
        let html = render(&order, &bad.raw, &problems);
        assert!(field(&html, "customer_email").contains("field-error"), "{html}");
        assert!(field(&html, "items").contains("At /0/qty:") || field(&html, "items").contains("Item 1:"), "{html}");
        assert!(field(&html, "total").contains("field-error"), "{html}");
        assert!(!html.contains("form-problems"), "{html}");
        assert!(field(&html, "items").contains("&quot;qty&quot;: 0"), "the JSON is shown again: {html}");
    }
}
